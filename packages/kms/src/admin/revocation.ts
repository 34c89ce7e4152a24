/**
 * Client certificate revocation: `revoked.json` in the data dir is the deny list (the source of
 * truth, read by `ward kms serve` at start and watched while it runs). `ward kms client revoke`
 * adds to it, appends an audit line and waits until the running server confirms (in
 * server.json) that it applied the new version: from then on a handshake with a revoked
 * certificate is refused and its open connections are closed.
 */
import { randomUUID } from 'node:crypto'
import { closeSync, constants, existsSync, openSync, readFileSync, rmSync } from 'node:fs'
import { userInfo } from 'node:os'
import { writeFileAtomic } from '@ward/core'
import { KmsError } from '../errors.js'
import { normalizeSerial } from '../pki/pki.js'
import { openAudit } from '../server/audit.js'
import { dataPaths, openDataDir, runningServerState } from './data-dir.js'
import { readClients } from './init.js'
import type { IssuedClient } from './init.js'

/** The revoked.json format (version 1 of the format, `version` counts its changes). */
export interface RevocationFile {
  /** Incremented by every change; the server reports the version it applied. */
  readonly version: number
  /** Revoked serials (normalizeSerial form) → the client name, when known, and the time. */
  readonly serials: Readonly<Record<string, { readonly name?: string; readonly revokedAt: string }>>
  /**
   * Names whose certificates were issued before serials were recorded: every certificate with
   * that subject CN whose notBefore is at or before `notBeforeUpTo` is revoked (`client add`
   * backdates notBefore by one hour, so this cutoff is the last such issue time minus 1 h).
   */
  readonly names: Readonly<
    Record<string, { readonly notBeforeUpTo: string; readonly revokedAt: string }>
  >
}

const empty: RevocationFile = { version: 0, serials: {}, names: {} }

/** Reads revoked.json (none: the empty list). A file that is not a deny list is an error. */
export function readRevocations(path: string): RevocationFile {
  if (!existsSync(path)) return empty
  let r: unknown
  try {
    r = JSON.parse(readFileSync(path, 'utf8'))
  } catch (e) {
    throw badFile(path, (e as Error).message)
  }
  const f = r as Partial<RevocationFile> | null
  if (
    f === null ||
    typeof f !== 'object' ||
    !Number.isSafeInteger(f.version) ||
    typeof f.serials !== 'object' ||
    f.serials === null ||
    typeof f.names !== 'object' ||
    f.names === null
  )
    throw badFile(path, 'not a deny list')
  for (const s of Object.keys(f.serials))
    if (normalizeSerial(s) !== s) throw badFile(path, `bad serial ${JSON.stringify(s)}`)
  for (const n of Object.values(f.names))
    if (Number.isNaN(Date.parse(n?.notBeforeUpTo))) throw badFile(path, 'bad notBeforeUpTo')
  return f as RevocationFile
}

const badFile = (path: string, why: string): KmsError =>
  new KmsError(
    'ERR_KMS_REVOCATIONS',
    `${path} is not a readable deny list (${why}); restore it from a backup (it was written by ward kms client revoke)`,
  )

/** The checks the server runs on each client certificate. */
export interface Revocations {
  readonly version: number
  /** `serial` as Node reports it (getPeerCertificate().serialNumber), `notBefore` its valid_from. */
  denies(serial: string | undefined, cn: string, notBefore: string | undefined): boolean
}

export function compileRevocations(f: RevocationFile): Revocations {
  const serials = new Set(Object.keys(f.serials))
  const names = new Map(Object.entries(f.names).map(([n, e]) => [n, Date.parse(e.notBeforeUpTo)]))
  return {
    version: f.version,
    denies(serial, cn, notBefore) {
      if (serials.size > 0 && serial !== undefined) {
        const s = normalizeSerial(serial)
        if (s !== undefined && serials.has(s)) return true
      }
      const upTo = names.size > 0 ? names.get(cn) : undefined
      if (upTo === undefined) return false
      const nb = notBefore === undefined ? NaN : Date.parse(notBefore)
      // A certificate whose date cannot be read is refused (fail closed).
      return Number.isNaN(nb) || nb <= upTo
    },
  }
}

