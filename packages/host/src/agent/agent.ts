import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Secret, type Logger } from '@ward/core'
import { HostError } from '../errors.js'
import { KeyCache, checkId, MAX_KEY, type CachedKey } from '../keys/key-cache.js'
import { KeyStore } from '../keys/key-store.js'
import { SecureConfig, type EncryptionSettings } from '../config/secure-config.js'
import { measureBoot, type BootState } from '../measure/measurements.js'
import { HostTpm } from '../tpm/host-tpm.js'
import { readHostFile } from './data-dir.js'
import { shredFile } from '../util/files.js'

export const KEYSTORE_FILE = 'keystore.journal'

export interface AgentOptions {
  readonly dataDir: string
  /** A file (0600) holding the recovery key typed at boot (`--encryption-recovery-key-file`). */
  readonly recoveryKeyFile?: string | undefined
  /** Play firmware with this secure-boot state (swtpm has no firmware). */
  readonly simulateFirmware?: { readonly secureBoot: boolean } | undefined
  /** The exec-installed-only enforcement measured at boot (default on). */
  readonly execInstalledOnly?: boolean | undefined
  readonly logger: Logger
}

/** Timings and counts of one boot (the benchmark reads them). */
export interface BootStats {
  /** From the start of boot to the key cache restored, in ms. */
  readonly restoreMs: number
  readonly restoredKeys: number
  /** TPM commands sent during the boot (reboot, measurements, unseal). */
  readonly tpmCommands: number
  readonly unlockedWith: string
  readonly truncatedTail: boolean
}

/**
 * The host agent: boots (TPM reboot, measurements, secure configuration unlock, key cache
 * restore), then answers admin requests (`handle`). Start it with `HostAgent.boot`.
 */
export class HostAgent {
  readonly dataDir: string
  readonly cache = new KeyCache()
  readonly bootStats: BootStats
  readonly #tpm: HostTpm | undefined
  readonly #boot: BootState
  readonly #config: SecureConfig
  readonly #log: Logger
  #store: KeyStore | undefined
  /** Set when the key store could not be read at boot (the host still boots, without those keys). */
  #storeError: string | undefined
  #chain: Promise<unknown> = Promise.resolve()

  private constructor(o: {
    dataDir: string
    tpm: HostTpm | undefined
    boot: BootState
    config: SecureConfig
    log: Logger
    stats: BootStats
    store: KeyStore | undefined
    storeError: string | undefined
  }) {
    this.dataDir = o.dataDir
    this.#tpm = o.tpm
    this.#boot = o.boot
    this.#config = o.config
    this.#log = o.log
    this.bootStats = o.stats
    this.#store = o.store
    this.#storeError = o.storeError
  }

  /** A host boot. Throws the seed's messages (HostError) when the configuration stays locked. */
  static async boot(o: AgentOptions): Promise<HostAgent> {
    const t0 = performance.now()
    const log = o.logger
    const { tpm: spec } = readHostFile(o.dataDir)
    const tpm = spec.kind === 'none' ? undefined : new HostTpm(spec)
    try {
      if (tpm) await tpm.reboot()
      const boot = await measureBoot({
        dataDir: o.dataDir,
        tpm,
        simulateFirmware: o.simulateFirmware,
        execInstalledOnly: o.execInstalledOnly ?? true,
        log,
      })
      log.info(
        {
          secureBoot: boot.secureBoot,
          execInstalledOnly: boot.execInstalledOnly,
          verified: boot.verified,
          tpm: spec.kind,
        },
        'boot measured',
      )
      const config = await SecureConfig.unlock({
        dataDir: o.dataDir,
        tpm,
        boot,
        recoveryKeyFile: o.recoveryKeyFile,
        log,
      })
      log.info(
        { mode: config.settings.mode, unlockedWith: config.unlockedWith },
        'configuration unlocked',
      )
      const kp = config.contents.keyPersistence
      let store: KeyStore | undefined
      let restored: CachedKey[] = []
      let truncatedTail = false
      let storeError: string | undefined
      const storeKey = config.secret('keystore.key')
      if (kp.enabled && storeKey && kp.storeId) {
        try {
          const opened = KeyStore.open(
            join(o.dataDir, KEYSTORE_FILE),
            copySecret(storeKey),
            Buffer.from(kp.storeId, 'hex'),
          )
          store = opened.store
          restored = opened.entries
          truncatedTail = opened.truncatedTail
          if (truncatedTail)
            log.warn('key store: cut off a torn final record (an unacknowledged write)')
        } catch (e) {
          // Availability: boot without the persisted keys (providers refill the cache) and leave
          // the store untouched until the admin removes it; the admin socket must stay reachable.
          if (!(e instanceof HostError)) throw e
          storeError = e.code
          log.error({ code: e.code }, e.message)
        }
      }
      const agent = new HostAgent({
        dataDir: o.dataDir,
        tpm,
        boot,
        config,
        log,
        store,
        storeError,
        stats: {
          restoreMs: 0,
          restoredKeys: restored.length,
          tpmCommands: tpm?.commands ?? 0,
          unlockedWith: config.unlockedWith,
          truncatedTail,
        },
      })
      agent.cache.restore(restored)
      if (store) agent.#observe()
      ;(agent.bootStats as { restoreMs: number }).restoreMs = performance.now() - t0
      log.info(
        {
          keys: restored.length,
          ms: Math.round(agent.bootStats.restoreMs),
          tpmCommands: agent.bootStats.tpmCommands,
        },
        'key cache restored',
      )
      return agent
    } finally {
      // swtpm serves one client at a time: release it between operations.
      await tpm?.close()
    }
  }

