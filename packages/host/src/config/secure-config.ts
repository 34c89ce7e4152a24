import { randomBytes, randomUUID, generateKeyPairSync } from 'node:crypto'
import { unlinkSync, renameSync } from 'node:fs'
import { join } from 'node:path'
import { Secret, readSecretFile, type Logger } from '@ward/core'
import { wrapKw, unwrapKw } from '@ward/envelope'
import { HostError, BootMessages, PolicyUnsatisfiableMessage } from '../errors.js'
import { readFileBounded, writeFileAtomic, fsyncDir } from '../util/files.js'
import {
  openArchive,
  sealArchive,
  MAX_ARCHIVE,
  type ArchiveContents,
  type SecretName,
} from './archive.js'
import {
  formatEncryptionInfo,
  generationOf,
  kdfArchiveKey,
  parseEncryptionInfo,
  verifyEncryptionInfo,
  MAX_INFO,
  type EncryptionInfo,
  type EncryptionInfoBody,
  type EncryptionMode,
} from './encryption-info.js'
import {
  generateRecoveryId,
  generateRecoveryKey,
  recoveryWrappingKey,
  RECOVERY_SCRYPT,
} from './recovery-key.js'
import {
  checkRecoveryAllowed,
  recordRecoveryFailure,
  resetRecoveryAttempts,
} from './recovery-attempts.js'
import { PCR, type BootState } from '../measure/measurements.js'
import { policyPcrDigest } from '@ward/tpm2'
import { isTpmRefusal, WARD_NV, type HostTpm, type SealedKey } from '../tpm/host-tpm.js'

export const ARCHIVE_FILE = 'config.archive'
export const INFO_FILE = 'encryption.info'
/** The next generation's files, written before the TPM counter moves (see `SecureConfig.#commit`). */
export const INFO_NEXT = 'encryption.info.next'
export const ARCHIVE_NEXT = 'config.archive.next'

const hex8 = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`

/** The encryption settings as `ward host settings encryption get` shows them. */
export interface EncryptionSettings {
  readonly mode: EncryptionMode
  readonly requireSecureBoot: boolean
  readonly requireExecInstalledOnly: boolean
}

/** How the configuration was unlocked at boot. */
export type UnlockPath = 'kdf' | 'tpm' | 'recovery-key'

/** The steps of a configuration change, in order (crash tests stop a change after any of them). */
export type CommitStep = 'next-written' | 'counter-incremented' | 'archive-renamed' | 'info-renamed'

export interface UnlockOptions {
  readonly dataDir: string
  readonly tpm: HostTpm | undefined
  readonly boot: BootState
  readonly recoveryKeyFile: string | undefined
  readonly log: Logger
  /** Called after each step of every configuration change (tests: a throw here is a crash). */
  readonly onCommitStep?: ((step: CommitStep) => void) | undefined
}

/** What a configuration change replaces (everything else is kept). */
export interface ConfigChange {
  readonly settings?: EncryptionSettings
  readonly contents?: ArchiveContents
  /** secrets to add or replace (the config takes ownership) or, with null, remove */
  readonly secrets?: Partial<Record<SecretName, Secret | null>>
  /** after the next generation's files are written, before it becomes current (e.g. keystore.journal.next) */
  readonly beforeCommit?: () => void
}

/** The PCRs the TPM policy covers for these settings (Ward's version always; the rest as required). */
export function policyPcrs(s: {
  requireSecureBoot: boolean
  requireExecInstalledOnly: boolean
}): number[] {
  const pcrs: number[] = [PCR.wardVersion]
  if (s.requireSecureBoot) pcrs.push(PCR.secureBoot)
  if (s.requireExecInstalledOnly) pcrs.push(PCR.execInstalledOnly)
  return pcrs.sort((a, b) => a - b)
}

/** Create a host's data: identity key inside a fresh archive, mode NONE (KDF inputs in encryption.info). */
export function createSecureConfig(dataDir: string): { hostId: string; publicKeySpki: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const contents: ArchiveContents = {
    version: 2,
    hostId: randomUUID(),
    identity: {
      algorithm: 'ECDSA-P256',
      publicKeySpki: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
    },
    keyPersistence: { enabled: false },
  }
  const kdf = {
    alg: 'HKDF-SHA256',
    salt: randomBytes(32).toString('base64'),
    ikm: randomBytes(32).toString('base64'),
  } as const
  const body: EncryptionInfoBody = {
    format: 'ward-encryption-info',
    version: 2,
    mode: 'NONE',
    requireSecureBoot: false,
    requireExecInstalledOnly: false,
    kdf,
  }
  const key = kdfArchiveKey(kdf)
  const identity = Secret.take(privateKey.export({ type: 'pkcs8', format: 'der' }))
  const secrets = new Map<SecretName, Secret>([['identity.pkcs8', identity]])
  writeFileAtomic(join(dataDir, ARCHIVE_FILE), sealArchive(key, { contents, secrets }))
  writeFileAtomic(join(dataDir, INFO_FILE), formatEncryptionInfo(body, key))
  key.dispose()
  identity.dispose()
  return { hostId: contents.hostId, publicKeySpki: contents.identity.publicKeySpki }
}

function rollbackError(file: string, g: bigint, c: bigint): HostError {
  return new HostError(
    'ERR_HOST_CONFIG_ROLLBACK',
    `${file} is configuration generation ${g}, older than the TPM's configuration counter (NV index ${hex8(WARD_NV.config)}) at ${c}: an earlier copy was put back, which would bring back an earlier policy and keys, so the host does not boot from it (nothing was changed). Put the current files back, or a backup taken after the last configuration change; without one, re-initialise the host (ward host init) and let its providers push the keys again.`,
    { file, generation: g.toString(), counter: c.toString() },
  )
}