export interface RevokeResult {
  /** The client name, when the argument named one or a recorded serial. */
  readonly name: string | undefined
  /** Serials revoked by this call (and before it, when already revoked). */
  readonly serials: readonly string[]
  /** Certificates of the name issued before serials were recorded, revoked by date. */
  readonly legacyCertificates: number
  /** False when a serial was given that `client add` never recorded (revoked all the same). */
  readonly known: boolean
  readonly alreadyRevoked: boolean
  /** revoked.json's version after the call. */
  readonly version: number
  /** The running server, if any, and whether it confirmed that it applied `version`. */
  readonly server: { readonly pid: number; readonly applied: boolean } | null
}

/** Who runs an admin command, for the audit line (the local account; no secrets). */
function localActor(): string {
  let who: string
  try {
    const u = userInfo()
    who = `${u.username} (uid ${u.uid})`
  } catch {
    who = `uid ${process.getuid?.() ?? 'unknown'}`
  }
  const sudo = process.env['SUDO_USER']
  return `local:${who}${sudo !== undefined && sudo !== '' ? ` via sudo from ${sudo}` : ''}`
}

/**
 * Revokes the certificate(s) of client NAME, or the certificate with serial SERIAL. Unknown
 * names are ERR_KMS_UNKNOWN_CLIENT; a serial `client add` never recorded (a certificate issued
 * before serials were kept) is revoked if it looks like one (16+ hex digits), `known: false`.
 * Waits up to `waitMs` for a running server to confirm it applied the change.
 */
export async function revokeClient(
  dataDir: string,
  nameOrSerial: string,
  opts: { readonly waitMs?: number } = {},
): Promise<RevokeResult> {
  // The data dir's rules (owner only, initialized) hold for revoke as for every command.
  const p = openDataDir(dataDir)
  const started = performance.now()
  const actor = localActor()
  const audit = openAudit(p.audit, undefined)
  const record = (
    status: 'success' | 'failed',
    reason: string | undefined,
    client: string,
    serial?: string,
  ): void =>
    audit.record({
      identity: actor,
      operation: 'client-revoke',
      status,
      reason,
      requestId: randomUUID(),
      durationMs: performance.now() - started,
      client,
      serial,
    })
  try {
    const clients = readClients(dataDir)
    const target = resolveTarget(clients, nameOrSerial)
    if (target === undefined) {
      record('failed', 'UnknownClient', nameOrSerial)
      throw new KmsError(
        'ERR_KMS_UNKNOWN_CLIENT',
        `no client named ${JSON.stringify(nameOrSerial)} and no certificate serial like it in ${p.clients}; list them with: ward kms client list --data-dir ${dataDir}`,
      )
    }
    // Read, change and write under the lock: a concurrent revoke is refused, never lost.
    const { version, changed } = withLock(p.revoked, () => {
      const cur = readRevocations(p.revoked)
      const now = new Date().toISOString()
      const serials = { ...cur.serials }
      const names = { ...cur.names }
      let changed = false
      for (const s of target.serials)
        if (serials[s] === undefined) {
          serials[s] =
            target.name !== undefined ? { name: target.name, revokedAt: now } : { revokedAt: now }
          changed = true
        }
      if (target.legacyUpTo !== undefined && target.name !== undefined) {
        const prev = names[target.name]
        if (prev === undefined || Date.parse(prev.notBeforeUpTo) < Date.parse(target.legacyUpTo)) {
          names[target.name] = { notBeforeUpTo: target.legacyUpTo, revokedAt: now }
          changed = true
        }
      }
      const version = changed ? cur.version + 1 : cur.version
      // Atomic and synced (a crash leaves the old list or the new), 0600, never through a link.
      if (changed)
        writeFileAtomic(p.revoked, `${JSON.stringify({ version, serials, names }, null, 2)}\n`)
      return { version, changed }
    })
    const label = target.name ?? nameOrSerial
    const reason = changed ? undefined : 'AlreadyRevoked'
    if (target.serials.length === 0) record('success', reason, label)
    for (const s of target.serials) record('success', reason, label, s)
    audit.flush()
    const server = await waitForServer(p.runtime, version, opts.waitMs ?? 5000)
    return {
      name: target.name,
      serials: target.serials,
      legacyCertificates: target.legacy,
      known: target.known,
      alreadyRevoked: !changed,
      version,
      server,
    }
  } finally {
    await audit.close()
  }
}

