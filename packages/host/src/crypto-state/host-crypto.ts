import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readdirSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import type { Logger } from '@ward/core'
import { HostError } from '../errors.js'
import type { ArchiveContents } from '../config/archive.js'
import { checkId, type KeyCache, type KeyRef } from '../keys/key-cache.js'
import type { VmManager } from '../vm/manager.js'
import { dumpGuestMemory } from '../vm/dump.js'
import { finishRewraps, readCoreDumpHeader, rewrapCoreDump } from './coredump-file.js'
import { exportHostKey } from './key-export.js'
import { requireSafe, transition, type HostCryptoState } from './states.js'

/** The host's dump folder (0700) under its data folder; dumps in it are rewrapped by change-key. */
export const DUMP_DIR = 'dumps'
/** The extension of the core dumps the agent writes. */
export const COREDUMP_EXT = '.coredump'

/** CryptoManagerHostKeyStatus, and the host's crypto state (`ward host crypto status`). */
export interface HostCryptoStatus {
  readonly state: HostCryptoState
  readonly hostKey?: {
    readonly providerId: string
    readonly keyId: string
    /** In the key cache now (vSphere's `present`). */
    readonly present: boolean
  }
  readonly dumpFolder: string
}

/** What change-key did to each dump of the dump folder (best effort). */
export interface RewrapReport {
  readonly rewrapped: string[]
  readonly alreadyUnderNewKey: string[]
  readonly notRewrapped: { readonly file: string; readonly reason: string }[]
}

export interface HostCryptoOptions {
  readonly dataDir: string
  readonly cache: KeyCache
  readonly log: Logger
  /** The sealed configuration's contents now. */
  contents(): ArchiveContents
  /** Save new contents (a new generation of the sealed configuration in mode TPM). */
  save(contents: ArchiveContents): Promise<void>
  readonly vms: () => VmManager
}

const stateOf = (c: ArchiveContents): HostCryptoState => c.crypto?.state ?? 'incapable'

/**
 * Host encryption mode (vsphere-features.md §7) and the host key: state transitions persisted in
 * the sealed configuration, the host key as a reference to a key of the key cache (it persists
 * like every cached key when key persistence is on), core dumps sealed with it, change-key's
 * shallow rewrap of the dump folder, and the password-protected export of the key.
 */
export class HostCrypto {
  readonly #o: HostCryptoOptions

  constructor(o: HostCryptoOptions) {
    this.#o = o
  }