function decryptError(reason: string): HostError {
  return new HostError('ERR_HOST_CONFIG_DECRYPT', BootMessages.decryptFailed, { reason })
}

/** One way to open the configuration, chosen before anything is decrypted. */
interface Candidate {
  readonly info: EncryptionInfo
  readonly infoFile: string
  readonly archive: Buffer
  /** the next generation's files, to rename into place once they opened */
  readonly pending: boolean
  /** anchored in another TPM (or before a TPM clear): only the recovery key can open it */
  readonly foreign: boolean
}

/**
 * The unlocked secure configuration of a running host: the archive key (a `Secret`), the
 * authenticated encryption.info and the archive contents.
 *
 * Anti-rollback (mode TPM): every change is a new generation with a fresh archive key. Its number
 * is the next value of a TPM NV counter (`WARD_NV.config`) and the new key is sealed to
 * PolicyPCR + PolicyNV(counter == generation), so once the counter moved, no earlier
 * encryption.info unseals in this TPM, and the boot refuses any file whose generation is not the
 * counter's. A change writes `config.archive.next` and `encryption.info.next`, increments the
 * counter, then renames them into place: a boot after a crash at any point finds either the .next
 * files one generation ahead of the counter (discarded) or at the counter (renamed into place).
 */
export class SecureConfig {
  readonly dataDir: string
  #key: Secret
  #info: EncryptionInfoBody
  #contents: ArchiveContents
  readonly #secrets: Map<SecretName, Secret>
  readonly unlockedWith: UnlockPath
  /**
   * The configuration was anchored in another TPM (or before a TPM clear) and opened with the
   * recovery key: the key-store journal's checkpoints refer to that TPM's counter.
   */
  readonly fromAnotherTpm: boolean
  readonly #tpm: HostTpm | undefined
  readonly #boot: BootState
  readonly #log: Logger
  readonly #onStep: ((step: CommitStep) => void) | undefined

  private constructor(
    o: UnlockOptions,
    key: Secret,
    info: EncryptionInfoBody,
    archive: { contents: ArchiveContents; secrets: ReadonlyMap<SecretName, Secret> },
    how: UnlockPath,
    fromAnotherTpm: boolean,
  ) {
    this.dataDir = o.dataDir
    this.#key = key
    this.#info = info
    this.#contents = archive.contents
    this.#secrets = new Map(archive.secrets)
    this.unlockedWith = how
    this.fromAnotherTpm = fromAnotherTpm
    this.#tpm = o.tpm
    this.#boot = o.boot
    this.#log = o.log
    this.#onStep = o.onCommitStep
  }

