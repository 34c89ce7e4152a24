import { randomBytes } from 'node:crypto'
import { existsSync, renameSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { Secret, isCodedError, type Logger } from '@ward/core'
import { HostError } from '../errors.js'
import { KeyCache, checkId, MAX_KEY, type CachedKey } from '../keys/key-cache.js'
import { KDK_BYTES, KDK_PROVIDER, nkpResolver } from '../keys/kdk.js'
import { KeyStore } from '../keys/key-store.js'
import { SecureConfig, type CommitStep, type EncryptionSettings } from '../config/secure-config.js'
import { measureBoot, type BootState } from '../measure/measurements.js'
import { HostTpm, WARD_NV } from '../tpm/host-tpm.js'
import { readHostFile } from './data-dir.js'
import {
  recordRecoveryShown,
  recoveryKeyStatus,
  type RecoveryKeyStatus,
} from '../config/recovery-backup.js'
import type { OpContext } from './schema.js'
import {
  dispatchAdmin,
  type AdminHandlers,
  type AdminOp,
  type AdminParams,
  type AdminResult,
} from './protocol.js'
import { fsyncDir, shredFile } from '../util/files.js'
import { VmManager, type DiskFilter } from '../vm/manager.js'
import { vmHandlers } from '../vm/handlers.js'
import { HostCrypto, finishCryptoDisable } from '../crypto-state/host-crypto.js'
import { cryptoHandlers, guardEncryptedWork } from '../crypto-state/handlers.js'
import { serveEncryptedDisk } from '../filter/index.js'

export const KEYSTORE_FILE = 'keystore.journal'
/** The key store re-encrypted under a new key, written before the generation that holds that key. */
export const KEYSTORE_NEXT = 'keystore.journal.next'

export interface AgentOptions {
  readonly dataDir: string
  /** A file (0600) holding the recovery key typed at boot (`--encryption-recovery-key-file`). */
  readonly recoveryKeyFile?: string | undefined
  /** Play firmware with this secure-boot state (swtpm has no firmware). */
  readonly simulateFirmware?: { readonly secureBoot: boolean } | undefined
  /** The exec-installed-only enforcement measured at boot (default on). */
  readonly execInstalledOnly?: boolean | undefined
  readonly logger: Logger
  /** Tests: called after each step of a configuration change (a throw there is a crash). */
  readonly onCommitStep?: ((step: CommitStep) => void) | undefined
  /** The run folder (0700; tmpfs on a real host): VM sockets and runtime state. Default <dataDir>/run. */
  readonly runDir?: string | undefined
  /** The crypto filter serving encrypted disks to QEMU (default: the host's NBD filter). */
  readonly diskFilter?: DiskFilter | undefined
  /** qemu-system-x86_64 to run (default from PATH). */
  readonly qemu?: string | undefined
  /** Bound of the KVM probe in ms (default 5000). */
  readonly probeTimeoutMs?: number | undefined
}

/** Operations that only read: answered at once, not queued behind a power-on or power-off. */
const READ_ONLY_OPS: ReadonlySet<string> = new Set([
  'vm.list',
  'vm.describe',
  'datastore.list',
  'crypto.status',
])

/** Timings and counts of one boot (the benchmark reads them). */
export interface BootStats {
  /** From the start of boot to the key cache restored, in ms. */
  readonly restoreMs: number
  readonly restoredKeys: number
  /** TPM commands sent during the boot (reboot, measurements, counters, unseal). */
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
  /** The key store while one exists (persistence enabled, or disabled with its keys kept). */
  #store: KeyStore | undefined
  /** Set when the key store could not be read at boot (the host still boots, without those keys). */
  #storeError: string | undefined
  /** The TPM journal counter's value as last read or incremented (mode TPM). */
  #journal: bigint | undefined
  #chain: Promise<unknown> = Promise.resolve()
  readonly #vms: VmManager
  readonly #crypto: HostCrypto

  private constructor(o: {
    dataDir: string
    tpm: HostTpm | undefined
    boot: BootState
    config: SecureConfig
    log: Logger
    stats: BootStats
    store: KeyStore | undefined
    storeError: string | undefined
    journal: bigint | undefined
    vm: Pick<AgentOptions, 'runDir' | 'diskFilter' | 'qemu' | 'probeTimeoutMs'>
  }) {
    this.dataDir = o.dataDir
    this.#tpm = o.tpm
    this.#boot = o.boot
    this.#config = o.config
    this.#log = o.log
    this.bootStats = o.stats
    this.#store = o.store
    this.#storeError = o.storeError
    this.#journal = o.journal
    // issue 13: KEKs of native key providers are derived from their KDK when missing
    this.cache.resolve(nkpResolver)
    this.#vms = new VmManager({
      dataDir: o.dataDir,
      runDir: o.vm.runDir ?? join(o.dataDir, 'run'),
      cache: this.cache,
      log: o.log,
      evictKey: (ref) => this.#removeKey(ref.providerId, ref.kekId),
      hostUses: (ref) => this.#crypto.isHostKey(ref),
      filter: o.vm.diskFilter ?? ((d) => serveEncryptedDisk(d)),
      ...(o.vm.qemu !== undefined ? { qemu: o.vm.qemu } : {}),
      ...(o.vm.probeTimeoutMs !== undefined ? { probeTimeoutMs: o.vm.probeTimeoutMs } : {}),
    })
    this.#crypto = new HostCrypto({
      dataDir: o.dataDir,
      cache: this.cache,
      log: o.log,
      contents: () => this.#config.contents,
      save: (c) => this.#withTpm(() => this.#config.save(c)),
      vms: () => this.#vms,
    })
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
        onCommitStep: o.onCommitStep,
      })
      log.info(
        { mode: config.settings.mode, unlockedWith: config.unlockedWith },
        'configuration unlocked',
      )
      // Mode TPM: the journal counter exists from the switch on (defined here if a crash came
      // right after the switch); it anchors the key store and marks the TPM as a mode-TPM host's.
      let journal =
        config.settings.mode === 'TPM' && tpm
          ? (await tpm.ensureCounter(WARD_NV.journal)).value
          : undefined
      const kp = config.contents.keyPersistence
      let store: KeyStore | undefined
      let restored: CachedKey[] = []
      let truncatedTail = false
      let storeError: string | undefined
      const storeKey = config.secret('keystore.key')
      const path = join(o.dataDir, KEYSTORE_FILE)
      finishStoreSwap(o.dataDir, storeKey && kp.storeId ? kp.storeId : undefined, log)
      if (storeKey && kp.storeId) {
        try {
          // A configuration recovered from another TPM: its journal's checkpoints refer to that
          // TPM's counter; it is accepted as found and re-anchored in this TPM below.
          const opened = KeyStore.open(path, copySecret(storeKey), Buffer.from(kp.storeId, 'hex'), {
            anchor: config.fromAnotherTpm ? undefined : journal,
          })
          store = opened.store
          truncatedTail = opened.truncatedTail
          if (truncatedTail)
            log.warn('key store: cut off a torn final record (an unacknowledged write)')
          if (opened.pendingAnchor && tpm) {
            journal = await anchorJournal(tpm, store, journal)
            log.warn('key store: finished anchoring a removal interrupted by a crash')
          }
          if (config.fromAnotherTpm && journal !== undefined) store.compact(opened.entries, journal)
          if (kp.enabled) restored = opened.entries
          else for (const e of opened.entries) e.key.dispose()
        } catch (e) {
          // Availability: boot without the persisted keys (providers refill the cache) and leave
          // the store untouched until the admin removes it; the admin socket must stay reachable.
          if (!(e instanceof HostError)) throw e
          store?.close()
          store = undefined
          restored = []
          storeError = e.code
          log.error({ code: e.code }, e.message)
        }
      } else if (existsSync(path)) {
        // --remove-all-stored-keys was committed but the agent stopped before the journal went.
        shredFile(path)
        log.warn('removed a key-store journal that no configuration references')
      }
      // a disable (pendingIncapable) is finished by this reboot
      await finishCryptoDisable(config.contents, (c) => config.save(c), log)
      const agent = new HostAgent({
        dataDir: o.dataDir,
        tpm,
        boot,
        config,
        log,
        store,
        storeError,
        journal,
        vm: o,
        stats: {
          restoreMs: 0,
          restoredKeys: restored.length,
          tpmCommands: tpm?.commands ?? 0,
          unlockedWith: config.unlockedWith,
          truncatedTail,
        },
      })
      agent.cache.restore(restored)
      agent.#observe()
      // autostart VMs power on after boot, ahead of the first admin request
      void agent.#enqueue(() => agent.#vms.autostart())
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

  /**
   * Persistence on: adds and removals go to the journal. Off with the store kept: only removals of
   * stored keys, so that a key removed meanwhile does not come back on `enable`.
   */
  #observe(): void {
    const store = this.#store
    if (!store) return this.cache.observe(undefined)
    const enabled = this.#config.contents.keyPersistence.enabled
    this.cache.observe({
      added: (entries) => {
        if (enabled) store.appendAdd(entries)
      },
      removed: (ref) => {
        if (store.has(ref)) store.appendRemove(ref)
      },
    })
  }

  /** Run one admin operation, typed by its row of `AdminOps` (in-process callers). */
  handle<O extends AdminOp>(op: O, params: AdminParams<O>): Promise<AdminResult<O>> {
    return this.handleRequest(op, params) as Promise<AdminResult<O>>
  }

  /**
   * Run an admin request as read from the socket: validated against the protocol table, then
   * given to its handler. Operations run one at a time (they touch files and the TPM).
   */
  handleRequest(op: string, params: unknown, ctx: OpContext = {}): Promise<unknown> {
    // reads answer at once, not queued behind a power-on or power-off
    if (READ_ONLY_OPS.has(op)) return dispatchAdmin(this.#handlers, op, params, ctx)
    return this.#enqueue(() => dispatchAdmin(this.#handlers, op, params, ctx))
  }

  #enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#chain.then(fn)
    this.#chain = p.catch((e: unknown) => {
      if (!isCodedError(e)) this.#log.error({ err: String(e).slice(0, 200) }, 'operation failed')
    })
    return p
  }

  /** The recovery key's backup status (status), null without one (mode NONE). */
  #recoveryStatus(): RecoveryKeyStatus | null {
    const r = this.#config.contents.recovery
    return this.#settings().mode === 'TPM' && r !== undefined
      ? recoveryKeyStatus(this.dataDir, r.id)
      : null
  }

  /** One handler per row of `AdminOps` (protocol.ts). */
  readonly #handlers: AdminHandlers = {
    status: () => ({
      hostId: this.#config.contents.hostId,
      ...this.#settings(),
      keyPersistence: this.#config.contents.keyPersistence.enabled,
      cachedKeys: this.cache.size,
      crypto: this.#crypto.status(),
      tpm: this.#tpm !== undefined,
      recoveryKey: this.#recoveryStatus(),
      boot: {
        secureBoot: this.#boot.secureBoot,
        execInstalledOnly: this.#boot.execInstalledOnly,
        verified: this.#boot.verified,
      },
    }),
    'settings.encryption.get': () => this.#settings(),
    'settings.encryption.set': (r) => {
      if (
        r.mode === undefined &&
        r.requireSecureBoot === undefined &&
        r.requireExecInstalledOnly === undefined
      )
        throw new HostError(
          'ERR_HOST_BAD_ARGUMENT',
          'nothing to set: give --mode, --require-secure-boot or --require-exec-installed-only',
        )
      return this.#withTpm(() => this.#config.setEncryption(r))
    },
    'settings.encryption.recovery.list': () => {
      const r = this.#config.recovery()
      recordRecoveryShown(this.dataDir, r.id)
      return r
    },
    'settings.encryption.recovery.rotate': () => this.#withTpm(() => this.#rotateRecovery()),
    'security.keypersistence.get': () => ({
      enabled: this.#config.contents.keyPersistence.enabled,
      ...(this.#storeError ? { storeError: this.#storeError } : {}),
    }),
    'security.keypersistence.enable': () => this.#withTpm(() => this.#enablePersistence()),
    'security.keypersistence.disable': (r) =>
      this.#withTpm(() => this.#disablePersistence(r.removeAllStoredKeys === true)),
    'keys.add': (r) => {
      const providerId = checkId('provider id', r.providerId)
      const kekId = checkId('KEK id', r.kekId)
      if (r.key.length > 128)
        throw new HostError('ERR_HOST_BAD_ARGUMENT', 'keys.add: key must be base64')
      const bytes = Buffer.from(r.key, 'base64')
      if (bytes.length === 0 || bytes.length > MAX_KEY) {
        bytes.fill(0)
        throw new HostError('ERR_HOST_BAD_ARGUMENT', `a key must be 1 to ${MAX_KEY} bytes`)
      }
      const persisted = this.#persisting()
      this.cache.add(providerId, kekId, Secret.take(bytes))
      this.#log.info(
        { op: 'keys.add', providerId, kekId, bytes: bytes.length, persisted },
        'key added to the cache',
      )
      // autostart VMs locked for this key power on now (after this answer)
      void this.#enqueue(() => this.#vms.keyAdded({ providerId, kekId }))
      return { providerId, kekId, persisted }
    },
    // issue 13: a native key provider's KDK (keys/kdk.ts), kept in the cache like a KEK
    'keys.kdk.install': (r) => {
      const providerId = checkId('provider id', r.providerId)
      const bytes = r.kdk.length <= 64 ? Buffer.from(r.kdk, 'base64') : Buffer.alloc(0)
      if (bytes.length !== KDK_BYTES) {
        bytes.fill(0)
        throw new HostError(
          'ERR_HOST_BAD_ARGUMENT',
          `keys.kdk.install: kdk must be ${KDK_BYTES} bytes in base64`,
        )
      }
      const persisted = this.#persisting()
      this.cache.add(KDK_PROVIDER, providerId, Secret.take(bytes))
      this.#log.info(
        { op: 'keys.kdk.install', providerId, persisted },
        'native key provider key-derivation key installed',
      )
      // VMs locked for one of this provider's KEKs unlock now; autostart ones power on
      void this.#enqueue(() => this.#vms.keyAdded({ providerId, kekId: '' }))
      return { providerId, persisted }
    },
    'keys.has': (r) => ({
      inCache: this.cache.has(checkId('provider id', r.providerId), checkId('KEK id', r.kekId)),
    }),
    'keys.list': () => this.cache.list(),
    'keys.remove': async (r) => {
      const providerId = checkId('provider id', r.providerId)
      const kekId = checkId('KEK id', r.kekId)
      await this.#removeKey(providerId, kekId)
      this.#log.info({ op: 'keys.remove', providerId, kekId }, 'key removed from the cache')
      return { removed: true }
    },
    ...guardEncryptedWork(
      vmHandlers(() => this.#vms, {
        dumpMemory: (r) => this.#crypto.dumpMemory(r.name, r.out),
      }),
      () => this.#crypto,
    ),
    ...cryptoHandlers(() => this.#crypto),
  }

  /** Evict a key from the cache (zeroed) and from key persistence, anchored in the TPM. */
  async #removeKey(providerId: string, kekId: string): Promise<void> {
    if (!this.cache.remove(providerId, kekId))
      throw new HostError(
        'ERR_HOST_KEY_NOT_FOUND',
        `no key (${providerId}, ${kekId}) in the key cache`,
      )
    // A stored key's removal is acknowledged once the TPM counter anchors it.
    if (this.#store && this.#store.checkpoint !== this.#journal)
      try {
        await this.#withTpm(async () => {
          this.#journal = await anchorJournal(this.#tpm!, this.#store!, this.#journal)
        })
      } catch (e) {
        throw new HostError(
          'ERR_HOST_KEYSTORE_ANCHOR',
          `the key (${providerId}, ${kekId}) was removed from the cache and the journal, but the TPM journal counter could not be moved to anchor the removal (${isCodedError(e) ? e.code : 'error'}); the next removal or boot finishes it, and until then an earlier copy of the journal could bring the key back: check the TPM`,
          { providerId, kekId },
          { cause: e },
        )
      }
  }

  #persisting(): boolean {
    return this.#store !== undefined && this.#config.contents.keyPersistence.enabled
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

  async #journalCounter(): Promise<bigint> {
    this.#journal ??= (await this.#tpm!.ensureCounter(WARD_NV.journal)).value
    return this.#journal
  }

  async #enablePersistence(): Promise<{ enabled: true; storedKeys: number }> {
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
    const path = join(this.dataDir, KEYSTORE_FILE)
    const journal = await this.#journalCounter()
    const existing = this.#config.secret('keystore.key')
    if (existing && c.keyPersistence.storeId) {
      // The store kept by a disable (or unreadable at boot): its keys come back, unless removed.
      const opened = KeyStore.open(
        path,
        copySecret(existing),
        Buffer.from(c.keyPersistence.storeId, 'hex'),
        { anchor: journal },
      )
      if (opened.pendingAnchor)
        this.#journal = await anchorJournal(this.#tpm, opened.store, journal)
      this.#store?.close()
      this.#store = opened.store
      this.#storeError = undefined
      const fresh = opened.entries.filter((e) => !this.cache.has(e.providerId, e.kekId))
      for (const e of opened.entries) if (!fresh.includes(e)) e.key.dispose()
      this.cache.restore(fresh)
      await this.#config.save({ ...c, keyPersistence: { ...c.keyPersistence, enabled: true } })
    } else {
      // A new store: its key and id in the archive first (a crash leaves an empty store).
      const storeId = randomBytes(16)
      const key = Secret.take(randomBytes(32))
      await this.#config.save(
        { ...c, keyPersistence: { enabled: true, storeId: storeId.toString('hex') } },
        { 'keystore.key': key },
      )
      this.#store = KeyStore.create(path, copySecret(key), storeId, journal)
      this.#storeError = undefined
    }
    this.#store.compact(this.cache.entries())
    this.#observe()
    this.#log.info({ keys: this.cache.size }, 'key persistence enabled')
    return { enabled: true, storedKeys: this.cache.size }
  }

  async #disablePersistence(
    removeAll: boolean,
  ): Promise<{ enabled: false; removedStoredKeys: boolean }> {
    const c = this.#config.contents
    if (removeAll) {
      this.cache.observe(undefined)
      this.#store?.close()
      this.#store = undefined
      // Drop the store key from the archive first (a new generation: the previous one, which
      // still holds it, is refused from then on), then destroy the journal.
      await this.#config.save(
        { ...c, keyPersistence: { enabled: false } },
        { 'keystore.key': null },
      )
      shredFile(join(this.dataDir, KEYSTORE_FILE))
      shredFile(join(this.dataDir, KEYSTORE_NEXT))
      this.#storeError = undefined
    } else {
      await this.#config.save({ ...c, keyPersistence: { ...c.keyPersistence, enabled: false } })
      this.#observe()
    }
    this.#log.info({ removeAll }, 'key persistence disabled')
    return { enabled: false, removedStoredKeys: removeAll }
  }

  /**
   * A new recovery key in a new generation; a key store is re-encrypted under a new key and id in
   * the same generation, so the old recovery key opens neither the archive nor the journal.
   */
  async #rotateRecovery(): Promise<{ id: string; key: string }> {
    this.#config.recovery()
    const c = this.#config.contents
    const oldKey = this.#config.secret('keystore.key')
    if (!oldKey || !c.keyPersistence.storeId || this.#storeError !== undefined) {
      if (this.#storeError !== undefined)
        this.#log.warn(
          { code: this.#storeError },
          'the unreadable key store keeps its key; remove it with --remove-all-stored-keys',
        )
      return this.#config.rotateRecovery()
    }
    const path = join(this.dataDir, KEYSTORE_FILE)
    const nextPath = join(this.dataDir, KEYSTORE_NEXT)
    const current = KeyStore.read(path, oldKey, Buffer.from(c.keyPersistence.storeId, 'hex'))
    const storeId = randomBytes(16)
    const key = Secret.take(randomBytes(32))
    const checkpoint = this.#store?.checkpoint ?? current.checkpoint
    let r: { id: string; key: string }
    try {
      r = await this.#config.rotateRecovery({
        contents: {
          ...c,
          keyPersistence: { ...c.keyPersistence, storeId: storeId.toString('hex') },
        },
        secrets: { 'keystore.key': key },
        beforeCommit: () => KeyStore.write(nextPath, key, storeId, current.entries, checkpoint),
      })
    } finally {
      for (const e of current.entries) e.key.dispose()
    }
    // Committed: the re-encrypted journal replaces the old one (a boot would finish this too).
    this.#store?.close()
    renameSync(nextPath, path)
    fsyncDir(this.dataDir)
    const opened = KeyStore.open(path, copySecret(key), storeId, { anchor: undefined })
    for (const e of opened.entries) e.key.dispose()
    this.#store = opened.store
    this.#observe()
    return r
  }

  /** Shutdown: zero every cached key and the archive key. */
  async close(): Promise<void> {
    await this.#chain
    await this.#vms.close()
    this.cache.observe(undefined)
    this.#store?.close()
    this.cache.clear()
    this.#config.dispose()
    await this.#tpm?.close()
  }
}