  get state(): HostCryptoState {
    return stateOf(this.#o.contents())
  }

  /** The dump folder (0700), made on first use. */
  dumpFolder(): string {
    const d = join(this.#o.dataDir, DUMP_DIR)
    mkdirSync(d, { recursive: true, mode: 0o700 })
    chmodSync(d, 0o700)
    return d
  }

  /** Whether `ref` is this host's host key (kept in the cache when a VM that shares it leaves). */
  isHostKey(ref: KeyRef): boolean {
    const hk = this.#o.contents().crypto?.hostKey
    return hk !== undefined && hk.providerId === ref.providerId && hk.kekId === ref.kekId
  }

  status(): HostCryptoStatus {
    const c = this.#o.contents().crypto
    const hk = c?.hostKey
    return {
      state: c?.state ?? 'incapable',
      ...(hk
        ? {
            hostKey: {
              providerId: hk.providerId,
              keyId: hk.kekId,
              present: this.#o.cache.has(hk.providerId, hk.kekId),
            },
          }
        : {}),
      dumpFolder: join(this.#o.dataDir, DUMP_DIR),
    }
  }

  async #set(state: HostCryptoState, hostKey: KeyRef | undefined): Promise<void> {
    const c = this.#o.contents()
    await this.#o.save({
      ...c,
      crypto: {
        state,
        ...(hostKey ? { hostKey: { providerId: hostKey.providerId, kekId: hostKey.kekId } } : {}),
      },
    })
    this.#o.log.info(
      { op: 'crypto', state, hostKeyId: hostKey?.kekId, providerId: hostKey?.providerId },
      'host crypto state set',
    )
  }

  /** CryptoManagerHostPrepare: incapable → prepared. */
  async prepare(): Promise<HostCryptoStatus> {
    const from = this.state
    const to = transition('prepare', from)
    if (from !== to) await this.#set(to, undefined)
    return this.status()
  }

  /** A 32-byte key of the cache, by its ids (a host key wraps dump keys with AES-256 KWP). */
  #checkHostKey(ref: KeyRef): KeyRef {
    const r = {
      providerId: checkId('provider id', ref.providerId),
      kekId: checkId('key id', ref.kekId),
    }
    if (!this.#o.cache.has(r.providerId, r.kekId))
      throw new HostError(
        'ERR_HOST_KEY_NOT_FOUND',
        `the host key (${r.providerId}, ${r.kekId}) is not in the key cache: add it with ward crypto-util keys add --provider-id ${r.providerId} --kek-id ${r.kekId} --kek-file F, then run this again`,
        { ...r },
      )
    const len = this.#o.cache.use(r.providerId, r.kekId, (k) => k.length)
    if (len !== 32)
      throw new HostError(
        'ERR_HOST_BAD_ARGUMENT',
        `the host key must be a 32-byte AES-256 key (${r.kekId} is ${len} bytes)`,
      )
    return r
  }

  /** CryptoManagerHostEnable / ConfigureCryptoKey: prepared → safe, with a host key of the cache. */
  async enable(ref: KeyRef): Promise<HostCryptoStatus> {
    const to = transition('enable', this.state)
    await this.#set(to, this.#checkHostKey(ref))
    return this.status()
  }

  /**
   * ChangeKey_Task: a new host key (in the cache). Every dump of the dump folder is then
   * rewrapped under it, best effort: the header only (the dump key rewrapped), never the data;
   * a dump whose key is not in the cache, or damaged, stays as it is and is named in the report.
   */
  async changeKey(ref: KeyRef): Promise<HostCryptoStatus & RewrapReport> {
    transition('changeKey', this.state)
    const next = this.#checkHostKey(ref)
    const cur = this.#o.contents().crypto?.hostKey
    if (!cur || cur.providerId !== next.providerId || cur.kekId !== next.kekId)
      await this.#set('safe', next)
    const report = this.#rewrapDumps(next)
    this.#o.log.info(
      {
        op: 'crypto.key.change',
        hostKeyId: next.kekId,
        rewrapped: report.rewrapped.length,
        notRewrapped: report.notRewrapped.length,
      },
      'host key changed',
    )
    return { ...this.status(), ...report }
  }

  #rewrapDumps(next: KeyRef): RewrapReport {
    const folder = this.dumpFolder()
    const rewrapped: string[] = finishRewraps(folder)
    const already: string[] = []
    const not: { file: string; reason: string }[] = []
    for (const f of readdirSync(folder).sort()) {
      if (!f.endsWith(COREDUMP_EXT)) continue
      const path = join(folder, f)
      try {
        const h = readCoreDumpHeader(path)
        if (h.hostProviderId === next.providerId && h.hostKeyId === next.kekId) {
          if (!rewrapped.includes(path)) already.push(path)
          continue
        }
        if (!this.#o.cache.has(h.hostProviderId, h.hostKeyId)) {
          not.push({
            file: path,
            reason: `its host key (${h.hostProviderId}, ${h.hostKeyId}) is not in the key cache: add it and run change-key again`,
          })
          continue
        }
        this.#o.cache.use(h.hostProviderId, h.hostKeyId, (old) =>
          this.#o.cache.use(next.providerId, next.kekId, (nk) =>
            rewrapCoreDump(path, old, nk, next),
          ),
        )
        rewrapped.push(path)
      } catch (e) {
        not.push({
          file: path,
          reason: e instanceof HostError ? `${e.code}: ${e.message}` : 'unreadable',
        })
      }
    }
    return { rewrapped, alreadyUnderNewKey: already, notRewrapped: not }
  }

  /** CryptoManagerHostDisable: → pendingIncapable; the next boot makes the host incapable. */
  async disable(): Promise<HostCryptoStatus & { rebootRequired: true }> {
    const to = transition('disable', this.state)
    await this.#set(to, this.#o.contents().crypto?.hostKey)
    return { ...this.status(), rebootRequired: true }
  }

  /** Refuse new encrypted VM work on a host whose encryption mode is being disabled. */
  refusePending(what: string): void {
    if (this.state === 'pendingIncapable')
      throw new HostError(
        'ERR_HOST_CRYPTO_STATE',
        `${what}: host encryption mode was disabled (crypto state pendingIncapable), so no new encrypted VM work is accepted; restart ward host serve (the host becomes incapable), then ward host crypto prepare and enable`,
        { state: 'pendingIncapable' },
      )
  }

  /** The host key sealed under `password` (argon2id + AES-256-GCM). */
  async exportKey(password: Uint8Array): Promise<KeyRef & { exported: Buffer }> {
    const hk = this.#o.contents().crypto?.hostKey
    if (!hk || this.state === 'incapable' || this.state === 'prepared')
      throw new HostError(
        'ERR_HOST_CRYPTO_STATE',
        `export-key: this host has no host key (crypto state ${this.state}); enable host encryption mode: ward host crypto enable --provider-id P --key-id K`,
        { state: this.state },
      )
    const key = this.#o.cache.use(hk.providerId, hk.kekId, (k) => new Uint8Array(k))
    try {
      const exported = await exportHostKey(key, hk, password)
      this.#o.log.info({ op: 'crypto.key.export', hostKeyId: hk.kekId }, 'host key exported')
      return { ...hk, exported }
    } finally {
      key.fill(0)
    }
  }

  /**
   * `vm dump-memory`: the running guest's memory as an encrypted core dump under the host key,
   * in the dump folder (or at `out`, which must not exist). Refused unless the host is safe.
   */
  async dumpMemory(
    name: string,
    out: string | undefined,
  ): Promise<{
    vm: string
    file: string
    hostProviderId: string
    hostKeyId: string
    plaintextBytes: number
    fileBytes: number
  }> {
    requireSafe(this.state, `dump-memory ${name}`)
    const hk = this.#o.contents().crypto!.hostKey!
    if (!this.#o.cache.has(hk.providerId, hk.kekId))
      throw new HostError(
        'ERR_HOST_KEY_NOT_FOUND',
        `dump-memory ${name}: the host key (${hk.providerId}, ${hk.kekId}) is not in the key cache: add it with ward crypto-util keys add (or enable key persistence so it survives reboots)`,
        { providerId: hk.providerId, kekId: hk.kekId },
      )
    const guest = this.#o.vms().runningGuest(name)
    if (out !== undefined && !isAbsolute(out))
      throw new HostError('ERR_HOST_BAD_ARGUMENT', 'dump-memory: the output path must be absolute')
    if (out !== undefined && existsSync(out))
      throw new HostError(
        'ERR_HOST_BAD_ARGUMENT',
        `dump-memory: ${out} exists (dumps are never overwritten): choose another --out`,
      )
    const stamp = new Date()
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z')
    const file =
      out ??
      join(
        this.dumpFolder(),
        `${guest.name}-${stamp}-${randomBytes(3).toString('hex')}${COREDUMP_EXT}`,
      )
    // the host key is copied for the dump's duration (the cache may evict it meanwhile)
    const key = this.#o.cache.use(hk.providerId, hk.kekId, (k) => new Uint8Array(k))
    try {
      const r = await dumpGuestMemory({ guest, out: file, hostKey: key, hostKeyRef: hk })
      this.#o.log.info(
        {
          op: 'vm.dump.memory',
          vm: guest.name,
          id: guest.id,
          hostKeyId: hk.kekId,
          bytes: r.plaintextBytes,
        },
        'guest memory dumped (encrypted with the host key)',
      )
      return {
        vm: guest.name,
        file,
        hostProviderId: hk.providerId,
        hostKeyId: hk.kekId,
        ...r,
      }
    } finally {
      key.fill(0)
    }
  }
}

/**
 * At boot: a host left pendingIncapable by `disable` becomes incapable (the host key reference
 * is dropped; the key itself stays in the cache like any other key until it is removed).
 */
export async function finishCryptoDisable(
  contents: ArchiveContents,
  save: (c: ArchiveContents) => Promise<void>,
  log: Logger,
): Promise<void> {
  if (stateOf(contents) !== 'pendingIncapable') return
  await save({ ...contents, crypto: { state: transition('boot', 'pendingIncapable') } })
  log.info({ state: 'incapable' }, 'host encryption mode disabled (pendingIncapable → incapable)')
}