  get contents(): ArchiveContents {
    return this.#contents
  }

  /** Borrow a secret kept in the archive (do not dispose it; copy what must outlive the call). */
  secret(name: SecretName): Secret | undefined {
    return this.#secrets.get(name)
  }

  get settings(): EncryptionSettings {
    const { mode, requireSecureBoot, requireExecInstalledOnly } = this.#info
    return { mode, requireSecureBoot, requireExecInstalledOnly }
  }

  /** Mode TPM: the current generation (the TPM counter's value). */
  get generation(): bigint | undefined {
    return generationOf(this.#info)
  }

  get recoveryId(): string | undefined {
    return this.#info.recovery?.id
  }

  /**
   * Unlock at boot. Refusals carry the seed's messages: TPM policy failure → security violation;
   * tampered archive or encryption.info → "Failed to decrypt system configuration."; a wrong
   * recovery key → "Unable to recover the system configuration." (and the attempt is counted); an
   * older generation than the TPM counter → ERR_HOST_CONFIG_ROLLBACK. Nothing is written unless
   * the configuration authenticated.
   */
  static async unlock(o: UnlockOptions): Promise<SecureConfig> {
    const d = o.dataDir
    const archive = readFileBounded(join(d, ARCHIVE_FILE), MAX_ARCHIVE)
    const infoBytes = readFileBounded(join(d, INFO_FILE), MAX_INFO)
    if (!archive || !infoBytes) throw decryptError('missing file')
    const nextBytes = readFileBounded(join(d, INFO_NEXT), MAX_INFO)
    const archiveNext = readFileBounded(join(d, ARCHIVE_NEXT), MAX_ARCHIVE)
    const tpm = o.tpm
    const anchor = tpm ? await tpm.counter(WARD_NV.config) : undefined
    const counter = anchor?.kind === 'value' ? anchor.value : undefined
    let srk: Buffer | undefined
    /** Is `body` anchored in this TPM (the same storage key, i.e. the same owner seed)? */
    const sameTpm = async (body: EncryptionInfoBody): Promise<boolean> => {
      srk ??= await tpm!.srkName()
      return srk.toString('hex') === body.tpm!.srkName
    }
    /** Files of an unfinished change to remove once the configuration opened. */
    const stale: string[] = []
    let chosen: Candidate | undefined

    if (nextBytes) {
      const next = parseEncryptionInfo(nextBytes, INFO_NEXT)
      const g = generationOf(next.body)
      if (g === undefined || !tpm) throw decryptError(`${INFO_NEXT} is not a mode-TPM file`)
      if (counter !== undefined && g === counter)
        // the change was committed (the counter moved) but not renamed into place
        chosen = {
          info: next,
          infoFile: INFO_NEXT,
          archive: archiveNext ?? archive,
          pending: true,
          foreign: false,
        }
      else if (counter !== undefined && g === counter + 1n) stale.push(INFO_NEXT, ARCHIVE_NEXT)
      else if (!(await sameTpm(next.body)))
        // Anchored in another TPM: whether it was committed there cannot be told here. It is the
        // newer file, so only it is tried, and only the recovery key opens it; it is kept.
        chosen = {
          info: next,
          infoFile: INFO_NEXT,
          archive: archiveNext ?? archive,
          pending: true,
          foreign: true,
        }
      else if (counter !== undefined && g < counter) throw rollbackError(INFO_NEXT, g, counter)
      else
        throw new HostError(
          'ERR_HOST_CONFIG_COUNTER',
          `${INFO_NEXT} (generation ${g}) does not match the TPM's configuration counter (NV index ${hex8(WARD_NV.config)}, ${counter ?? 'missing'}): it is not a file Ward wrote for this TPM. Remove it if the data folder is otherwise intact.`,
          { generation: g.toString(), counter: String(counter ?? 'missing') },
        )
    } else if (archiveNext) stale.push(ARCHIVE_NEXT) // a change interrupted before its encryption.info.next

    if (!chosen) {
      const info = parseEncryptionInfo(infoBytes)
      const body = info.body
      let foreign = false
      if (body.mode === 'NONE') {
        // Once a host switched to mode TPM its TPM holds Ward's journal counter: mode NONE files
        // (host init's) put back are then refused. (Without a TPM, see docs/host.md.)
        if (tpm && (await tpm.counter(WARD_NV.journal)).kind !== 'absent')
          throw new HostError(
            'ERR_HOST_CONFIG_ROLLBACK',
            `encryption.info is mode NONE, but this TPM holds Ward's journal counter (NV index ${hex8(WARD_NV.journal)}): the host was switched to mode TPM, which is irreversible, so these are earlier files (host init's) put back. The host does not boot from them (nothing was changed); put the current files back.`,
            { file: INFO_FILE, mode: 'NONE' },
          )
      } else {
        if (!tpm)
          throw new HostError(
            'ERR_HOST_NO_TPM',
            `the configuration is in mode TPM but ${join(d, 'host.json')} names no TPM: point it at the host's TPM (its counter proves which configuration is current)`,
          )
        const g = generationOf(body)!
        if (counter === undefined || g !== counter) {
          if (await sameTpm(body)) {
            if (counter === undefined)
              throw new HostError(
                'ERR_HOST_CONFIG_COUNTER',
                `the TPM's configuration counter (NV index ${hex8(WARD_NV.config)}) is missing although this TPM holds the storage key the configuration was sealed under: it was deleted with owner authorization, so no configuration can be proven current. Re-initialise the host (ward host init) and let its providers push the keys again.`,
                { counter: 'missing' },
              )
            if (g < counter) throw rollbackError(INFO_FILE, g, counter)
            throw new HostError(
              'ERR_HOST_CONFIG_COUNTER',
              `encryption.info is generation ${g}, ahead of the TPM's configuration counter (NV index ${hex8(WARD_NV.config)}) at ${counter}: it is not a file Ward wrote for this TPM. Put the current files back.`,
              { generation: g.toString(), counter: counter.toString() },
            )
          }
          // Anchored in another TPM (moved boot disk, new motherboard) or before a TPM clear.
          foreign = true
        }
      }
      chosen = { info, infoFile: INFO_FILE, archive, pending: false, foreign }
    }
    const cfg = await SecureConfig.#open(o, chosen, archiveNext)
    try {
      if (chosen.pending) {
        if (archiveNext) {
          renameSync(join(d, ARCHIVE_NEXT), join(d, ARCHIVE_FILE))
          fsyncDir(d)
        }
        renameSync(join(d, INFO_NEXT), join(d, INFO_FILE))
        fsyncDir(d)
        o.log.warn('finished a configuration change interrupted after it was committed')
      }
      for (const f of stale) {
        try {
          unlinkSync(join(d, f))
          o.log.warn({ file: f }, 'discarded a file of an interrupted configuration change')
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
        }
      }
      if (stale.length > 0) fsyncDir(d)
      await cfg.#afterUnlock()
    } catch (e) {
      cfg.dispose()
      throw e
    }
    return cfg
  }

  static async #open(
    o: UnlockOptions,
    c: Candidate,
    archiveNext: Buffer | undefined,
  ): Promise<SecureConfig> {
    const body = c.info.body
    let key: Secret
    let how: UnlockPath
    if (body.mode === 'NONE') {
      key = kdfArchiveKey(body.kdf!)
      how = 'kdf'
    } else {
      const t = body.tpm!
      let unsealed: Secret | undefined
      if (!c.foreign) {
        try {
          unsealed = await o.tpm!.unseal({
            publicBytes: Buffer.from(t.sealedPublic, 'base64'),
            privateBytes: Buffer.from(t.sealedPrivate, 'base64'),
            pcrs: t.pcrs,
            policyDigest: Buffer.from(t.policyDigest, 'hex'),
            counter: { index: t.nvIndex, value: generationOf(body)! },
          })
        } catch (e) {
          if (!isTpmRefusal(e)) throw e
          o.log.warn({ rc: e.rc }, 'the TPM refused to unseal the configuration key')
        }
      }
      if (unsealed) {
        key = unsealed
        how = 'tpm'
      } else if (o.recoveryKeyFile !== undefined) {
        key = recover(o.dataDir, o.recoveryKeyFile, body.recovery!)
        how = 'recovery-key'
      } else throw new HostError('ERR_HOST_SECURITY_VIOLATION', BootMessages.securityViolation)
    }
    if (!verifyEncryptionInfo(c.info, key)) {
      key.dispose()
      throw decryptError(`${c.infoFile} MAC`)
    }
    let contents: ReturnType<typeof openArchive>
    try {
      try {
        contents = openArchive(key, c.archive)
      } catch (e) {
        // Renames reordered by a crash: the next archive may be the one this file belongs to.
        if (!archiveNext || c.archive === archiveNext) throw e
        contents = openArchive(key, archiveNext)
        renameSync(join(o.dataDir, ARCHIVE_NEXT), join(o.dataDir, ARCHIVE_FILE))
        fsyncDir(o.dataDir)
      }
    } catch (e) {
      key.dispose()
      throw e instanceof HostError && e.code === 'ERR_HOST_CONFIG_DECRYPT'
        ? decryptError(`config.archive does not belong to ${c.infoFile} (older or damaged)`)
        : e
    }
    if (contents.contents.generation !== body.generation) {
      for (const s of contents.secrets.values()) s.dispose()
      key.dispose()
      throw decryptError('config.archive is from another generation')
    }
    if (how === 'recovery-key') resetRecoveryAttempts(o.dataDir)
    return new SecureConfig(o, key, body, contents, how, c.foreign)
  }