  #observe(): void {
    const store = this.#store!
    this.cache.observe({
      added: (entries) => store.appendAdd(entries),
      removed: (ref) => store.appendRemove(ref),
    })
  }

  /** Run admin operations one at a time (they touch files and the TPM). */
  handle(op: string, params: Record<string, unknown>): Promise<unknown> {
    const p = this.#chain.then(() => this.#dispatch(op, params))
    this.#chain = p.catch(() => undefined)
    return p
  }

  async #dispatch(op: string, params: Record<string, unknown>): Promise<unknown> {
    switch (op) {
      case 'status':
        return {
          hostId: this.#config.contents.hostId,
          ...this.#settings(),
          keyPersistence: this.#config.contents.keyPersistence.enabled,
          cachedKeys: this.cache.size,
          boot: {
            secureBoot: this.#boot.secureBoot,
            execInstalledOnly: this.#boot.execInstalledOnly,
            verified: this.#boot.verified,
          },
        }
      case 'settings.encryption.get':
        return this.#settings()
      case 'settings.encryption.set':
        return this.#withTpm(() =>
          this.#config.setEncryption(encryptionRequest(params), this.#tpm, this.#boot),
        )
      case 'settings.encryption.recovery.list':
        return this.#config.recovery()
      case 'settings.encryption.recovery.rotate':
        return this.#withTpm(() => this.#config.rotateRecovery(this.#tpm, this.#boot))
      case 'security.keypersistence.get':
        return {
          enabled: this.#config.contents.keyPersistence.enabled,
          ...(this.#storeError ? { storeError: this.#storeError } : {}),
        }
      case 'security.keypersistence.enable':
        return this.#enablePersistence()
      case 'security.keypersistence.disable':
        return this.#disablePersistence(params.removeAllStoredKeys === true)
      case 'keys.add': {
        const providerId = checkId('provider id', params.providerId)
        const kekId = checkId('KEK id', params.kekId)
        if (typeof params.key !== 'string' || params.key.length > 128)
          throw new HostError('ERR_HOST_BAD_ARGUMENT', 'key must be base64')
        const bytes = Buffer.from(params.key, 'base64')
        if (bytes.length === 0 || bytes.length > MAX_KEY) {
          bytes.fill(0)
          throw new HostError('ERR_HOST_BAD_ARGUMENT', `a key must be 1 to ${MAX_KEY} bytes`)
        }
        this.cache.add(providerId, kekId, Secret.take(bytes))
        this.#log.info(
          { op, providerId, kekId, bytes: bytes.length, persisted: this.#store !== undefined },
          'key added to the cache',
        )
        return { providerId, kekId, persisted: this.#store !== undefined }
      }
      case 'keys.has':
        return {
          inCache: this.cache.has(
            checkId('provider id', params.providerId),
            checkId('KEK id', params.kekId),
          ),
        }
      case 'keys.list':
        return this.cache.list()
      case 'keys.remove': {
        const providerId = checkId('provider id', params.providerId)
        const kekId = checkId('KEK id', params.kekId)
        if (!this.cache.remove(providerId, kekId))
          throw new HostError(
            'ERR_HOST_KEY_NOT_FOUND',
            `no key (${providerId}, ${kekId}) in the key cache`,
          )
        this.#log.info({ op, providerId, kekId }, 'key removed from the cache')
        return { removed: true }
      }
      default:
        throw new HostError('ERR_HOST_BAD_REQUEST', `unknown operation '${op.slice(0, 64)}'`)
    }
  }

  #settings(): EncryptionSettings & { recoveryId?: string } {
    return this.#config.settings
  }

  async #withTpm<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } finally {
      await this.#tpm?.close()
    }
  }

  #enablePersistence(): { enabled: true; storedKeys: number } {
    if (!this.#tpm)
      throw new HostError(
        'ERR_HOST_NO_TPM',
        'key persistence needs a TPM and this host has none (ward host init --tpm ...)',
      )
    if (this.#config.settings.mode !== 'TPM')
      throw new HostError(
        'ERR_HOST_MODE_REQUIRED',
        'key persistence needs encryption mode TPM: run ward host settings encryption set --mode=TPM first',
      )
    const c = this.#config.contents
    const existing = this.#config.secret('keystore.key')
    const storeId =
      existing && c.keyPersistence.storeId
        ? c.keyPersistence.storeId
        : randomBytes(16).toString('hex')
    // The store key lives in the archive, which is sealed to the TPM: one unseal per boot opens both.
    this.#config.save(
      { ...c, keyPersistence: { enabled: true, storeId } },
      existing && c.keyPersistence.storeId ? {} : { 'keystore.key': Secret.take(randomBytes(32)) },
    )
    if (!this.#store) {
      const opened = KeyStore.open(
        join(this.dataDir, KEYSTORE_FILE),
        copySecret(this.#config.secret('keystore.key')!),
        Buffer.from(storeId, 'hex'),
      )
      const fresh = opened.entries.filter((e) => !this.cache.has(e.providerId, e.kekId))
      for (const e of opened.entries) if (!fresh.includes(e)) e.key.dispose()
      this.cache.restore(fresh)
      this.#store = opened.store
      this.#store.compact(this.cache.entries())
      this.#observe()
      this.#storeError = undefined
    }
    this.#log.info({ keys: this.cache.size }, 'key persistence enabled')
    return { enabled: true, storedKeys: this.cache.size }
  }

  #disablePersistence(removeAll: boolean): { enabled: false; removedStoredKeys: boolean } {
    this.cache.observe(undefined)
    this.#store?.close()
    this.#store = undefined
    const c = this.#config.contents
    if (removeAll) {
      // Drop the store key from the archive first: the journal is then unreadable even before shredding.
      this.#config.save({ ...c, keyPersistence: { enabled: false } }, { 'keystore.key': null })
      shredFile(join(this.dataDir, KEYSTORE_FILE))
      this.#storeError = undefined
    } else this.#config.save({ ...c, keyPersistence: { ...c.keyPersistence, enabled: false } })
    this.#log.info({ removeAll }, 'key persistence disabled')
    return { enabled: false, removedStoredKeys: removeAll }
  }

  /** Shutdown: zero every cached key and the archive key. */
  async close(): Promise<void> {
    await this.#chain
    this.cache.observe(undefined)
    this.#store?.close()
    this.cache.clear()
    this.#config.dispose()
    await this.#tpm?.close()
  }
}

