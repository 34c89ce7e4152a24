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
  kdfArchiveKey,
  parseEncryptionInfo,
  verifyEncryptionInfo,
  MAX_INFO,
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
import { isTpmRefusal, type HostTpm, type SealedKey } from '../tpm/host-tpm.js'

export const ARCHIVE_FILE = 'config.archive'
export const INFO_FILE = 'encryption.info'
/** A new encryption.info whose archive key replaces the current one (written first; see `unlock`). */
const INFO_NEXT = 'encryption.info.next'

/** The encryption settings as `ward host settings encryption get` shows them. */
export interface EncryptionSettings {
  readonly mode: EncryptionMode
  readonly requireSecureBoot: boolean
  readonly requireExecInstalledOnly: boolean
}

/** How the configuration was unlocked at boot. */
export type UnlockPath = 'kdf' | 'tpm' | 'recovery-key'

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
    version: 1,
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
    version: 1,
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

/**
 * The unlocked secure configuration of a running host: the archive key (a `Secret`), the
 * authenticated encryption.info and the archive contents. Every change is written atomically.
 */
export class SecureConfig {
  readonly dataDir: string
  #key: Secret
  #info: EncryptionInfoBody
  #contents: ArchiveContents
  readonly #secrets: Map<SecretName, Secret>
  readonly unlockedWith: UnlockPath

  private constructor(
    dataDir: string,
    key: Secret,
    info: EncryptionInfoBody,
    archive: { contents: ArchiveContents; secrets: ReadonlyMap<SecretName, Secret> },
    how: UnlockPath,
  ) {
    this.dataDir = dataDir
    this.#key = key
    this.#info = info
    this.#contents = archive.contents
    this.#secrets = new Map(archive.secrets)
    this.unlockedWith = how
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

  get recoveryId(): string | undefined {
    return this.#info.recovery?.id
  }

  /**
   * Unlock at boot. Refusals carry the seed's messages: TPM policy failure → security violation;
   * tampered archive or encryption.info → "Failed to decrypt system configuration."; a wrong
   * recovery key → "Unable to recover the system configuration." (and the attempt is counted).
   * Nothing is written unless the configuration authenticated.
   */
  static async unlock(o: {
    dataDir: string
    tpm: HostTpm | undefined
    boot: BootState
    recoveryKeyFile: string | undefined
    log: Logger
  }): Promise<SecureConfig> {
    const archive = readFileBounded(join(o.dataDir, ARCHIVE_FILE), MAX_ARCHIVE)
    const info = readFileBounded(join(o.dataDir, INFO_FILE), MAX_INFO)
    if (!archive || !info)
      throw new HostError('ERR_HOST_CONFIG_DECRYPT', BootMessages.decryptFailed, {
        reason: 'missing file',
      })
    // An interrupted key change left encryption.info.next: it wins if it opens the archive.
    const nextPath = join(o.dataDir, INFO_NEXT)
    const next = readFileBounded(nextPath, MAX_INFO)
    if (next) {
      try {
        const cfg = await SecureConfig.#open(o, archive, next, false)
        renameSync(nextPath, join(o.dataDir, INFO_FILE))
        fsyncDir(o.dataDir)
        return cfg
      } catch (e) {
        // Only a .next that does not open this archive is stale (the crash came before the
        // archive was rewritten); a TPM refusal must not make us fall back and lose the new key.
        if (!(e instanceof HostError && e.code === 'ERR_HOST_CONFIG_DECRYPT')) throw e
        unlinkSync(nextPath)
        o.log.warn('discarded an encryption.info.next left by an interrupted change')
      }
    }
    return SecureConfig.#open(o, archive, info, true)
  }

  static async #open(
    o: {
      dataDir: string
      tpm: HostTpm | undefined
      boot: BootState
      recoveryKeyFile: string | undefined
      log: Logger
    },
    archive: Buffer,
    infoBytes: Buffer,
    mayRecover: boolean,
  ): Promise<SecureConfig> {
    const info = parseEncryptionInfo(infoBytes)
    const body = info.body
    let key: Secret
    let how: UnlockPath
    if (body.mode === 'NONE') {
      key = kdfArchiveKey(body.kdf!)
      how = 'kdf'
    } else {
      const tpmInfo = body.tpm!
      let unsealed: Secret | undefined
      if (o.tpm) {
        try {
          unsealed = await o.tpm.unseal({
            publicBytes: Buffer.from(tpmInfo.sealedPublic, 'base64'),
            privateBytes: Buffer.from(tpmInfo.sealedPrivate, 'base64'),
            pcrs: tpmInfo.pcrs,
            policyDigest: Buffer.from(tpmInfo.policyDigest, 'hex'),
          })
        } catch (e) {
          if (!isTpmRefusal(e)) throw e
          o.log.warn({ rc: e.rc }, 'the TPM refused to unseal the configuration key')
        }
      }
      if (unsealed) {
        key = unsealed
        how = 'tpm'
      } else if (mayRecover && o.recoveryKeyFile !== undefined) {
        key = recover(o.dataDir, o.recoveryKeyFile, body.recovery!)
        how = 'recovery-key'
      } else throw new HostError('ERR_HOST_SECURITY_VIOLATION', BootMessages.securityViolation)
    }
    if (!verifyEncryptionInfo(info, key)) {
      key.dispose()
      throw new HostError('ERR_HOST_CONFIG_DECRYPT', BootMessages.decryptFailed, {
        reason: 'encryption.info MAC',
      })
    }
    let contents: ReturnType<typeof openArchive>
    try {
      contents = openArchive(key, archive)
    } catch (e) {
      key.dispose()
      throw e
    }
    if (how === 'recovery-key') resetRecoveryAttempts(o.dataDir)
    const cfg = new SecureConfig(o.dataDir, key, body, contents, how)
    await cfg.#repair(o.tpm, o.boot, o.log)
    return cfg
  }