  /**
   * After an authenticated unlock with the recovery key: reseal to the current boot (a new
   * generation, anchored in this TPM) when it satisfies the policy, else keep the old sealing.
   */
  async #afterUnlock(): Promise<void> {
    if (this.unlockedWith !== 'recovery-key' || !this.#tpm) return
    if (satisfies(this.settings, this.#boot)) {
      await this.#commit({})
      this.#log.warn(
        'configuration recovered with the recovery key and resealed to this boot; rotate the recovery key now: ward host settings encryption recovery rotate',
      )
      return
    }
    // Anchored in another TPM: anchor it in this one (its counter), keeping the PCR policy.
    if (this.fromAnotherTpm)
      try {
        await this.#commit({})
      } catch (e) {
        if (!(e instanceof HostError)) throw e
        this.#log.warn(
          { code: e.code },
          'the recovered configuration could not be anchored in this TPM yet',
        )
      }
    this.#log.warn(
      'configuration recovered with the recovery key; this boot does not satisfy the sealing policy, so the recovery key will be needed again',
    )
  }

  /**
   * Replace the archive contents. `secrets` adds or replaces secrets (the config takes ownership)
   * or, with null, removes them; replaced and removed ones are zeroed after the write. Mode TPM:
   * a new generation (see `#commit`); mode NONE: the archive is rewritten atomically.
   */
  async save(
    contents: ArchiveContents,
    secrets: Partial<Record<SecretName, Secret | null>> = {},
    o: { beforeCommit?: () => void } = {},
  ): Promise<void> {
    if (this.#info.mode === 'TPM') return this.#commit({ contents, secrets, ...o })
    const next = this.#merge(secrets)
    writeFileAtomic(
      join(this.dataDir, ARCHIVE_FILE),
      sealArchive(this.#key, { contents, secrets: next }),
    )
    o.beforeCommit?.()
    this.#adopt(this.#key, this.#info, contents, next)
  }

  #merge(secrets: Partial<Record<SecretName, Secret | null>>): Map<SecretName, Secret> {
    const next = new Map(this.#secrets)
    for (const [name, s] of Object.entries(secrets) as [SecretName, Secret | null][])
      if (s === null) next.delete(name)
      else next.set(name, s)
    return next
  }

  /** Make a written generation the in-memory state; zero what it replaced. */
  #adopt(
    key: Secret,
    info: EncryptionInfoBody,
    contents: ArchiveContents,
    secrets: Map<SecretName, Secret>,
  ): void {
    for (const [name, s] of this.#secrets) if (secrets.get(name) !== s) s.dispose()
    this.#secrets.clear()
    for (const [name, s] of secrets) this.#secrets.set(name, s)
    if (key !== this.#key) this.#key.dispose()
    this.#key = key
    this.#info = info
    this.#contents = contents
  }

  /**
   * A configuration change in mode TPM: a new generation g = counter + 1 with a fresh archive key,
   * sealed to the policy of `settings` and to "counter == g", its recovery wrap, then
   * config.archive.next, encryption.info.next, `beforeCommit`; the counter is incremented (the
   * commit point) and the .next files are renamed into place.
   */
  async #commit(change: ConfigChange): Promise<void> {
    const tpm = this.#tpm
    if (!tpm) throw new HostError('ERR_HOST_NO_TPM', 'this host has no TPM')
    const settings = change.settings ?? this.settings
    const contents0 = change.contents ?? this.#contents
    const secrets = this.#merge(change.secrets ?? {})
    const recKey = secrets.get('recovery.key')
    const recId = contents0.recovery?.id
    if (!recKey || !recId)
      throw new HostError('ERR_HOST_INTERNAL', 'mode TPM needs a recovery key in the archive')
    // The PCR part of the policy: this boot's values when it satisfies the policy; else, for the
    // same PCR list, the last sealing's (made at a boot that did), so a recovery-key boot can
    // still rotate the recovery key while the next normal boot unseals.
    const pcrs = policyPcrs(settings)
    const cur = this.#info.tpm
    let pcrDigest: Uint8Array
    if (satisfies(settings, this.#boot)) pcrDigest = policyPcrDigest(pcrs, this.#boot.pcrValues)
    else if (cur && cur.pcrs.join(',') === pcrs.join(','))
      pcrDigest = Buffer.from(cur.pcrPolicyDigest, 'hex')
    else
      throw new HostError('ERR_HOST_POLICY_UNSATISFIABLE', PolicyUnsatisfiableMessage, {
        secureBoot: this.#boot.secureBoot,
        execInstalledOnly: this.#boot.execInstalledOnly,
        measurementsVerified: this.#boot.verified,
      })
    const d = this.dataDir
    for (let attempt = 0; ; attempt++) {
      const counter = await tpm.ensureCounter(WARD_NV.config)
      const gen = counter.value + 1n
      const key = new Secret(new Uint8Array(randomBytes(32)))
      let body: EncryptionInfoBody
      let contents: ArchiveContents
      try {
        const { sealed, srkName } = await tpm.seal(key, pcrs, pcrDigest, {
          index: WARD_NV.config,
          name: counter.name,
          value: gen,
        })
        body = {
          format: 'ward-encryption-info',
          version: 2,
          mode: 'TPM',
          generation: gen.toString(),
          requireSecureBoot: settings.requireSecureBoot,
          requireExecInstalledOnly: settings.requireExecInstalledOnly,
          tpm: sealedInfo(sealed, srkName, pcrDigest),
          recovery: wrapRecovery(key, recId, recKey),
        }
        contents = { ...contents0, version: 2, generation: gen.toString() }
        writeFileAtomic(join(d, ARCHIVE_NEXT), sealArchive(key, { contents, secrets }))
        writeFileAtomic(join(d, INFO_NEXT), formatEncryptionInfo(body, key))
        change.beforeCommit?.()
        this.#onStep?.('next-written')
      } catch (e) {
        key.dispose()
        throw e
      }
      const now = await tpm.increment(WARD_NV.config)
      if (now !== gen) {
        // Someone else moved the counter meanwhile (owner authorization): seal to its new value.
        key.dispose()
        this.#log.warn(
          { expected: gen.toString(), counter: now.toString() },
          'the configuration counter moved during a change; sealing again',
        )
        if (attempt < 2) continue
        throw new HostError(
          'ERR_HOST_TPM_COUNTER',
          `the TPM's configuration counter (NV index ${hex8(WARD_NV.config)}) keeps moving during a change: something else increments it`,
        )
      }
      this.#onStep?.('counter-incremented')
      renameSync(join(d, ARCHIVE_NEXT), join(d, ARCHIVE_FILE))
      fsyncDir(d)
      this.#onStep?.('archive-renamed')
      renameSync(join(d, INFO_NEXT), join(d, INFO_FILE))
      fsyncDir(d)
      this.#onStep?.('info-renamed')
      this.#adopt(key, body, contents, secrets)
      this.#log.info({ generation: gen.toString() }, 'configuration generation committed')
      return
    }
  }

  /**
   * `settings encryption set`: NONE → TPM (irreversible) or a new TPM policy. Refused when the
   * running boot cannot satisfy the requirement (the seed's message) or there is no TPM.
   */
  async setEncryption(req: {
    mode?: EncryptionMode
    requireSecureBoot?: boolean
    requireExecInstalledOnly?: boolean
  }): Promise<EncryptionSettings> {
    const cur = this.settings
    const mode = req.mode ?? cur.mode
    if (cur.mode === 'TPM' && mode === 'NONE')
      throw new HostError(
        'ERR_HOST_MODE_IRREVERSIBLE',
        'The encryption mode is TPM and cannot be changed back to NONE: switching to TPM is irreversible.',
      )
    if (mode === 'NONE') {
      if (req.requireSecureBoot === true || req.requireExecInstalledOnly === true)
        throw new HostError(
          'ERR_HOST_MODE_REQUIRED',
          'the sealing policy applies to mode TPM only: add --mode=TPM',
        )
      return cur
    }
    const tpm = this.#tpm
    if (!tpm)
      throw new HostError(
        'ERR_HOST_NO_TPM',
        'this host has no TPM, so the encryption mode cannot be TPM (ward host init --tpm ... selects the TPM)',
      )
    const next: EncryptionSettings = {
      mode: 'TPM',
      requireSecureBoot: req.requireSecureBoot ?? cur.requireSecureBoot,
      requireExecInstalledOnly: req.requireExecInstalledOnly ?? cur.requireExecInstalledOnly,
    }
    if (!satisfies(next, this.#boot))
      throw new HostError('ERR_HOST_POLICY_UNSATISFIABLE', PolicyUnsatisfiableMessage, {
        secureBoot: this.#boot.secureBoot,
        execInstalledOnly: this.#boot.execInstalledOnly,
        measurementsVerified: this.#boot.verified,
      })
    if (cur.mode === 'TPM') {
      await this.#commit({ settings: next })
      return this.settings
    }
    // NONE → TPM: the first generation, with a fresh archive key (the old one is derivable from
    // the old encryption.info) and a recovery key.
    const recoveryId = generateRecoveryId()
    await this.#commit({
      settings: next,
      contents: { ...this.#contents, recovery: { id: recoveryId } },
      secrets: { 'recovery.key': generateRecoveryKey() },
    })
    // Its presence marks this TPM's host as switched to mode TPM (mode NONE files are then refused).
    await tpm.ensureCounter(WARD_NV.journal)
    return this.settings
  }

  /** `recovery list`: mode TPM only (the seed keeps recovery keys for TPM hosts). */
  recovery(): { id: string; key: string } {
    const r = this.#contents.recovery
    const key = this.#secrets.get('recovery.key')
    if (this.#info.mode !== 'TPM' || !r || !key)
      throw new HostError(
        'ERR_HOST_MODE_REQUIRED',
        'recovery keys exist only in encryption mode TPM: run ward host settings encryption set --mode=TPM first',
      )
    // Shown to the admin to store off-host: the one place the key leaves as text.
    return { id: r.id, key: key.use((k) => Buffer.from(k).toString('latin1')) }
  }

  /**
   * `recovery rotate`: a new recovery key in a new generation (new archive key), so the old key,
   * even with an old encryption.info, opens nothing current. `rekeyStore` replaces the key-store
   * key in the same generation (its journal, re-encrypted, is written by `beforeCommit`). Refused
   * when this boot does not satisfy the policy (the new generation could not be sealed to it).
   */
  async rotateRecovery(
    o: {
      secrets?: Partial<Record<SecretName, Secret | null>>
      contents?: ArchiveContents
      beforeCommit?: () => void
    } = {},
  ): Promise<{ id: string; key: string }> {
    this.recovery()
    const id = generateRecoveryId()
    await this.#commit({
      contents: { ...(o.contents ?? this.#contents), recovery: { id } },
      secrets: { ...o.secrets, 'recovery.key': generateRecoveryKey() },
      ...(o.beforeCommit ? { beforeCommit: o.beforeCommit } : {}),
    })
    return this.recovery()
  }

  /** Zero the archive key and every secret (agent shutdown). */
  dispose(): void {
    this.#key.dispose()
    for (const s of this.#secrets.values()) s.dispose()
    this.#secrets.clear()
  }
}

function sealedInfo(
  k: SealedKey,
  srkName: Buffer,
  pcrDigest: Uint8Array,
): NonNullable<EncryptionInfoBody['tpm']> {
  return {
    sealedPublic: Buffer.from(k.publicBytes).toString('base64'),
    sealedPrivate: Buffer.from(k.privateBytes).toString('base64'),
    pcrBank: 'sha256',
    pcrs: [...k.pcrs],
    pcrPolicyDigest: Buffer.from(pcrDigest).toString('hex'),
    policyDigest: Buffer.from(k.policyDigest).toString('hex'),
    nvIndex: k.counter.index,
    srkName: srkName.toString('hex'),
  }
}

function satisfies(s: EncryptionSettings, boot: BootState): boolean {
  if (s.mode !== 'TPM') return true
  if (!boot.verified) return false
  if (s.requireSecureBoot && !boot.secureBoot) return false
  if (s.requireExecInstalledOnly && !boot.execInstalledOnly) return false
  return true
}

function wrapRecovery(
  archiveKey: Secret,
  id: string,
  recoveryKey: Secret,
): NonNullable<EncryptionInfoBody['recovery']> {
  const salt = randomBytes(16)
  const wk = recoveryWrappingKey(recoveryKey, salt)
  try {
    const wrapped = wk.use((w) => archiveKey.use((k) => wrapKw(w, k)))
    return {
      id,
      ...RECOVERY_SCRYPT,
      salt: salt.toString('base64'),
      wrappedKey: Buffer.from(wrapped).toString('base64'),
    }
  } finally {
    wk.dispose()
  }
}

/** Unwrap the archive key with the recovery key in `file` (rate-limited; failures counted). */
function recover(
  dataDir: string,
  file: string,
  r: NonNullable<EncryptionInfoBody['recovery']>,
): Secret {
  checkRecoveryAllowed(dataDir)
  const text = readSecretFile(file, { maxLength: 1024, trimNewline: true })
  let wk: Secret
  try {
    wk = recoveryWrappingKey(text, Buffer.from(r.salt, 'base64'))
  } catch (e) {
    recordRecoveryFailure(dataDir)
    throw new HostError(
      'ERR_HOST_RECOVERY_FAILED',
      `${BootMessages.recoveryFailed} (${(e as Error).message})`,
    )
  } finally {
    text.dispose()
  }
  try {
    return Secret.take(wk.use((w) => unwrapKw(w, Buffer.from(r.wrappedKey, 'base64'))))
  } catch {
    const n = recordRecoveryFailure(dataDir)
    throw new HostError(
      'ERR_HOST_RECOVERY_FAILED',
      `${BootMessages.recoveryFailed} The recovery key is wrong (${n} failed attempt${n === 1 ? '' : 's'}); use the key listed by 'ward host settings encryption recovery list' before the failure.`,
      { failures: n },
    )
  } finally {
    wk.dispose()
  }
}