/** An independent copy (the key store owns and zeroes its own). */
function copySecret(s: Secret): Secret {
  return s.use((b) => new Secret(new Uint8Array(b)))
}

function encryptionRequest(p: Record<string, unknown>): {
  mode?: 'TPM' | 'NONE'
  requireSecureBoot?: boolean
  requireExecInstalledOnly?: boolean
} {
  const r: {
    mode?: 'TPM' | 'NONE'
    requireSecureBoot?: boolean
    requireExecInstalledOnly?: boolean
  } = {}
  if (p.mode !== undefined) {
    if (p.mode !== 'TPM' && p.mode !== 'NONE')
      throw new HostError('ERR_HOST_BAD_ARGUMENT', 'mode must be TPM or NONE')
    r.mode = p.mode
  }
  for (const k of ['requireSecureBoot', 'requireExecInstalledOnly'] as const) {
    const v = p[k]
    if (v === undefined) continue
    if (typeof v !== 'boolean')
      throw new HostError('ERR_HOST_BAD_ARGUMENT', `${k} must be true or false`)
    r[k] = v
  }
  if (Object.keys(r).length === 0)
    throw new HostError(
      'ERR_HOST_BAD_ARGUMENT',
      'nothing to set: give --mode, --require-secure-boot or --require-exec-installed-only',
    )
  return r
}