  /**
   * After an authenticated unlock: finish an interrupted recovery rotation, and after a recovery
   * reseal to the current boot when it satisfies the policy (else keep the old sealing).
   */
  async #repair(tpm: HostTpm | undefined, boot: BootState, log: Logger): Promise<void> {
    const rec = this.#contents.recovery
    const recKey = this.#secrets.get('recovery.key')
    if (this.#info.mode === 'TPM' && rec && recKey && rec.id !== this.#info.recovery?.id) {
      this.#writeInfo({ ...this.#info, recovery: wrapRecovery(this.#key, rec.id, recKey) })
      log.warn('finished an interrupted recovery key rotation')
    }
    if (this.unlockedWith === 'recovery-key' && tpm) {
      if (satisfies(this.settings, boot)) {
        await this.#reseal(tpm, boot, this.settings)
        log.warn(
          'configuration recovered with the recovery key and resealed to this boot; rotate the recovery key now: ward host settings encryption recovery rotate',
        )
      } else
        log.warn(
          'configuration recovered with the recovery key; this boot does not satisfy the sealing policy, so the recovery key will be needed again',
        )
    }
  }

  /**
   * Replace the archive contents (atomic). `secrets` adds or replaces secrets (the config takes
   * ownership) or, with null, removes them; replaced and removed ones are zeroed after the write.
   */
  save(contents: ArchiveContents, secrets: Partial<Record<SecretName, Secret | null>> = {}): void {
    const next = new Map(this.#secrets)
    for (const [name, s] of Object.entries(secrets) as [SecretName, Secret | null][])
      if (s === null) next.delete(name)
      else next.set(name, s)
    writeFileAtomic(
      join(this.dataDir, ARCHIVE_FILE),
      sealArchive(this.#key, { contents, secrets: next }),
    )
    for (const [name, s] of this.#secrets) if (next.get(name) !== s) s.dispose()
    this.#secrets.clear()
    for (const [name, s] of next) this.#secrets.set(name, s)
    this.#contents = contents
  }

  #writeInfo(body: EncryptionInfoBody, path = join(this.dataDir, INFO_FILE)): void {
    writeFileAtomic(path, formatEncryptionInfo(body, this.#key))
    this.#info = body
  }

  async #reseal(tpm: HostTpm, boot: BootState, s: EncryptionSettings): Promise<EncryptionInfoBody> {
    const pcrs = policyPcrs(s)
    const sealed = await tpm.seal(this.#key, pcrs, boot.pcrValues)
    const body: EncryptionInfoBody = {
      format: 'ward-encryption-info',
      version: 1,
      mode: 'TPM',
      requireSecureBoot: s.requireSecureBoot,
      requireExecInstalledOnly: s.requireExecInstalledOnly,
      tpm: sealedInfo(sealed),
      ...(this.#info.recovery ? { recovery: this.#info.recovery } : {}),
    }
    this.#writeInfo(body)
    return body
  }

  /**
   * `settings encryption set`: NONE → TPM (irreversible) or a new TPM policy. Refused when the
   * running boot cannot satisfy the requirement (the seed's message) or there is no TPM.
   */
  async setEncryption(
    req: { mode?: EncryptionMode; requireSecureBoot?: boolean; requireExecInstalledOnly?: boolean },
    tpm: HostTpm | undefined,
    boot: BootState,
  ): Promise<EncryptionSettings> {
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
    if (!satisfies(next, boot))
      throw new HostError('ERR_HOST_POLICY_UNSATISFIABLE', PolicyUnsatisfiableMessage, {
        secureBoot: boot.secureBoot,
        execInstalledOnly: boot.execInstalledOnly,
        measurementsVerified: boot.verified,
      })
    if (cur.mode === 'TPM') {
      await this.#reseal(tpm, boot, next)
      return this.settings
    }
    // NONE → TPM: a fresh archive key (the old one is derivable from the old encryption.info).
    const newKey = new Secret(new Uint8Array(randomBytes(32)))
    const recoveryId = generateRecoveryId()
    const recoveryKey = generateRecoveryKey()
    const pcrs = policyPcrs(next)
    const sealed = await tpm.seal(newKey, pcrs, boot.pcrValues)
    const body: EncryptionInfoBody = {
      format: 'ward-encryption-info',
      version: 1,
      ...next,
      tpm: sealedInfo(sealed),
      recovery: wrapRecovery(newKey, recoveryId, recoveryKey),
    }
    // Crash-safe key change: encryption.info.next, then the archive, then rename (see unlock).
    const nextPath = join(this.dataDir, INFO_NEXT)
    writeFileAtomic(nextPath, formatEncryptionInfo(body, newKey))
    const old = this.#key
    this.#key = newKey
    this.save({ ...this.#contents, recovery: { id: recoveryId } }, { 'recovery.key': recoveryKey })
    renameSync(nextPath, join(this.dataDir, INFO_FILE))
    fsyncDir(this.dataDir)
    this.#info = body
    old.dispose()
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

  /** `recovery rotate`: a new key replaces the old one, which stops working. Reseals when possible. */
  async rotateRecovery(
    tpm: HostTpm | undefined,
    boot: BootState,
  ): Promise<{ id: string; key: string }> {
    this.recovery()
    const id = generateRecoveryId()
    const key = generateRecoveryKey()
    // Archive first: if we crash before encryption.info, the next unlock finishes the rotation.
    this.save({ ...this.#contents, recovery: { id } }, { 'recovery.key': key })
    this.#writeInfo({ ...this.#info, recovery: wrapRecovery(this.#key, id, key) })
    if (tpm && satisfies(this.settings, boot)) await this.#reseal(tpm, boot, this.settings)
    return this.recovery()
  }

  /** Zero the archive key and every secret (agent shutdown). */
  dispose(): void {
    this.#key.dispose()
    for (const s of this.#secrets.values()) s.dispose()
    this.#secrets.clear()
  }
}

function sealedInfo(k: SealedKey): NonNullable<EncryptionInfoBody['tpm']> {
  return {
    sealedPublic: Buffer.from(k.publicBytes).toString('base64'),
    sealedPrivate: Buffer.from(k.privateBytes).toString('base64'),
    pcrBank: 'sha256',
    pcrs: [...k.pcrs],
    policyDigest: Buffer.from(k.policyDigest).toString('hex'),
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