interface Target {
  readonly name: string | undefined
  readonly serials: string[]
  readonly legacy: number
  readonly legacyUpTo: string | undefined
  readonly known: boolean
}

function resolveTarget(clients: readonly IssuedClient[], arg: string): Target | undefined {
  const byName = clients.filter((c) => c.name === arg)
  if (byName.length > 0) {
    const legacy = byName.filter((c) => c.serial === undefined)
    const last = legacy.reduce((m, c) => Math.max(m, Date.parse(c.issuedAt)), -Infinity)
    return {
      name: arg,
      serials: [...new Set(byName.flatMap((c) => (c.serial !== undefined ? [c.serial] : [])))],
      legacy: legacy.length,
      // notBefore = issue time - 1 h (pki.ts), issue time <= issuedAt, and X.509 keeps whole
      // seconds: floor(issuedAt - 1 h) covers every such certificate, and none issued later
      // than the second after.
      legacyUpTo:
        legacy.length > 0
          ? new Date(Math.floor((last - 3600_000) / 1000) * 1000).toISOString()
          : undefined,
      known: true,
    }
  }
  const s = normalizeSerial(arg)
  if (s === undefined) return undefined
  const bySerial = clients.find((c) => c.serial === s)
  if (bySerial !== undefined)
    return { name: bySerial.name, serials: [s], legacy: 0, legacyUpTo: undefined, known: true }
  if (s.length < 16) return undefined
  return { name: undefined, serials: [s], legacy: 0, legacyUpTo: undefined, known: false }
}

/**
 * Runs `fn` holding `PATH.lock` (created exclusively, removed after): two `client revoke` at
 * once would otherwise both read the old list and one revocation would be lost.
 */
function withLock<T>(path: string, fn: () => T): T {
  const lock = `${path}.lock`
  let fd: number
  try {
    fd = openSync(
      lock,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    )
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST')
      throw new KmsError(
        'ERR_KMS_BUSY',
        `another ward kms client revoke is changing ${path}; retry (if none runs, remove ${lock})`,
      )
    throw e
  }
  try {
    closeSync(fd)
    return fn()
  } finally {
    rmSync(lock, { force: true })
  }
}

/** Polls server.json until the live server reports `version` applied, or `waitMs` passes. */
async function waitForServer(
  runtime: string,
  version: number,
  waitMs: number,
): Promise<{ pid: number; applied: boolean } | null> {
  const deadline = Date.now() + waitMs
  for (;;) {
    const s = runningServerState(runtime)
    if (s === undefined) return null
    if ((s.revocations ?? 0) >= version) return { pid: s.pid, applied: true }
    if (Date.now() >= deadline) return { pid: s.pid, applied: false }
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** One row of `ward kms client list`. */
export interface ClientRow extends IssuedClient {
  /** When it was revoked (by serial, or by name for certificates without a recorded serial). */
  readonly revokedAt?: string
}

/** Every issued client certificate, with its revocation time if revoked. */
export function listClients(dataDir: string): ClientRow[] {
  const p = dataPaths(dataDir)
  const f = readRevocations(p.revoked)
  return readClients(dataDir).map((c) => {
    const bySerial = c.serial !== undefined ? f.serials[c.serial] : undefined
    const byName = c.serial === undefined ? f.names[c.name] : undefined
    const legacyRevoked =
      byName !== undefined &&
      Math.floor((Date.parse(c.issuedAt) - 3600_000) / 1000) * 1000 <=
        Date.parse(byName.notBeforeUpTo)
    const revokedAt = bySerial?.revokedAt ?? (legacyRevoked ? byName.revokedAt : undefined)
    return revokedAt !== undefined ? { ...c, revokedAt } : { ...c }
  })
}