/**
 * Raise the TPM journal counter to the store's latest checkpoint (normally one increment); if the
 * counter is past it (incremented by someone else), anchor the journal at the counter's value.
 */
async function anchorJournal(
  tpm: HostTpm,
  store: KeyStore,
  known: bigint | undefined,
): Promise<bigint> {
  let j = known ?? (await tpm.ensureCounter(WARD_NV.journal)).value
  for (let i = 0; j < store.checkpoint; i++) {
    if (i >= 16)
      throw new HostError(
        'ERR_HOST_TPM_COUNTER',
        `the key store's checkpoint ${store.checkpoint} is far ahead of the TPM journal counter ${j}`,
      )
    j = await tpm.increment(WARD_NV.journal)
  }
  if (j !== store.checkpoint) store.appendCheckpoint(j)
  return j
}

/**
 * A recovery-key rotation re-encrypts the journal to keystore.journal.next before its generation
 * is committed. At boot: if the committed configuration's store is that file's, it replaces the
 * journal; otherwise the rotation did not commit and it is discarded.
 */
function finishStoreSwap(dataDir: string, storeId: string | undefined, log: Logger): void {
  const nextPath = join(dataDir, KEYSTORE_NEXT)
  if (!existsSync(nextPath)) return
  const path = join(dataDir, KEYSTORE_FILE)
  const nextId = KeyStore.storeIdOf(nextPath)?.toString('hex')
  if (
    storeId !== undefined &&
    nextId === storeId &&
    KeyStore.storeIdOf(path)?.toString('hex') !== storeId
  ) {
    renameSync(nextPath, path)
    fsyncDir(dataDir)
    log.warn(
      'key store: finished a re-encryption interrupted after its configuration was committed',
    )
    return
  }
  unlinkSync(nextPath)
  fsyncDir(dataDir)
  log.warn('key store: discarded the journal of an interrupted re-encryption')
}

/** An independent copy (the key store owns and zeroes its own). */
function copySecret(s: Secret): Secret {
  return s.use((b) => new Secret(new Uint8Array(b)))
}
