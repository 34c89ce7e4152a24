import { randomBytes, randomUUID } from 'node:crypto'
import {
  chmodSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  ftruncateSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { basename, dirname, isAbsolute, join, resolve } from 'node:path'
import { Secret, type Logger } from '@ward/core'
import {
  bundleFromBase64,
  bundleToBase64,
  createThinDisk,
  openBundle,
  decryptDisk,
  decryptVmFile,
  encryptInPlace,
  encryptVmFile,
  rekeyDeep,
  rekeyShallow,
  rewrapBundle,
  unlockDiskKey,
  sealBundle,
  zeroBundleKeys,
  type OpenedBundle,
} from '@ward/envelope'
import { HostError, VmMessages } from '../errors.js'
import type { OpProgress } from '../agent/schema.js'
import type { KeyCache, KeyRef } from '../keys/key-cache.js'
import { fsyncDir } from '../util/files.js'
import { chooseAccelerator, type Accelerator, type ProbeResult } from './accel.js'
import {
  VM_CONFIG_FILE,
  VM_CONFIG_VERSION,
  VM_LIMITS,
  checkCpus,
  checkVmName,
  diskBytes,
  memoryMiB,
  readVmConfig,
  writeVmConfig,
  type VmConfig,
  type VmDisk,
} from './config.js'
import {
  readInventory,
  writeInventory,
  type Datastore,
  type Inventory,
  type RegisteredVm,
} from './inventory.js'
import { SUSPEND_PLAIN, SUSPEND_SEALED, loadState, saveState, type StateSeal } from './suspend.js'
import type { RunningGuest } from './dump.js'
import {
  MAX_SNAPSHOTS,
  SNAPSHOT_DIR,
  SNAPSHOT_MEMORY_PLAIN,
  SNAPSHOT_MEMORY_SEALED,
  branchCount,
  checkSnapshotName,
  copyDisk,
  copyStateFolder,
  findSnapshot,
  restoreStateFolder,
  type VmSnapshot,
  type VmSnapshots,
} from './snapshots.js'
import { VTPM_DIR, VTPM_LOG, startVtpm, vtpmQemuArgs, vtpmStateKey, type Vtpm } from './vtpm.js'
import {
  NVRAM_PLAIN,
  NVRAM_SEALED,
  createNvram,
  nvramRunFolder,
  openNvram,
  ovmfArgs,
  sealNvram,
  sealNvramCopy,
  watchNvram,
  wipeFile,
  type NvramWriteBack,
} from './nvram.js'
import {
  PID_FILE,
  QEMU_LOG,
  SERIAL_LOG,
  killTree,
  qemuArgs,
  startQemu,
  type BootOptions,
  type DiskBacking,
  type QemuProcess,
} from './qemu.js'

/** A running crypto filter (packages/host/src/filter): closed when the VM stops. */
export interface DiskServer {
  close(opts?: { readonly timeoutMs?: number }): Promise<void>
}
/** Serve an encrypted disk's plaintext over NBD on `socketPath` (the key is copied). */
export type DiskFilter = (o: {
  readonly path: string
  readonly volumeKey: Uint8Array
  readonly socketPath: string
}) => Promise<DiskServer>

export interface VmManagerOptions {
  readonly dataDir: string
  /** The agent's run folder (0700; tmpfs on a real host): one 0700 folder per running VM. */
  readonly runDir: string
  readonly cache: KeyCache
  readonly log: Logger
  /** Evict a KEK from the key cache (and key persistence), as `keys.remove` does. */
  readonly evictKey: (ref: KeyRef) => Promise<void>
  /** Whether the host uses this key for itself (the host key): such a key never leaves with a VM. */
  readonly hostUses?: (ref: KeyRef) => boolean
  readonly filter?: DiskFilter | undefined
  readonly qemu?: string
  /** Bound of the KVM probe (default 5 s). */
  readonly probeTimeoutMs?: number
}

type PowerState = 'poweredOn' | 'poweredOff' | 'suspended'

interface Running {
  readonly qemu: QemuProcess
  readonly accelerator: Accelerator
  readonly runFolder: string
  readonly filters: DiskServer[]
  readonly startedAt: string
  stopping: boolean
  readonly stopped: Promise<void>
  /** How it was booted (a suspend records it: the resumed QEMU needs the same). */
  readonly boot: BootOptions
  /** An encrypted VM's file key for this run (suspend seals its image with it). */
  readonly fileKey: Secret | undefined
  /** An efi VM's variable store for this run (a snapshot seals the live one). */
  readonly nvram: RunNvram | undefined
}

/** An efi VM's variable store for one run: decrypted in a tmpfs folder when the VM is encrypted. */
interface RunNvram {
  readonly plain: string
  /** The VM's file key, held while it runs to seal the store back at power-off. */
  readonly fileKey?: Secret
  /** A /dev/shm folder of its own (removed at power-off), when the run folder is not a tmpfs. */
  readonly tmpfsFolder?: string
  /** Seals the store back into the VM folder at every change during the run. */
  readonly writeBack?: NvramWriteBack
}

export interface KeyState {
  readonly role: 'KEK' | 'previous KEK' | 'disk DEK' | 'file key'
  readonly providerId: string
  readonly kekId: string
  readonly disk?: string
  /** KEK: in the key cache or not; internal keys: in the bundle, missing, or unknown (locked). */
  readonly state: 'in cache' | 'missing in cache' | 'in bundle' | 'missing in bundle' | 'unknown'
}

export interface VmDescription {
  readonly id: string
  readonly name: string
  readonly path: string
  readonly powerState: PowerState
  readonly accelerator: Accelerator
  readonly acceleratorReason: string
  readonly cpus: number
  readonly memoryMiB: number
  readonly firmware: string
  readonly vtpm: boolean
  readonly autostart: boolean
  readonly disks: readonly (VmDisk & { path: string; allocatedBytes: number })[]
  /** efi: the UEFI variable store (encrypted with the VM's file key when the VM is encrypted). */
  readonly nvram?: { readonly path: string; readonly encrypted: boolean }
  readonly encrypted: boolean
  readonly encryption?: { readonly providerId: string; readonly kekId: string }
  /** vSphere's runtime.cryptoState for encrypted VMs. */
  readonly cryptoState?: 'locked' | 'unlocked'
  readonly lockedReason?: string
  readonly keys: readonly KeyState[]
  /** The snapshot tree's size and the snapshot the running state descends from. */
  readonly snapshots?: { readonly count: number; readonly current?: string }
  /**
   * A crypto task that stopped midway (a crash, a failure): power-on and snapshots are refused
   * until it is run again (`command`), which resumes it.
   */
  readonly unfinished?: {
    readonly task: 'encrypt' | 'decrypt' | 'deep recrypt' | 'shallow recrypt'
    readonly command: string
  }
  readonly pid?: number
  readonly qemuStatus?: string
  readonly log: string
  readonly console: string
}

/** What `vm.inspect` answers: a VM folder's identity and encryption, read without registering. */
export interface VmInspection {
  readonly id: string
  readonly name: string
  readonly path: string
  readonly firmware: string
  readonly vtpm: boolean
  readonly disks: number
  readonly encrypted: boolean
  readonly encryption?: { readonly providerId: string; readonly kekId: string }
  /** This host has a VM with that id registered (under `registeredAs`). */
  readonly registered: boolean
  readonly registeredAs?: string
}

/** A clone's marker in its folder until it is registered: `{source, id}` (the source VM's id). */
export const CLONE_MARKER = '.ward-clone'
/** The staging folder of a clone being made: `.<name>.ward-clone-staging` beside the VM folders. */
const CLONE_STAGE_SUFFIX = '.ward-clone-staging'

/** A snapshot as `snapshot list|create|revert` answer it. */
export interface SnapshotInfo {
  readonly id: string
  readonly name: string
  /** The parent snapshot's name; none for a root. */
  readonly parent?: string
  readonly created: string
  readonly withMemory: boolean
  /** The snapshot the running state descends from ("you are here"). */
  readonly current: boolean
  readonly path: string
}

const MiB = 1 << 20
/** The longest unix socket path (sun_path is 108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107

/**
 * The host's VMs: datastores, registration, VM folders, keys, and power (QEMU supervised over
 * QMP, each encrypted disk served to it by the crypto filter). Calls are serialized by the agent.
 */
export class VmManager {
  readonly #o: VmManagerOptions
  readonly #log: Logger
  readonly #running = new Map<string, Running>()
  /** Autostart VMs that stayed off at boot (locked): powered on when their KEK is added. */
  readonly #pendingAutostart = new Set<string>()
  #accel: ProbeResult | undefined
  #accelProbe: Promise<ProbeResult> | undefined

  constructor(o: VmManagerOptions) {
    this.#o = o
    this.#log = o.log
  }

  /** The run folder (0700), made on first use: a host with no VM keeps its data folder as it was. */
  #runDir(): string {
    const d = this.#o.runDir
    mkdirSync(join(d, 'vms'), { recursive: true, mode: 0o700 })
    chmodSync(d, 0o700)
    return d
  }

  get #qemu(): string {
    return this.#o.qemu ?? 'qemu-system-x86_64'
  }

  #inventory(): Inventory {
    return readInventory(this.#o.dataDir)
  }

  // ---- datastores

  addDatastore(name: string, path: string): Datastore {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name))
      throw new HostError(
        'ERR_HOST_BAD_ARGUMENT',
        'a datastore name is 1 to 64 letters, digits, ".", "_" or "-"',
      )
    if (!isAbsolute(path))
      throw new HostError(
        'ERR_HOST_BAD_ARGUMENT',
        `a datastore path must be absolute (got ${path})`,
      )
    const inv = this.#inventory()
    if (inv.datastores.some((d) => d.name === name))
      throw new HostError('ERR_HOST_DATASTORE_EXISTS', `datastore '${name}' already exists`)
    mkdirSync(path, { recursive: true, mode: 0o700 })
    if (!statSync(path).isDirectory())
      throw new HostError('ERR_HOST_BAD_ARGUMENT', `${path} is not a folder`)
    const d = { name, path: resolve(path) }
    writeInventory(this.#o.dataDir, { ...inv, datastores: [...inv.datastores, d] })
    this.#log.info({ datastore: name }, 'datastore added')
    return d
  }

  listDatastores(): (Datastore & { vms: number })[] {
    const inv = this.#inventory()
    return inv.datastores.map((d) => ({
      ...d,
      vms: inv.vms.filter((v) => dirname(v.path) === d.path).length,
    }))
  }

  // ---- lookup

  #find(name: string): { reg: RegisteredVm; config: VmConfig } {
    const reg = this.#inventory().vms.find((v) => v.name === name)
    if (!reg)
      throw new HostError(
        'ERR_HOST_VM_NOT_FOUND',
        `no VM named '${String(name).slice(0, 64)}' is registered on this host (ward host vm list)`,
      )
    return { reg, config: readVmConfig(reg.path) }
  }

  #kekRef(c: VmConfig): KeyRef | undefined {
    return c.encryption
      ? { providerId: c.encryption.providerId, kekId: c.encryption.kekId }
      : undefined
  }

  #lockedError(c: VmConfig): HostError {
    const e = c.encryption!
    return new HostError(
      'ERR_HOST_VM_LOCKED',
      `${VmMessages.locked} VM '${c.name}': ${VmMessages.lockedReason} (KEK '${e.kekId}' of key provider '${e.providerId}' is not in the key cache). Add it with 'ward crypto-util keys add ${e.providerId} ${e.kekId} --kek-file FILE' and the VM unlocks with no other step.`,
      { vm: c.name, providerId: e.providerId, kekId: e.kekId, reason: 'key missing in cache' },
    )
  }

  /** Open a VM's bundle with its KEK from the cache (throws the locked error when it is absent). */
  #openBundle(c: VmConfig): OpenedBundle {
    const e = c.encryption!
    // mid-recrypt: either KEK opens the VM
    const use = this.#o.cache.has(e.providerId, e.kekId)
      ? e
      : e.previous && this.#o.cache.has(e.previous.providerId, e.previous.kekId)
        ? e.previous
        : undefined
    if (!use) throw this.#lockedError(c)
    const bytes = bundleFromBase64(use.bundle)
    return this.#o.cache.use(use.providerId, use.kekId, (kek) => openBundle(bytes, kek))
  }

  #refuseForCrypt(c: VmConfig, what: string): void {
    if (this.#running.has(c.id) || c.suspended)
      throw new HostError(
        'ERR_HOST_VM_POWER_STATE',
        `cannot ${what} VM '${c.name}' while it is ${this.#running.has(c.id) ? 'powered on' : 'suspended'}: power it off first`,
        { vm: c.name },
      )
    if (c.encryption?.previous || c.encryption?.deepRecrypt)
      throw new HostError(
        'ERR_HOST_VM_RECRYPT_PARTIAL',
        `VM '${c.name}' has an unfinished recrypt: run it again first`,
      )
    if (c.snapshots)
      throw new HostError(
        'ERR_HOST_VM_SNAPSHOTS',
        `cannot ${what} VM '${c.name}' while it has snapshots (${c.snapshots.list.length}): remove them first (ward host vm snapshot remove ${c.name} SNAPSHOT)`,
        { vm: c.name, snapshots: c.snapshots.list.length },
      )
  }

  /**
   * Encrypt a plain VM (powered off; it has no snapshots): each disk encrypted in place into a
   * LUKS2 volume (`encryptInPlace`, crash-safe, resumable) and renamed `diskN.luks`, the NVRAM
   * sealed, the bundle made from the disks' DEKs and a new file key. Until it is done vm.json says
   * so (`cryptoTask`) and power-on is refused; running it again resumes.
   */
  async encrypt(
    name: string,
    kek: { providerId: string; kekId: string },
    onProgress?: (p: OpProgress) => void,
  ): Promise<VmDescription> {
    const { reg, config: c } = this.#find(name)
    const task = c.cryptoTask
    if (c.encryption && task?.op !== 'decrypt')
      throw new HostError('ERR_HOST_VM_ENCRYPTION', `VM '${name}' is already encrypted`)
    if (task && task.op !== 'encrypt')
      throw new HostError(
        'ERR_HOST_VM_RECRYPT_PARTIAL',
        `VM '${name}' has an unfinished decrypt: run it again first`,
      )
    this.#refuseForCrypt(c, 'encrypt')
    const ref =
      task?.providerId && task.kekId
        ? { providerId: task.providerId, kekId: task.kekId }
        : {
            providerId: checkIdArg(kek.providerId),
            kekId: checkIdArg(kek.kekId),
          }
    if (!this.#o.cache.has(ref.providerId, ref.kekId))
      throw new HostError(
        'ERR_HOST_KEY_NOT_FOUND',
        `KEK '${ref.kekId}' of key provider '${ref.providerId}' is not in the key cache: add it first (ward crypto-util keys add ${ref.providerId} ${ref.kekId} --kek-file FILE)`,
        { providerId: ref.providerId, kekId: ref.kekId },
      )
    writeVmConfig(reg.path, { ...c, cryptoTask: { op: 'encrypt', ...ref } })
    const progress = vmProgress(c.disks, onProgress)
    const disks: VmDisk[] = []
    for (const d of c.disks) {
      const plain = join(reg.path, d.file)
      const file = d.file.replace(/\.img$/, '') + '.luks'
      const sealed = join(reg.path, file)
      const report = progress.disk(d)
      if (existsSync(plain)) {
        await this.#withKek(ref, (k) =>
          encryptInPlace(plain, { kek: k, ...ref, onProgress: report }),
        )
        renameSync(plain, sealed)
        fsyncDir(reg.path)
      } else if (!existsSync(sealed))
        throw new HostError('ERR_HOST_VM_CONFIG', `${plain} is missing`)
      disks.push({ ...d, file, encrypted: true })
      this.#log.info({ vm: name, disk: d.id }, 'encrypt: disk encrypted')
    }
    const fileKey = new Uint8Array(randomBytes(32))
    const deks = new Map<string, Uint8Array>()
    try {
      for (const d of disks)
        deks.set(
          d.id,
          await this.#withKek(ref, (k) => unlockDiskKey(join(reg.path, d.file), { kek: k })),
        )
      const bundle = this.#o.cache.use(ref.providerId, ref.kekId, (k) =>
        sealBundle({ ...ref, fileKey, disks: deks }, k),
      )
      const next: VmConfig = {
        ...withoutTask(c),
        disks,
        encryption: { ...ref, bundle: bundleToBase64(bundle) },
      }
      if (c.firmware === 'efi' && existsSync(join(reg.path, NVRAM_PLAIN))) {
        await encryptVmFile(join(reg.path, NVRAM_PLAIN), join(reg.path, NVRAM_SEALED), fileKey, {
          vmId: c.id,
          role: 'nvram',
          providerId: 'ward-vm',
          kekId: `${c.id}/file-key`,
          overwrite: true,
        })
      }
      writeVmConfig(reg.path, next)
      if (existsSync(join(reg.path, NVRAM_PLAIN))) wipeFile(join(reg.path, NVRAM_PLAIN))
    } finally {
      fileKey.fill(0)
      for (const k of deks.values()) k.fill(0)
    }
    progress.finished()
    this.#log.info({ vm: name, providerId: ref.providerId, kekId: ref.kekId }, 'VM encrypted')
    return this.describe(name)
  }

  /**
   * Decrypt an encrypted VM (powered off, no vTPM): the NVRAM opened, each disk decrypted into a
   * plain `diskN.img` (then the LUKS2 file removed), the encryption section dropped; the KEK leaves
   * the cache unless another VM uses it. Resumable like encrypt.
   */
  async decrypt(
    name: string,
    onProgress?: (p: OpProgress) => void,
  ): Promise<VmDescription & { evictedKey: boolean }> {
    const { reg, config: c } = this.#find(name)
    if (!c.encryption)
      throw new HostError('ERR_HOST_VM_ENCRYPTION', `VM '${name}' is not encrypted`)
    if (c.cryptoTask?.op === 'encrypt')
      throw new HostError(
        'ERR_HOST_VM_RECRYPT_PARTIAL',
        `VM '${name}' has an unfinished encrypt: run it again first`,
      )
    this.#refuseForCrypt(c, 'decrypt')
    if (c.vtpm)
      throw new HostError(
        'ERR_HOST_VM_ENCRYPTION',
        `VM '${name}' has a vTPM, which needs an encrypted VM: it cannot be decrypted`,
      )
    const e = c.encryption
    const opened = this.#openBundle(c) // locked error without the KEK
    try {
      writeVmConfig(reg.path, { ...c, cryptoTask: { op: 'decrypt' } })
      if (c.firmware === 'efi' && existsSync(join(reg.path, NVRAM_SEALED))) {
        const plain = join(reg.path, NVRAM_PLAIN)
        rmSync(plain, { force: true })
        await decryptVmFile(join(reg.path, NVRAM_SEALED), plain, opened.fileKey, {
          vmId: c.id,
          role: 'nvram',
        })
      }
    } finally {
      zeroBundleKeys(opened)
    }
    const progress = vmProgress(c.disks, onProgress)
    const disks: VmDisk[] = []
    for (const d of c.disks) {
      const sealed = join(reg.path, d.file)
      const file = d.file.replace(/\.luks$/, '') + '.img'
      const plain = join(reg.path, file)
      const report = progress.disk(d)
      if (existsSync(sealed)) {
        // a copy a crash left half-written: the reserved name and the envelope's temporary file
        // (removed, not wiped: the VM is becoming plain in this folder anyway)
        rmSync(plain, { force: true })
        for (const f of readdirSync(reg.path))
          if (f.startsWith(`.${file}.ward-tmp-`)) rmSync(join(reg.path, f), { force: true })
        await this.#withKek(e, (k) =>
          decryptDisk(sealed, plain, { unlock: { kek: k }, onProgress: report }),
        )
        rmSync(sealed)
        fsyncDir(reg.path)
      } else if (!existsSync(plain))
        throw new HostError('ERR_HOST_VM_CONFIG', `${sealed} is missing`)
      disks.push({ ...d, file, encrypted: false })
      this.#log.info({ vm: name, disk: d.id }, 'decrypt: disk decrypted')
    }
    const plainConfig: { -readonly [K in keyof VmConfig]?: VmConfig[K] } = {
      ...withoutTask(c),
      disks,
    }
    delete plainConfig.encryption
    writeVmConfig(reg.path, plainConfig as VmConfig)
    rmSync(join(reg.path, NVRAM_SEALED), { force: true })
    progress.finished()
    this.#log.info({ vm: name }, 'VM decrypted')
    const evictedKey = await this.#evictUnused(c)
    return { ...(await this.describe(name)), evictedKey }
  }

  /**
   * Deep recrypt (vSphere's CryptoSpecDeepRecrypt): every disk re-encrypted under a new DEK (the
   * envelope's in-place rekey, crash-safe with its journal), its token under the new KEK (or the
   * same one), then the bundle rebuilt from the disks' tokens under that KEK. Only powered off
   * (and with no snapshots: Ward VMs have none yet). The file key is kept, so the NVRAM, the vTPM
   * state and a suspend image stay readable. A rerun after a crash resumes where it stopped.
   */
  async recryptDeep(
    name: string,
    to: { providerId?: string | undefined; kekId?: string | undefined },
    onProgress?: (p: OpProgress) => void,
  ): Promise<VmDescription & { disksReencrypted: number }> {
    const { reg, config: c } = this.#find(name)
    if (!c.encryption)
      throw new HostError(
        'ERR_HOST_VM_ENCRYPTION',
        `VM '${name}' is not encrypted: there is nothing to recrypt (encrypt it first)`,
      )
    if (this.#running.has(c.id) || c.suspended)
      throw new HostError(
        'ERR_HOST_VM_POWER_STATE',
        `${VmMessages.deepRecryptPoweredOff} VM '${name}' is ${this.#running.has(c.id) ? 'powered on' : 'suspended'}: power it off first (a shallow recrypt runs powered on)`,
        { vm: name },
      )
    if (c.snapshots)
      throw new HostError(
        'ERR_HOST_VM_SNAPSHOTS',
        `${VmMessages.deepRecryptNoSnapshots} VM '${name}' has ${c.snapshots.list.length} snapshot(s): remove them first (ward host vm snapshot remove ${name} SNAPSHOT)`,
        { vm: name, snapshots: c.snapshots.list.length },
      )
    const e = c.encryption
    if (e.previous)
      throw new HostError(
        'ERR_HOST_VM_RECRYPT_PARTIAL',
        `VM '${name}' has an unfinished shallow recrypt: run it again first`,
      )
    const pending = e.deepRecrypt
    const next = pending
      ? { providerId: pending.providerId, kekId: pending.kekId }
      : {
          providerId: checkIdArg(to.providerId ?? e.providerId),
          kekId: checkIdArg(to.kekId ?? e.kekId),
        }
    if (
      pending &&
      ((to.kekId !== undefined && to.kekId !== pending.kekId) ||
        (to.providerId !== undefined && to.providerId !== pending.providerId))
    )
      throw new HostError(
        'ERR_HOST_BAD_ARGUMENT',
        `VM '${name}' has an unfinished deep recrypt to KEK '${pending.kekId}': run it again with that KEK`,
      )
    for (const k of [e, next])
      if (!this.#o.cache.has(k.providerId, k.kekId))
        throw k === e
          ? this.#lockedError(c)
          : new HostError(
              'ERR_HOST_KEY_NOT_FOUND',
              `the new KEK '${k.kekId}' of key provider '${k.providerId}' is not in the key cache: add it first`,
              { providerId: k.providerId, kekId: k.kekId },
            )
    const sameKek = next.providerId === e.providerId && next.kekId === e.kekId
    const done = new Set(pending?.done ?? [])
    const mark = (): void =>
      writeVmConfig(reg.path, {
        ...c,
        encryption: { ...e, deepRecrypt: { ...next, done: [...done] } },
      })
    mark()
    const disks = c.disks.filter((d) => d.encrypted)
    const progress = vmProgress(disks, onProgress)
    for (const d of disks) {
      const report = progress.disk(d)
      if (done.has(d.id)) continue
      const path = join(reg.path, d.file)
      await this.#withKek(e, async (oldKek) => {
        await rekeyDeep(path, { kek: oldKek, onProgress: report })
        if (!sameKek)
          await this.#withKek(next, async (newKek) => {
            rekeyShallow(path, { kek: oldKek, newKek, ...next })
          })
      })
      done.add(d.id)
      mark()
      this.#log.info(
        { vm: name, disk: d.id, done: done.size, of: disks.length },
        'deep recrypt: disk re-encrypted',
      )
    }
    // the bundle from the disks themselves: their new DEKs, the same file key, the new KEK
    const opened = this.#openBundle(c)
    const deks = new Map<string, Uint8Array>()
    try {
      for (const d of disks)
        deks.set(
          d.id,
          await this.#withKek(next, (k) => unlockDiskKey(join(reg.path, d.file), { kek: k })),
        )
      const bundle = this.#o.cache.use(next.providerId, next.kekId, (k) =>
        sealBundle({ ...next, fileKey: opened.fileKey, disks: deks }, k),
      )
      writeVmConfig(reg.path, { ...c, encryption: { ...next, bundle: bundleToBase64(bundle) } })
    } finally {
      zeroBundleKeys(opened)
      for (const k of deks.values()) k.fill(0)
    }
    progress.finished()
    this.#log.info(
      { vm: name, from: e.kekId, to: next.kekId, disks: disks.length },
      'deep recrypt done',
    )
    return { ...(await this.describe(name)), disksReencrypted: disks.length }
  }

  /**
   * Shallow recrypt (vSphere's CryptoSpecShallowRecrypt): the VM's keys rewrapped under a new KEK
   * and every disk's Ward token with them; no data is touched, so it runs powered on (there are no
   * snapshots, so no second branch to refuse). The new bundle is written first, beside the old
   * one; a failure on a disk leaves the VM usable under either KEK, and running it again finishes.
   */
  async recryptShallow(
    name: string,
    to: { providerId?: string | undefined; kekId: string },
  ): Promise<VmDescription & { disksRewrapped: number; snapshotDisksRewrapped: number }> {
    const { reg, config: c } = this.#find(name)
    if (!c.encryption)
      throw new HostError(
        'ERR_HOST_VM_ENCRYPTION',
        `VM '${name}' is not encrypted: there is no KEK to replace (encrypt it first)`,
      )
    const e = c.encryption
    if (e.deepRecrypt)
      throw new HostError(
        'ERR_HOST_VM_RECRYPT_PARTIAL',
        `VM '${name}' has an unfinished deep recrypt: run it again first`,
      )
    const branches = branchCount(c.snapshots)
    if (branches > 1)
      throw new HostError(
        'ERR_HOST_VM_SNAPSHOTS',
        `${VmMessages.shallowRecryptOneBranch} VM '${name}' has ${branches} branches: remove snapshots until one chain is left (ward host vm snapshot list ${name})`,
        { vm: name, branches },
      )
    const next = {
      providerId: checkIdArg(to.providerId ?? e.providerId),
      kekId: checkIdArg(to.kekId),
    }
    if (!this.#o.cache.has(next.providerId, next.kekId))
      throw new HostError(
        'ERR_HOST_KEY_NOT_FOUND',
        `the new KEK '${next.kekId}' of key provider '${next.providerId}' is not in the key cache: add it first (ward crypto-util keys add ${next.providerId} ${next.kekId} --kek-file FILE)`,
        { ...next },
      )
    // a recrypt stopped midway, run again to the same new KEK, resumes
    const resuming =
      e.previous !== undefined && e.providerId === next.providerId && e.kekId === next.kekId
    const from = resuming ? e.previous! : e
    if (!resuming && from.providerId === next.providerId && from.kekId === next.kekId)
      throw new HostError(
        'ERR_HOST_BAD_ARGUMENT',
        `VM '${name}' is already under KEK '${next.kekId}' of '${next.providerId}'`,
      )
    if (!this.#o.cache.has(from.providerId, from.kekId)) throw this.#lockedError(c)
    if (!resuming) {
      const bytes = bundleFromBase64(from.bundle)
      const oldKek = this.#o.cache.use(from.providerId, from.kekId, (k) => new Uint8Array(k))
      let fresh: Uint8Array
      try {
        fresh = this.#o.cache.use(next.providerId, next.kekId, (k) =>
          rewrapBundle(bytes, oldKek, k, next),
        )
      } finally {
        oldKek.fill(0)
      }
      writeVmConfig(reg.path, {
        ...c,
        encryption: {
          ...next,
          bundle: bundleToBase64(fresh),
          previous: { providerId: from.providerId, kekId: from.kekId, bundle: from.bundle },
        },
      })
    }
    let done = 0
    // the live disks, then every snapshot's copies (same DEK, same token wrapping: one chain)
    const disks: { id: string; file: string }[] = [
      ...c.disks.filter((d) => d.encrypted),
      ...(c.snapshots?.list ?? []).flatMap((p) =>
        p.disks
          .filter((d) => d.encrypted)
          .map((d) => ({
            id: `${d.id} of snapshot ${p.name}`,
            file: join(SNAPSHOT_DIR, p.id, d.file),
          })),
      ),
    ]
    for (const d of disks) {
      try {
        await this.#withKek(from, (oldKek) =>
          this.#withKek(next, async (newKek) => {
            rekeyShallow(join(reg.path, d.file), {
              kek: oldKek,
              newKek,
              kekId: next.kekId,
              providerId: next.providerId,
            })
          }),
        )
      } catch (err) {
        throw new HostError(
          'ERR_HOST_VM_RECRYPT_PARTIAL',
          `shallow recrypt of VM '${name}' stopped at ${d.id} (${done} of ${disks.length} disks rewrapped; ${(err as { code?: string }).code ?? 'error'}): the VM remains usable under either KEK, '${from.kekId}' of '${from.providerId}' or '${next.kekId}' of '${next.providerId}'; fix the cause and run the recrypt again before any other operation`,
          { vm: name, done, disks: disks.length },
          { cause: err },
        )
      }
      done++
    }
    const now = readVmConfig(reg.path)
    writeVmConfig(reg.path, {
      ...now,
      encryption: {
        providerId: next.providerId,
        kekId: next.kekId,
        bundle: now.encryption!.bundle,
      },
    })
    this.#log.info(
      {
        vm: name,
        from: from.kekId,
        to: next.kekId,
        disks: done,
        poweredOn: this.#running.has(c.id),
      },
      'shallow recrypt done',
    )
    const live = c.disks.filter((d) => d.encrypted).length
    return {
      ...(await this.describe(name)),
      disksRewrapped: live,
      snapshotDisksRewrapped: done - live,
    }
  }

  /** A copy of a cached KEK for an async use, zeroed when `fn` settles. */
  async #withKek<T>(ref: KeyRef, fn: (kek: Uint8Array) => Promise<T>): Promise<T> {
    const kek = this.#o.cache.use(ref.providerId, ref.kekId, (k) => new Uint8Array(k))
    try {
      return await fn(kek)
    } finally {
      kek.fill(0)
    }
  }

  // ---- create / register

  async create(p: {
    name: string
    cpus?: number
    memory?: string
    disks?: readonly string[]
    firmware?: 'bios' | 'efi'
    vtpm?: boolean
    autostart?: boolean
    datastore?: string
    encrypt?: boolean
    providerId?: string
    kekId?: string
  }): Promise<VmDescription> {
    const name = checkVmName(p.name)
    const cpus = checkCpus(p.cpus ?? 1)
    const mem = memoryMiB(p.memory ?? '256M')
    const sizes = (p.disks ?? []).map(diskBytes)
    if (sizes.length > VM_LIMITS.disks.max)
      throw new HostError('ERR_HOST_BAD_ARGUMENT', `a VM has at most ${VM_LIMITS.disks.max} disks`)
    if ((p.providerId !== undefined || p.kekId !== undefined) && p.encrypt !== true)
      throw new HostError('ERR_HOST_BAD_ARGUMENT', '--provider-id and --kek-id go with --encrypt')
    if (p.encrypt === true && (p.providerId === undefined || p.kekId === undefined))
      throw new HostError(
        'ERR_HOST_BAD_ARGUMENT',
        '--encrypt needs --provider-id and --kek-id (a KEK in the key cache)',
      )
    if (p.vtpm === true && p.encrypt !== true)
      throw new HostError(
        'ERR_HOST_VM_ENCRYPTION',
        'a vTPM needs an encrypted VM (its state is encrypted with the VM): add --encrypt --provider-id P --kek-id K',
      )
    const inv = this.#inventory()
    if (inv.vms.some((v) => v.name === name))
      throw new HostError('ERR_HOST_VM_EXISTS', `a VM named '${name}' is already registered`)
    const ds = this.#datastore(inv, p.datastore)
    const folder = join(ds.path, name)
    if (existsSync(folder))
      throw new HostError(
        'ERR_HOST_VM_EXISTS',
        `${folder} already exists: register it (ward host vm register ${folder}) or choose another name`,
      )
    const id = randomUUID()
    const kek = p.encrypt === true ? { providerId: p.providerId!, kekId: p.kekId! } : undefined
    if (kek && !this.#o.cache.has(kek.providerId, kek.kekId))
      throw new HostError(
        'ERR_HOST_KEY_NOT_FOUND',
        `KEK '${kek.kekId}' of key provider '${kek.providerId}' is not in the key cache: add it first (ward crypto-util keys add ${kek.providerId} ${kek.kekId} --kek-file FILE)`,
        { ...kek },
      )
    mkdirSync(folder, { mode: 0o700 })
    const disks: VmDisk[] = sizes.map((sizeBytes, i) => ({
      id: `disk${i}`,
      file: kek ? `disk${i}.luks` : `disk${i}.img`,
      sizeBytes,
      encrypted: kek !== undefined,
    }))
    const deks = new Map<string, Uint8Array>()
    const fileKey = new Uint8Array(randomBytes(32))
    try {
      let encryption: VmConfig['encryption']
      if (kek) {
        for (const d of disks) deks.set(d.id, newDek())
        for (const d of disks)
          await this.#withKek(kek, (k) =>
            createThinDisk(join(folder, d.file), {
              size: d.sizeBytes,
              dek: deks.get(d.id)!,
              kek: k,
              ...kek,
            }),
          )
        const bundle = this.#o.cache.use(kek.providerId, kek.kekId, (k) =>
          sealBundle({ ...kek, fileKey, disks: deks }, k),
        )
        encryption = { ...kek, bundle: bundleToBase64(bundle) }
      } else for (const d of disks) createSparse(join(folder, d.file), d.sizeBytes)
      const config: VmConfig = {
        version: VM_CONFIG_VERSION,
        id,
        name,
        cpus,
        memoryMiB: mem,
        firmware: p.firmware ?? 'bios',
        vtpm: p.vtpm ?? false,
        autostart: p.autostart ?? false,
        disks,
        ...(encryption ? { encryption } : {}),
      }
      if (config.firmware === 'efi') await createNvram(folder, config, kek ? fileKey : undefined)
      writeVmConfig(folder, config)
      fsyncDir(folder)
      const now = this.#inventory()
      writeInventory(this.#o.dataDir, { ...now, vms: [...now.vms, { id, name, path: folder }] })
      this.#log.info(
        { vm: name, id, encrypted: kek !== undefined, disks: disks.length },
        'VM created',
      )
    } catch (e) {
      rmSync(folder, { recursive: true, force: true })
      throw e
    } finally {
      fileKey.fill(0)
      for (const d of deks.values()) d.fill(0)
    }
    return this.describe(name)
  }

  #datastore(inv: Inventory, name: string | undefined): Datastore {
    if (name !== undefined) {
      const d = inv.datastores.find((x) => x.name === name)
      if (!d)
        throw new HostError(
          'ERR_HOST_DATASTORE_NOT_FOUND',
          `no datastore '${name.slice(0, 64)}' (ward host datastore list)`,
        )
      return d
    }
    if (inv.datastores.length === 1) return inv.datastores[0]!
    throw new HostError(
      'ERR_HOST_DATASTORE_NOT_FOUND',
      inv.datastores.length === 0
        ? 'this host has no datastore: add one with ward host datastore add NAME PATH'
        : `this host has ${inv.datastores.length} datastores: choose one with --datastore`,
    )
  }

  register(path: string): Promise<VmDescription> {
    let folder = resolve(path)
    if (basename(folder) === VM_CONFIG_FILE) folder = dirname(folder)
    const config = readVmConfig(folder)
    const inv = this.#inventory()
    const same = inv.vms.find((v) => v.id === config.id || v.name === config.name)
    if (same)
      throw new HostError(
        'ERR_HOST_VM_EXISTS',
        same.id === config.id
          ? `this VM is already registered as '${same.name}' (${same.path})`
          : `a VM named '${config.name}' is already registered (${same.path}): unregister it first`,
      )
    writeInventory(this.#o.dataDir, {
      ...inv,
      vms: [...inv.vms, { id: config.id, name: config.name, path: folder }],
    })
    this.#log.info({ vm: config.name, id: config.id }, 'VM registered')
    return this.describe(config.name)
  }

  /**
   * What the VM folder at `path` (or its vm.json) holds, without registering it: its id, name,
   * whether it is encrypted and under which KEK, and whether this host has it registered
   * (the center checks Cryptographer.RegisterVM before it registers an encrypted VM).
   */
  inspect(path: string): VmInspection {
    let folder = resolve(path)
    if (basename(folder) === VM_CONFIG_FILE) folder = dirname(folder)
    const c = readVmConfig(folder)
    const reg = this.#inventory().vms.find((v) => v.id === c.id)
    return {
      id: c.id,
      name: c.name,
      path: folder,
      firmware: c.firmware,
      vtpm: c.vtpm,
      disks: c.disks.length,
      encrypted: c.encryption !== undefined,
      ...(c.encryption
        ? { encryption: { providerId: c.encryption.providerId, kekId: c.encryption.kekId } }
        : {}),
      registered: reg !== undefined,
      ...(reg ? { registeredAs: reg.name } : {}),
    }
  }

  // ---- clone

  /**
   * Full clone (vSphere's CloneVM_Task, full clone): a new VM `to.name` made from `name`'s current
   * state, on its datastore (or `to.datastore`). Every disk is copied as it is (a reflink, else a
   * sparse copy: holes stay holes), so an encrypted source gives an encrypted clone that keeps its
   * keys: the same KEK, the same DEKs (vSphere: "a full clone inherits the encryption state and
   * keys"); the clone gets a new id, a new file key (its bundle sealed again under the KEK), its
   * UEFI variable store sealed again for its new identity, and a new blank vTPM (vSphere 8's
   * TPM provision policy "replace": the source's vTPM identity is not duplicated). Snapshots and a
   * suspended state are not cloned (the clone is powered off, with none). The seed allows a clone
   * of a powered-on VM: the guest is stopped while its disks are copied (QEMU flushes them
   * first), then runs on. The clone is made in a staging folder, renamed into place, then
   * registered: a failure or a crash before the rename leaves no clone (a rerun starts again), one
   * after it is finished by a rerun (`.ward-clone` in the folder says whose clone it is).
   */
  async clone(
    name: string,
    to: { readonly name: string; readonly datastore?: string | undefined },
    onProgress?: (p: OpProgress) => void,
  ): Promise<VmDescription & { clonedFrom: string }> {
    const { reg, config: c } = this.#find(name)
    const newName = checkVmName(to.name)
    const inv = this.#inventory()
    const dsPath =
      to.datastore !== undefined ? this.#datastore(inv, to.datastore).path : dirname(reg.path)
    const folder = join(dsPath, newName)
    const marker = join(folder, CLONE_MARKER)
    // a rerun after a crash between the rename and the end: finish it
    const markedBy = (): string | undefined => {
      try {
        return (JSON.parse(readFileSync(marker, 'utf8')) as { source?: string }).source
      } catch {
        return undefined
      }
    }
    const taken = inv.vms.find((v) => v.name === newName)
    if (taken) {
      if (taken.path === folder && markedBy() === c.id) {
        rmSync(marker, { force: true })
        return { ...(await this.describe(newName)), clonedFrom: c.id }
      }
      throw new HostError(
        'ERR_HOST_VM_EXISTS',
        `a VM named '${newName}' is already registered: choose another name for the clone`,
      )
    }
    if (existsSync(folder)) {
      if (markedBy() === c.id) return this.#finishClone(folder, marker, c.id)
      throw new HostError(
        'ERR_HOST_VM_EXISTS',
        `${folder} already exists: choose another name for the clone (or register that folder)`,
      )
    }
    if (c.cryptoTask || c.encryption?.previous || c.encryption?.deepRecrypt)
      throw new HostError(
        'ERR_HOST_VM_RECRYPT_PARTIAL',
        `VM '${name}' has an unfinished ${unfinishedTask(c)!.task}: run it again (${unfinishedTask(c)!.command}) before cloning it`,
        { vm: name },
      )
    const id = randomUUID()
    // the clone's configuration: the source's shape, a new identity, no snapshot, no suspend
    const base: { -readonly [K in keyof VmConfig]?: VmConfig[K] } = {
      ...withoutSuspended(c),
      id,
      name: newName,
      autostart: false,
    }
    delete base.snapshots
    const stage = join(dsPath, `.${newName}${CLONE_STAGE_SUFFIX}`)
    rmSync(stage, { recursive: true, force: true }) // a clone a crash left half-made
    const run = this.#running.get(c.id)
    const progress = vmProgress(c.disks, onProgress)
    let opened: OpenedBundle | undefined
    const fileKey = new Uint8Array(randomBytes(32))
    const tmp = join(this.#runDir(), 'vms', id)
    try {
      if (c.encryption) opened = this.#openBundle(c) // the locked error without the KEK
      mkdirSync(stage, { mode: 0o700 })
      writeFileSync(join(stage, CLONE_MARKER), `${JSON.stringify({ source: c.id, id })}\n`, {
        mode: 0o600,
      })
      let config = base as VmConfig
      if (c.encryption && opened) {
        const e = c.encryption
        const bundle = this.#o.cache.use(e.providerId, e.kekId, (k) =>
          sealBundle(
            { providerId: e.providerId, kekId: e.kekId, fileKey, disks: opened!.disks },
            k,
          ),
        )
        config = {
          ...config,
          encryption: { providerId: e.providerId, kekId: e.kekId, bundle: bundleToBase64(bundle) },
        }
      }
      if (run) await run.qemu.qmp.execute('stop', undefined, 30_000)
      try {
        for (const d of c.disks) {
          const report = progress.disk(d)
          await copyDisk(join(reg.path, d.file), join(stage, d.file))
          report(d.sizeBytes)
        }
        if (c.firmware === 'efi') {
          if (!c.encryption) {
            if (existsSync(join(reg.path, NVRAM_PLAIN)))
              await copyDisk(join(reg.path, NVRAM_PLAIN), join(stage, NVRAM_PLAIN))
          } else if (run?.nvram?.fileKey) {
            // the running VM's live store, sealed for the clone
            await sealNvramCopy(run.nvram.plain, join(stage, NVRAM_SEALED), config, fileKey)
          } else if (existsSync(join(reg.path, NVRAM_SEALED))) {
            mkdirSync(tmp, { recursive: true, mode: 0o700 })
            const plainDir = nvramRunFolder(tmp, config)
            const plain = await openNvram(reg.path, c, opened!.fileKey, plainDir)
            try {
              await sealNvramCopy(plain, join(stage, NVRAM_SEALED), config, fileKey)
            } finally {
              wipeFile(plain)
              if (plainDir !== tmp) rmSync(plainDir, { recursive: true, force: true })
            }
          }
        }
      } finally {
        if (run) await run.qemu.qmp.execute('cont', undefined, 10_000)
      }
      writeVmConfig(stage, config)
      fsyncDir(stage)
      renameSync(stage, folder)
      fsyncDir(dsPath)
    } catch (e) {
      rmSync(stage, { recursive: true, force: true })
      throw e
    } finally {
      fileKey.fill(0)
      if (opened) zeroBundleKeys(opened)
      rmSync(tmp, { recursive: true, force: true })
    }
    progress.finished()
    return this.#finishClone(folder, marker, c.id)
  }

  /** The clone's folder is complete: register it, then drop its marker. */
  async #finishClone(
    folder: string,
    marker: string,
    source: string,
  ): Promise<VmDescription & { clonedFrom: string }> {
    const config = readVmConfig(folder)
    const inv = this.#inventory()
    writeInventory(this.#o.dataDir, {
      ...inv,
      vms: [...inv.vms, { id: config.id, name: config.name, path: folder }],
    })
    rmSync(marker, { force: true })
    fsyncDir(folder)
    this.#log.info(
      { vm: config.name, id: config.id, source, encrypted: config.encryption !== undefined },
      'VM cloned',
    )
    return { ...(await this.describe(config.name)), clonedFrom: source }
  }

  /** Remove from the inventory (files stay); the KEK leaves the cache unless another VM uses it. */
  async unregister(name: string): Promise<{ name: string; evictedKey: boolean }> {
    const { reg, config } = this.#find(name)
    this.#refuseRunning(config, 'unregister')
    const inv = this.#inventory()
    writeInventory(this.#o.dataDir, { ...inv, vms: inv.vms.filter((v) => v.id !== reg.id) })
    this.#pendingAutostart.delete(reg.id)
    this.#log.info({ vm: name, id: reg.id }, 'VM unregistered')
    return { name, evictedKey: await this.#evictUnused(config) }
  }

  async #evictUnused(config: VmConfig): Promise<boolean> {
    const ref = this.#kekRef(config)
    if (!ref || !this.#o.cache.has(ref.providerId, ref.kekId)) return false
    if (this.#o.hostUses?.(ref)) return false
    for (const v of this.#inventory().vms) {
      let other: VmConfig
      try {
        other = readVmConfig(v.path)
      } catch {
        continue
      }
      const refs = [this.#kekRef(other), other.encryption?.previous]
      if (refs.some((r) => r && r.providerId === ref.providerId && r.kekId === ref.kekId))
        return false
    }
    await this.#o.evictKey(ref)
    return true
  }

  async destroy(name: string): Promise<{ name: string; evictedKey: boolean }> {
    const { reg, config } = this.#find(name)
    this.#refuseRunning(config, 'destroy')
    const inv = this.#inventory()
    writeInventory(this.#o.dataDir, { ...inv, vms: inv.vms.filter((v) => v.id !== reg.id) })
    this.#pendingAutostart.delete(reg.id)
    // only the files this VM owns: its config, disks, logs
    const own = [
      VM_CONFIG_FILE,
      QEMU_LOG,
      SERIAL_LOG,
      NVRAM_PLAIN,
      NVRAM_SEALED,
      VTPM_LOG,
      SUSPEND_PLAIN,
      SUSPEND_SEALED,
    ]
    rmSync(join(reg.path, VTPM_DIR), { recursive: true, force: true })
    rmSync(join(reg.path, SNAPSHOT_DIR), { recursive: true, force: true })
    for (const f of [...own, ...config.disks.map((d) => d.file)])
      rmSync(join(reg.path, f), { force: true })
    try {
      if (readdirSync(reg.path).length === 0) rmSync(reg.path, { recursive: true })
    } catch {
      // left for the admin
    }
    this.#log.info({ vm: name, id: reg.id }, 'VM destroyed')
    return { name, evictedKey: await this.#evictUnused(config) }
  }

  async addDisk(name: string, size: string, encrypt: boolean | undefined): Promise<VmDescription> {
    const { reg, config } = this.#find(name)
    this.#refuseRunning(config, 'add a disk to')
    if (config.suspended)
      throw new HostError(
        'ERR_HOST_VM_POWER_STATE',
        `VM '${name}' is suspended: resume and power it off before adding a disk`,
      )
    if (encrypt === true && !config.encryption)
      throw new HostError(
        'ERR_HOST_VM_ENCRYPTION',
        `${VmMessages.encryptedDiskNeedsEncryptedVm} Encrypt VM '${name}' first.`,
      )
    if (encrypt === false && config.encryption)
      throw new HostError(
        'ERR_HOST_VM_ENCRYPTION',
        `VM '${name}' is encrypted: its disks are encrypted too (decrypt the VM first for a plain disk)`,
      )
    if (config.disks.length >= VM_LIMITS.disks.max)
      throw new HostError('ERR_HOST_BAD_ARGUMENT', `a VM has at most ${VM_LIMITS.disks.max} disks`)
    const sizeBytes = diskBytes(size)
    let n = 0
    while (config.disks.some((d) => d.id === `disk${n}`)) n++
    const id = `disk${n}`
    const disk: VmDisk = {
      id,
      file: config.encryption ? `${id}.luks` : `${id}.img`,
      sizeBytes,
      encrypted: config.encryption !== undefined,
    }
    const path = join(reg.path, disk.file)
    if (!config.encryption) {
      createSparse(path, sizeBytes)
      writeVmConfig(reg.path, { ...config, disks: [...config.disks, disk] })
    } else {
      const e = config.encryption
      const opened = this.#openBundle(config)
      const dek = newDek()
      try {
        const disks = new Map(opened.disks)
        disks.set(id, dek)
        await this.#withKek(e, (k) =>
          createThinDisk(path, {
            size: sizeBytes,
            dek,
            kek: k,
            providerId: e.providerId,
            kekId: e.kekId,
          }),
        )
        const bundle = this.#o.cache.use(e.providerId, e.kekId, (k) =>
          sealBundle({ ...opened, disks }, k),
        )
        writeVmConfig(reg.path, {
          ...config,
          disks: [...config.disks, disk],
          encryption: { ...e, bundle: bundleToBase64(bundle) },
        })
      } catch (err) {
        rmSync(path, { force: true })
        throw err
      } finally {
        dek.fill(0)
        zeroBundleKeys(opened)
      }
    }
    this.#log.info({ vm: name, disk: id, encrypted: disk.encrypted }, 'disk added')
    return this.describe(name)
  }

  setAutostart(name: string, enabled: boolean): Promise<VmDescription> {
    const { reg, config } = this.#find(name)
    writeVmConfig(reg.path, { ...config, autostart: enabled })
    if (!enabled) this.#pendingAutostart.delete(reg.id)
    return this.describe(name)
  }

  #refuseRunning(c: VmConfig, what: string): void {
    if (this.#running.has(c.id))
      throw new HostError(
        'ERR_HOST_VM_POWER_STATE',
        `cannot ${what} VM '${c.name}' while it is powered on: power it off first (ward host vm power-off ${c.name})`,
        { vm: c.name, powerState: 'poweredOn' },
      )
  }

  // ---- describe

  async accelerator(): Promise<ProbeResult> {
    if (this.#accel) return this.#accel
    this.#accelProbe ??= chooseAccelerator({
      qemu: this.#qemu,
      cacheDir: this.#o.dataDir,
      runDir: this.#runDir(),
      ...(this.#o.probeTimeoutMs !== undefined ? { timeoutMs: this.#o.probeTimeoutMs } : {}),
    }).then((r) => {
      this.#accel = r
      this.#log.info({ accelerator: r.accelerator, reason: r.reason }, 'accelerator chosen')
      return r
    })
    return this.#accelProbe
  }

  async list(): Promise<VmDescription[]> {
    const out: VmDescription[] = []
    for (const v of this.#inventory().vms) out.push(await this.describe(v.name))
    return out
  }

  async describe(name: string): Promise<VmDescription> {
    const { reg, config: c } = this.#find(name)
    const run = this.#running.get(c.id)
    const accel = run
      ? { accelerator: run.accelerator, reason: 'in use by this VM' }
      : await this.accelerator()
    let qemuStatus: string | undefined
    if (run && !run.stopping)
      try {
        const s = (await run.qemu.qmp.execute('query-status', undefined, 3000)) as {
          status?: string
        }
        qemuStatus = s.status
      } catch {
        qemuStatus = 'unknown'
      }
    const keys: KeyState[] = []
    let cryptoState: VmDescription['cryptoState']
    let lockedReason: string | undefined
    if (c.encryption) {
      const { providerId, kekId } = c.encryption
      const inCache = this.#o.cache.has(providerId, kekId)
      keys.push({
        role: 'KEK',
        providerId,
        kekId,
        state: inCache ? 'in cache' : 'missing in cache',
      })
      const prev = c.encryption.previous
      const prevInCache = prev !== undefined && this.#o.cache.has(prev.providerId, prev.kekId)
      if (prev)
        keys.push({
          role: 'previous KEK',
          providerId: prev.providerId,
          kekId: prev.kekId,
          state: prevInCache ? 'in cache' : 'missing in cache',
        })
      let opened: OpenedBundle | undefined
      if (inCache || prevInCache)
        try {
          opened = this.#openBundle(c)
        } catch (e) {
          lockedReason = `the key in the cache does not open the VM's key bundle (${(e as { code?: string }).code ?? 'error'})`
        }
      else lockedReason = VmMessages.lockedReasonShort
      try {
        keys.push({
          role: 'file key',
          providerId,
          kekId,
          state: opened ? 'in bundle' : 'unknown',
        })
        for (const d of c.disks.filter((x) => x.encrypted))
          keys.push({
            role: 'disk DEK',
            providerId,
            kekId,
            disk: d.id,
            state: opened
              ? opened.disks.has(d.id)
                ? 'in bundle'
                : 'missing in bundle'
              : 'unknown',
          })
      } finally {
        if (opened) zeroBundleKeys(opened)
      }
      cryptoState = lockedReason === undefined ? 'unlocked' : 'locked'
    }
    const unfinished = unfinishedTask(c)
    return {
      id: c.id,
      name: c.name,
      path: reg.path,
      powerState: run ? 'poweredOn' : c.suspended ? 'suspended' : 'poweredOff',
      accelerator: accel.accelerator,
      acceleratorReason: accel.reason,
      cpus: c.cpus,
      memoryMiB: c.memoryMiB,
      firmware: c.firmware,
      vtpm: c.vtpm,
      autostart: c.autostart,
      disks: c.disks.map((d) => ({
        ...d,
        path: join(reg.path, d.file),
        allocatedBytes: allocated(join(reg.path, d.file)),
      })),
      ...(c.firmware === 'efi'
        ? {
            nvram: {
              path: join(reg.path, c.encryption ? NVRAM_SEALED : NVRAM_PLAIN),
              encrypted: c.encryption !== undefined,
            },
          }
        : {}),
      encrypted: c.encryption !== undefined,
      ...(c.encryption
        ? { encryption: { providerId: c.encryption.providerId, kekId: c.encryption.kekId } }
        : {}),
      ...(cryptoState ? { cryptoState } : {}),
      ...(lockedReason !== undefined ? { lockedReason } : {}),
      keys,
      ...(c.snapshots
        ? {
            snapshots: {
              count: c.snapshots.list.length,
              ...(c.snapshots.current
                ? { current: findSnapshot(c.snapshots, c.name, c.snapshots.current).name }
                : {}),
            },
          }
        : {}),
      ...(unfinished ? { unfinished } : {}),
      ...(run ? { pid: run.qemu.pid } : {}),
      ...(qemuStatus !== undefined ? { qemuStatus } : {}),
      log: join(reg.path, QEMU_LOG),
      console: join(reg.path, SERIAL_LOG),
    }
  }

  // ---- power

  /** Power on; a suspended VM resumes (as on vSphere). */
  async powerOn(name: string, boot: BootOptions = {}): Promise<VmDescription> {
    const { config } = this.#find(name)
    if (config.suspended) {
      if (boot.kernel !== undefined || boot.initrd !== undefined || boot.append !== undefined)
        throw new HostError(
          'ERR_HOST_VM_POWER_STATE',
          `VM '${name}' is suspended: it resumes with the boot options it had (run power-on or resume without --kernel, --initrd, --append)`,
        )
      return this.resume(name)
    }
    return this.#start(name, boot, false)
  }

  async #start(name: string, boot: BootOptions, incoming: boolean): Promise<VmDescription> {
    const { reg, config: c } = this.#find(name)
    this.#refuseRunning(c, 'power on')
    if (c.encryption?.deepRecrypt)
      throw new HostError(
        'ERR_HOST_VM_RECRYPT_PARTIAL',
        `VM '${name}' has an unfinished deep recrypt: run 'ward host vm recrypt ${name} --deep' again to finish it, then power on`,
      )
    if (c.cryptoTask)
      throw new HostError(
        'ERR_HOST_VM_RECRYPT_PARTIAL',
        `VM '${name}' has an unfinished ${c.cryptoTask.op}: run 'ward host vm ${c.cryptoTask.op} ${name}' again to finish it, then power on`,
      )
    for (const f of [boot.kernel, boot.initrd])
      if (f !== undefined && !isAbsolute(f))
        throw new HostError(
          'ERR_HOST_BAD_ARGUMENT',
          `--kernel and --initrd take absolute paths (got ${f})`,
        )
    if (boot.initrd !== undefined && boot.kernel === undefined)
      throw new HostError('ERR_HOST_BAD_ARGUMENT', '--initrd needs --kernel')
    if (boot.append !== undefined && boot.kernel === undefined)
      throw new HostError('ERR_HOST_BAD_ARGUMENT', '--append needs --kernel')
    const runFolder = join(this.#runDir(), 'vms', c.id)
    if (join(runFolder, 'disk00.sock').length > MAX_SOCKET_PATH)
      throw new HostError(
        'ERR_HOST_RUN_DIR',
        `the run folder ${runFolder} is too deep for unix sockets: use a shorter run folder`,
      )
    let opened: OpenedBundle | undefined
    if (c.encryption) opened = this.#openBundle(c) // the locked error when the KEK is missing
    const filters: DiskServer[] = []
    let nvram: RunNvram | undefined
    let vtpm: Vtpm | undefined
    let fileKey: Secret | undefined
    try {
      const disks: DiskBacking[] = []
      rmSync(runFolder, { recursive: true, force: true })
      mkdirSync(runFolder, { mode: 0o700 })
      for (const d of c.disks) {
        const path = join(reg.path, d.file)
        if (!d.encrypted) {
          disks.push({ rawFile: path })
          continue
        }
        const dek = opened?.disks.get(d.id)
        if (!dek)
          throw new HostError('ERR_HOST_VM_DISK_KEY', VmMessages.diskKeyMissing(path), {
            vm: name,
            disk: d.id,
          })
        if (!this.#o.filter)
          throw new HostError(
            'ERR_HOST_FILTER_UNAVAILABLE',
            'this agent has no crypto filter: encrypted VMs cannot power on here',
          )
        const socketPath = join(runFolder, `${d.id}.sock`)
        filters.push(await this.#o.filter({ path, volumeKey: dek, socketPath }))
        disks.push({ nbdSocket: socketPath })
      }
      if (c.firmware === 'efi') {
        if (opened) {
          const fileKey = Secret.take(new Uint8Array(opened.fileKey))
          const tmp = nvramRunFolder(runFolder, c)
          const plain = await fileKey.use((k) => openNvram(reg.path, c, k, tmp))
          nvram = {
            plain,
            fileKey,
            ...(tmp !== runFolder ? { tmpfsFolder: tmp } : {}),
            // from before QEMU opens it: every change the guest's firmware makes is sealed back
            writeBack: watchNvram({
              folder: reg.path,
              config: c,
              plain,
              fileKey,
              onSealed: () => this.#log.debug({ vm: c.name }, 'NVRAM written back'),
              onError: (e) =>
                this.#log.error(
                  { vm: c.name, code: (e as { code?: string }).code ?? 'error' },
                  'NVRAM write-back failed: retried at the next change and at power-off',
                ),
            }),
          }
        } else nvram = { plain: await openNvram(reg.path, c, undefined, runFolder) }
      }
      if (c.vtpm) {
        if (!opened)
          throw new HostError(
            'ERR_HOST_VM_ENCRYPTION',
            `VM '${name}': a vTPM needs an encrypted VM`,
          )
        const key = vtpmStateKey(opened.fileKey, c.id)
        try {
          vtpm = await startVtpm({ folder: reg.path, runFolder, key })
        } finally {
          key.fill(0)
        }
      }
      if (opened) {
        fileKey = Secret.take(new Uint8Array(opened.fileKey))
        zeroBundleKeys(opened)
        opened = undefined
      }
      const accel = await this.accelerator()
      const args = [
        ...qemuArgs({
          config: c,
          accelerator: accel.accelerator,
          folder: reg.path,
          runFolder,
          disks,
          boot,
          incoming,
        }),
        ...(nvram ? ovmfArgs(nvram.plain) : []),
        ...(vtpm ? vtpmQemuArgs(vtpm.socket) : []),
      ]
      const qemu = await startQemu({ qemu: this.#qemu, args, folder: reg.path, runFolder })
      const run: Running = {
        qemu,
        accelerator: accel.accelerator,
        runFolder,
        filters,
        startedAt: new Date().toISOString(),
        stopping: false,
        boot,
        fileKey,
        nvram,
        stopped: qemu.exited.then(async (r) => {
          this.#running.delete(c.id)
          qemu.qmp.close()
          await Promise.allSettled(filters.map((f) => f.close({ timeoutMs: 2000 })))
          await this.#closeNvram(reg.path, c, nvram)
          await vtpm?.stop()
          fileKey?.dispose()
          rmSync(runFolder, { recursive: true, force: true })
          this.#log.info(
            { vm: c.name, id: c.id, code: r.code, signal: r.signal, requested: run.stopping },
            'VM powered off',
          )
        }),
      }
      this.#running.set(c.id, run)
      this.#pendingAutostart.delete(c.id)
      this.#log.info(
        {
          vm: c.name,
          id: c.id,
          pid: qemu.pid,
          accelerator: accel.accelerator,
          disks: disks.length,
        },
        'VM powered on',
      )
    } catch (e) {
      await Promise.allSettled(filters.map((f) => f.close({ timeoutMs: 2000 })))
      await vtpm?.stop()
      // QEMU never ran: the store is unchanged, the plaintext copy is only wiped
      await nvram?.writeBack?.close()
      if (nvram?.fileKey) {
        wipeFile(nvram.plain)
        nvram.fileKey.dispose()
      }
      if (nvram?.tmpfsFolder) rmSync(nvram.tmpfsFolder, { recursive: true, force: true })
      fileKey?.dispose()
      rmSync(runFolder, { recursive: true, force: true })
      throw e
    } finally {
      if (opened) zeroBundleKeys(opened)
    }
    return this.describe(name)
  }

  /**
   * After QEMU exits: an encrypted VM's variable store sealed back (the run's write-back stopped
   * first), its plaintext wiped.
   */
  async #closeNvram(folder: string, c: VmConfig, nvram: RunNvram | undefined): Promise<void> {
    if (!nvram?.fileKey) return
    try {
      await nvram.writeBack?.close()
      await nvram.fileKey.use((k) => sealNvram(folder, c, k, nvram.plain))
    } catch (e) {
      this.#log.error(
        { vm: c.name, code: (e as { code?: string }).code ?? 'error' },
        'the NVRAM could not be sealed back: the run changes to UEFI variables are lost',
      )
    } finally {
      nvram.fileKey.dispose()
      if (nvram.tmpfsFolder) rmSync(nvram.tmpfsFolder, { recursive: true, force: true })
    }
  }

  /**
   * Power on `name` waiting for an incoming state (QEMU `-incoming defer`) and stream `image` (a
   * suspend or memory-snapshot image, sealed with the VM's file key when encrypted) into it. On
   * failure the VM is stopped again and the image is left where it is.
   */
  async #startFromImage(
    name: string,
    c: VmConfig,
    boot: BootOptions,
    image: string,
  ): Promise<void> {
    await this.#start(name, boot, true)
    const run = this.#running.get(c.id)!
    const load = (key: Uint8Array | undefined): Promise<void> =>
      loadState({
        qmp: run.qemu.qmp,
        runFolder: run.runFolder,
        image,
        seal: key ? this.#stateSeal(c, key) : undefined,
      })
    try {
      if (run.fileKey) await run.fileKey.use((k) => load(k))
      else await load(undefined)
    } catch (e) {
      await this.#stop(run, true, 0)
      throw e
    }
  }

  /** Stream a running VM's state into `out`, sealed with its file key when encrypted. */
  async #saveImage(run: Running, c: VmConfig, out: string): Promise<void> {
    const save = (key: Uint8Array | undefined): Promise<void> =>
      saveState({
        qmp: run.qemu.qmp,
        runFolder: run.runFolder,
        out,
        seal: key ? this.#stateSeal(c, key) : undefined,
      })
    if (run.fileKey) await run.fileKey.use((k) => save(k))
    else await save(undefined)
  }

  #stateSeal(c: VmConfig, key: Uint8Array): StateSeal {
    return { key, vmId: c.id, providerId: 'ward-vm', kekId: `${c.id}/file-key` }
  }

  /**
   * Suspend: the guest stops, QEMU's state is streamed through the agent into the suspend image
   * (sealed with the VM's file key when it is encrypted: role snapshot-memory, bound to the VM
   * id), the boot options are recorded in vm.json, and QEMU exits.
   */
  async suspend(name: string): Promise<VmDescription> {
    const { reg, config: c } = this.#find(name)
    const run = this.#running.get(c.id)
    if (!run)
      throw new HostError('ERR_HOST_VM_POWER_STATE', `VM '${name}' is not powered on`, {
        vm: name,
      })
    const out = join(reg.path, c.encryption ? SUSPEND_SEALED : SUSPEND_PLAIN)
    await this.#saveImage(run, c, out)
    writeVmConfig(reg.path, { ...c, suspended: { ...run.boot } })
    await this.#stop(run, true, 0)
    this.#log.info({ vm: name, id: c.id }, 'VM suspended')
    return this.describe(name)
  }

  /** A powered-on VM's QMP and run folder, for dump-memory (vm/dump.ts). */
  runningGuest(name: string): RunningGuest {
    const { config: c } = this.#find(name)
    const run = this.#running.get(c.id)
    if (!run || run.stopping)
      throw new HostError('ERR_HOST_VM_POWER_STATE', `VM '${name}' is not powered on`, {
        vm: name,
      })
    return { id: c.id, name: c.name, qmp: run.qemu.qmp, runFolder: run.runFolder }
  }

  /** Resume a suspended VM: QEMU starts with -incoming defer and the agent streams the image in. */
  async resume(name: string): Promise<VmDescription> {
    const { reg, config: c } = this.#find(name)
    if (!c.suspended)
      throw new HostError('ERR_HOST_VM_POWER_STATE', `VM '${name}' is not suspended`, { vm: name })
    const image = join(reg.path, c.encryption ? SUSPEND_SEALED : SUSPEND_PLAIN)
    if (!existsSync(image))
      throw new HostError(
        'ERR_HOST_VM_SUSPEND',
        `VM '${name}' is marked suspended but ${image} is missing`,
      )
    // on failure the image stays: the VM is still suspended
    await this.#startFromImage(name, c, c.suspended, image)
    writeVmConfig(reg.path, withoutSuspended(c))
    rmSync(image, { force: true })
    this.#log.info({ vm: name, id: c.id }, 'VM resumed')
    return this.describe(name)
  }

  // ---- snapshots

  #snapshotInfo(reg: RegisteredVm, t: VmSnapshots, p: VmSnapshot): SnapshotInfo {
    const parent = p.parent ? t.list.find((x) => x.id === p.parent) : undefined
    return {
      id: p.id,
      name: p.name,
      ...(parent ? { parent: parent.name } : {}),
      created: p.created,
      withMemory: p.withMemory,
      current: t.current === p.id,
      path: join(reg.path, SNAPSHOT_DIR, p.id),
    }
  }

  /** The seed: "reissue the shallow recrypt operation before performing any snapshot operations". */
  #refuseUnfinished(c: VmConfig): void {
    const e = c.encryption
    if (e?.previous || e?.deepRecrypt || c.cryptoTask)
      throw new HostError(
        'ERR_HOST_VM_RECRYPT_PARTIAL',
        `VM '${c.name}' has an unfinished ${c.cryptoTask?.op ?? (e?.previous ? 'shallow recrypt' : 'deep recrypt')}: run it again before any snapshot operation`,
        { vm: c.name },
      )
  }

  snapshotList(name: string): SnapshotInfo[] {
    const { reg, config: c } = this.#find(name)
    const t = c.snapshots
    return t ? t.list.map((p) => this.#snapshotInfo(reg, t, p)) : []
  }

  /**
   * Take a snapshot, a child of the current one: a copy of every disk file (a reflink where the
   * file system has them, else a sparse copy; an encrypted disk stays the same LUKS2 volume), and
   * when the VM is powered on its memory: the guest is stopped, QEMU's state streamed through the
   * agent into the snapshot (sealed with the VM's file key), the disks copied, and the guest runs on.
   */
  async snapshotCreate(
    name: string,
    snapshot: string,
    o: { readonly memory?: boolean | undefined } = {},
  ): Promise<VmDescription & { snapshot: SnapshotInfo }> {
    const { reg, config: c } = this.#find(name)
    const snapName = checkSnapshotName(snapshot)
    this.#refuseUnfinished(c)
    if (o.memory === true && !this.#running.has(c.id))
      throw new HostError(
        'ERR_HOST_VM_POWER_STATE',
        `VM '${name}' is powered off: a snapshot of its memory needs it powered on (a powered-off VM's snapshot has its disks only)`,
        { vm: name },
      )
    if (c.suspended)
      throw new HostError(
        'ERR_HOST_VM_POWER_STATE',
        `VM '${name}' is suspended: resume it (or power it off) before taking a snapshot`,
        { vm: name },
      )
    const list = c.snapshots?.list ?? []
    if (list.some((p) => p.name === snapName))
      throw new HostError(
        'ERR_HOST_SNAPSHOT_EXISTS',
        `VM '${name}' already has a snapshot named '${snapName}': choose another name`,
        { vm: name },
      )
    if (list.length >= MAX_SNAPSHOTS)
      throw new HostError(
        'ERR_HOST_VM_SNAPSHOTS',
        `VM '${name}' has ${MAX_SNAPSHOTS} snapshots, the most a VM has: remove one first`,
        { vm: name },
      )
    const id = randomUUID()
    const folder = join(reg.path, SNAPSHOT_DIR, id)
    mkdirSync(join(reg.path, SNAPSHOT_DIR), { mode: 0o700, recursive: true })
    mkdirSync(folder, { mode: 0o700 })
    const run = this.#running.get(c.id)
    const withMemory = run !== undefined && o.memory !== false
    let kept: { nvram: boolean; vtpm: boolean } = { nvram: false, vtpm: false }
    try {
      if (run) {
        if (withMemory) {
          const out = join(folder, c.encryption ? SNAPSHOT_MEMORY_SEALED : SNAPSHOT_MEMORY_PLAIN)
          // saveState stops the guest and lets it run on if it fails; on success it stays
          // stopped (QEMU has flushed its disks) until the copies are made
          await this.#saveImage(run, c, out)
        } else {
          // disk only: the guest stopped; QEMU drains its I/O and flushes every disk (an NBD
          // FLUSH, durable through the crypto filter) before it answers
          await run.qemu.qmp.execute('stop', undefined, 30_000)
        }
        try {
          kept = await this.#copyState(reg.path, c, folder, run)
        } finally {
          await run.qemu.qmp.execute('cont', undefined, 10_000)
        }
      } else kept = await this.#copyState(reg.path, c, folder, undefined)
      fsyncDir(folder)
      const entry: VmSnapshot = {
        id,
        name: snapName,
        ...(c.snapshots?.current ? { parent: c.snapshots.current } : {}),
        created: new Date().toISOString(),
        withMemory,
        disks: c.disks,
        ...(kept.nvram ? { nvram: true } : {}),
        ...(kept.vtpm ? { vtpm: true } : {}),
        ...(withMemory ? { boot: { ...run!.boot } } : {}),
      }
      writeVmConfig(reg.path, { ...c, snapshots: { current: id, list: [...list, entry] } })
    } catch (e) {
      rmSync(folder, { recursive: true, force: true })
      throw e
    }
    this.#log.info({ vm: name, snapshot: snapName, id, withMemory, ...kept }, 'snapshot taken')
    const now = readVmConfig(reg.path).snapshots!
    return {
      ...(await this.describe(name)),
      snapshot: this.#snapshotInfo(reg, now, findSnapshot(now, name, id)),
    }
  }

  /**
   * A snapshot's copy of the VM's state (the guest stopped, or powered off): every disk file, an
   * efi VM's variable store (a running encrypted VM's live one sealed from its tmpfs copy, else
   * the VM folder's file) and a vTPM's state folder (swtpm's files, encrypted with its key).
   */
  async #copyState(
    path: string,
    c: VmConfig,
    folder: string,
    run: Running | undefined,
  ): Promise<{ nvram: boolean; vtpm: boolean }> {
    for (const d of c.disks) await copyDisk(join(path, d.file), join(folder, d.file))
    let nvram = false
    if (c.firmware === 'efi') {
      const live = run?.nvram
      if (live?.fileKey) {
        await live.fileKey.use((k) => sealNvramCopy(live.plain, join(folder, NVRAM_SEALED), c, k))
        nvram = true
      } else {
        const file = c.encryption ? NVRAM_SEALED : NVRAM_PLAIN
        if (existsSync(join(path, file))) {
          await copyDisk(join(path, file), join(folder, file))
          nvram = true
        }
      }
    }
    let vtpm = false
    if (c.vtpm && existsSync(join(path, VTPM_DIR))) {
      copyStateFolder(join(path, VTPM_DIR), join(folder, VTPM_DIR))
      vtpm = true
    }
    return { nvram, vtpm }
  }

  /**
   * Revert to a snapshot: the running VM is powered off (a suspended state discarded), the disks
   * are the snapshot's again (fresh copies of its files), and so are its variable store and vTPM
   * state when the snapshot has them; the snapshot becomes the current one; a memory snapshot is
   * then resumed where it was taken (a disk-only one stays powered off).
   */
  async snapshotRevert(
    name: string,
    snapshot: string,
  ): Promise<VmDescription & { snapshot: SnapshotInfo }> {
    const { reg, config: c } = this.#find(name)
    const p = findSnapshot(c.snapshots, name, snapshot)
    this.#refuseUnfinished(c)
    const run = this.#running.get(c.id)
    if (run) await this.#stop(run, true, 0)
    const folder = join(reg.path, SNAPSHOT_DIR, p.id)
    const image = join(folder, c.encryption ? SNAPSHOT_MEMORY_SEALED : SNAPSHOT_MEMORY_PLAIN)
    if (p.withMemory && !existsSync(image))
      throw new HostError('ERR_HOST_SNAPSHOT_IO', `snapshot '${p.name}': ${image} is missing`)
    for (const d of p.disks) {
      const live = join(reg.path, d.file)
      const tmp = `${live}.revert`
      rmSync(tmp, { force: true })
      await copyDisk(join(folder, d.file), tmp)
      renameSync(tmp, live)
    }
    // a disk added after the snapshot belongs to the state the revert discards
    for (const d of c.disks)
      if (!p.disks.some((x) => x.file === d.file)) rmSync(join(reg.path, d.file), { force: true })
    if (p.nvram) {
      const file = c.encryption ? NVRAM_SEALED : NVRAM_PLAIN
      const live = join(reg.path, file)
      rmSync(`${live}.revert`, { force: true })
      await copyDisk(join(folder, file), `${live}.revert`)
      renameSync(`${live}.revert`, live)
    }
    if (p.vtpm) restoreStateFolder(join(folder, VTPM_DIR), join(reg.path, VTPM_DIR))
    fsyncDir(reg.path)
    const reverted: VmConfig = {
      ...withoutSuspended(c),
      disks: p.disks,
      snapshots: { ...c.snapshots!, current: p.id },
    }
    writeVmConfig(reg.path, reverted)
    rmSync(join(reg.path, c.encryption ? SUSPEND_SEALED : SUSPEND_PLAIN), { force: true })
    if (p.withMemory) await this.#startFromImage(name, c, p.boot ?? {}, image)
    this.#log.info({ vm: name, snapshot: p.name, withMemory: p.withMemory }, 'reverted to snapshot')
    const t = readVmConfig(reg.path).snapshots!
    return { ...(await this.describe(name)), snapshot: this.#snapshotInfo(reg, t, p) }
  }

  /**
   * Remove a snapshot: its children become children of its parent and, when it was the current
   * one, its parent becomes current. Every snapshot holds whole copies, so nothing is merged into
   * the running disks or the children: its files are deleted. Allowed powered on.
   */
  async snapshotRemove(
    name: string,
    snapshot: string,
  ): Promise<VmDescription & { removed: string }> {
    const { reg, config: c } = this.#find(name)
    const p = findSnapshot(c.snapshots, name, snapshot)
    this.#refuseUnfinished(c)
    const t = c.snapshots!
    const list = t.list
      .filter((x) => x.id !== p.id)
      .map((x): VmSnapshot => {
        if (x.parent !== p.id) return x
        const moved: { -readonly [K in keyof VmSnapshot]?: VmSnapshot[K] } = { ...x }
        if (p.parent) moved.parent = p.parent
        else delete moved.parent
        return moved as VmSnapshot
      })
    const current = t.current === p.id ? p.parent : t.current
    const next: { -readonly [K in keyof VmConfig]?: VmConfig[K] } = {
      ...c,
      snapshots: { ...(current ? { current } : {}), list },
    }
    if (list.length === 0) delete next.snapshots
    writeVmConfig(reg.path, next as VmConfig)
    rmSync(join(reg.path, SNAPSHOT_DIR, p.id), { recursive: true, force: true })
    if (list.length === 0) rmSync(join(reg.path, SNAPSHOT_DIR), { recursive: true, force: true })
    this.#log.info({ vm: name, snapshot: p.name }, 'snapshot removed')
    return { ...(await this.describe(name)), removed: p.name }
  }

  /**
   * Guest shutdown through ACPI (QMP system_powerdown), bounded by `timeoutMs`; then, or at
   * once with `hard`, QMP quit (QEMU flushes its disks and exits), then SIGKILL after 5 s.
   */
  async powerOff(
    name: string,
    o: { hard?: boolean; timeoutMs?: number } = {},
  ): Promise<VmDescription & { how: string }> {
    const { reg, config: c } = this.#find(name)
    const run = this.#running.get(c.id)
    if (!run && c.suspended) {
      // as on vSphere: powering off a suspended VM discards its suspended state
      writeVmConfig(reg.path, withoutSuspended(c))
      rmSync(join(reg.path, c.encryption ? SUSPEND_SEALED : SUSPEND_PLAIN), { force: true })
      return { ...(await this.describe(name)), how: 'suspended state discarded' }
    }
    if (!run)
      throw new HostError('ERR_HOST_VM_POWER_STATE', `VM '${name}' is already powered off`, {
        vm: name,
        powerState: 'poweredOff',
      })
    const how = await this.#stop(run, o.hard === true, o.timeoutMs ?? 30_000)
    return { ...(await this.describe(name)), how }
  }

  async #stop(run: Running, hard: boolean, timeoutMs: number): Promise<string> {
    run.stopping = true
    const wait = (ms: number): Promise<boolean> =>
      Promise.race([
        run.stopped.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref()),
      ])
    if (!hard) {
      await run.qemu.qmp.execute('system_powerdown', undefined, 3000).catch(() => undefined)
      if (await wait(timeoutMs)) return 'guest shutdown'
    }
    await run.qemu.qmp.execute('quit', undefined, 3000).catch(() => undefined)
    if (await wait(5000)) return hard ? 'hard power-off' : 'guest shutdown timed out: quit'
    killTree(run.qemu.child)
    await run.stopped
    return 'killed'
  }

  /** VMs marked autostart, at boot; a locked one waits for its KEK. */
  async autostart(): Promise<void> {
    await this.#reapStale()
    for (const v of this.#inventory().vms) {
      let c: VmConfig
      try {
        c = readVmConfig(v.path)
      } catch (e) {
        this.#log.error({ vm: v.name, code: (e as { code?: string }).code }, 'VM unreadable')
        continue
      }
      if (!c.autostart) continue
      const ref = this.#kekRef(c)
      if (ref && !this.#o.cache.has(ref.providerId, ref.kekId)) {
        this.#pendingAutostart.add(c.id)
        this.#log.warn(
          { vm: c.name, providerId: ref.providerId, kekId: ref.kekId },
          'autostart VM locked: key missing in cache; it powers on when the key is added',
        )
        continue
      }
      await this.#tryPowerOn(c.name)
    }
  }

  /** A KEK came into the cache: power on the autostart VMs that waited for it. */
  async keyAdded(ref: KeyRef): Promise<void> {
    for (const v of this.#inventory().vms) {
      if (!this.#pendingAutostart.has(v.id)) continue
      let c: VmConfig
      try {
        c = readVmConfig(v.path)
      } catch {
        continue
      }
      const r = this.#kekRef(c)
      // the KEK itself, or (issue 13) a native provider's KDK from which the cache derives it
      if (r && r.providerId === ref.providerId && this.#o.cache.has(r.providerId, r.kekId))
        await this.#tryPowerOn(c.name)
    }
  }

  async #tryPowerOn(name: string): Promise<void> {
    try {
      await this.powerOn(name)
    } catch (e) {
      this.#log.error(
        { vm: name, code: (e as { code?: string }).code ?? 'error' },
        'autostart power-on failed',
      )
    }
  }

  /** QEMUs left by an agent that died (kill -9): killed, their run folders removed. */
  async #reapStale(): Promise<void> {
    const root = join(this.#o.runDir, 'vms')
    if (!existsSync(root)) return
    for (const id of readdirSync(root)) {
      const folder = join(root, id)
      try {
        const pid = Number(readFileSync(join(folder, PID_FILE), 'utf8').trim())
        if (Number.isSafeInteger(pid) && pid > 1) {
          const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
          if (cmd.includes(`ward-vm-${id}`)) {
            process.kill(pid, 'SIGKILL')
            this.#log.warn({ id, pid }, 'killed a QEMU left by the previous agent')
            for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++)
              await new Promise((r) => setTimeout(r, 20))
          }
        }
      } catch {
        // no pid file, or the process is gone
      }
      // a decrypted NVRAM of that run: wiped (a host crash loses at most the run's changes)
      for (const d of [folder, join('/dev/shm', `ward-vm-${id}`)]) {
        for (const f of ['nvram.fd', '.nvram.snapshot'])
          if (existsSync(join(d, f))) wipeFile(join(d, f))
        rmSync(d, { recursive: true, force: true })
      }
    }
  }

  /** Agent shutdown (a host reboot): every VM powered off (guest shutdown bounded, then quit). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#running.values()].map((r) => this.#stop(r, false, 3000)))
  }
}

/**
 * Progress over a whole VM: the bytes of all its disks. `disk(d)` is disk `d`'s callback (done,
 * total of that disk) and counts the disks before it as done (a resumed task skips finished disks,
 * so its first report is beyond 0); `finished()` reports the whole.
 */
function vmProgress(
  disks: readonly VmDisk[],
  onProgress: ((p: OpProgress) => void) | undefined,
): { disk(d: VmDisk): (done: number) => void; finished(): void } {
  const total = disks.reduce((a, d) => a + d.sizeBytes, 0)
  let base = 0
  let next = 0
  return {
    disk(d) {
      base = next
      next = base + d.sizeBytes
      const at = base
      return (done) =>
        onProgress?.({ done: Math.min(total, at + Math.min(done, d.sizeBytes)), total })
    },
    finished: () => onProgress?.({ done: total, total }),
  }
}

/** The crypto task a VM's configuration says is unfinished, and the command that resumes it. */
function unfinishedTask(c: VmConfig): VmDescription['unfinished'] {
  const e = c.encryption
  if (c.cryptoTask)
    return { task: c.cryptoTask.op, command: `ward host vm ${c.cryptoTask.op} ${c.name}` }
  if (e?.deepRecrypt)
    return { task: 'deep recrypt', command: `ward host vm recrypt ${c.name} --deep` }
  if (e?.previous)
    return {
      task: 'shallow recrypt',
      command: `ward host vm recrypt ${c.name} --shallow --new-kek-id ${e.kekId}`,
    }
  return undefined
}

/** The configuration without its unfinished encrypt/decrypt marker. */
function withoutTask(c: VmConfig): VmConfig {
  const copy: { -readonly [K in keyof VmConfig]?: VmConfig[K] } = { ...c }
  delete copy.cryptoTask
  return copy as VmConfig
}

/** The configuration with its suspended state cleared. */
function withoutSuspended(c: VmConfig): VmConfig {
  const copy: { -readonly [K in keyof VmConfig]?: VmConfig[K] } = { ...c }
  delete copy.suspended
  return copy as VmConfig
}

const checkIdArg = (id: string): string => {
  if (id.length === 0 || Buffer.byteLength(id) > 255 || /[\p{Cc}]/u.test(id))
    throw new HostError(
      'ERR_HOST_BAD_ARGUMENT',
      'a key id is 1 to 255 bytes, no control characters',
    )
  return id
}

function newDek(): Uint8Array {
  for (;;) {
    const k = new Uint8Array(randomBytes(64))
    if (Buffer.compare(k.subarray(0, 32), k.subarray(32)) !== 0) return k
  }
}

/** A raw disk of `size` bytes that takes no blocks until written (a plain VM's thin disk). */
function createSparse(path: string, size: number): void {
  const fd = openSync(path, 'wx', 0o600)
  try {
    ftruncateSync(fd, size)
  } finally {
    closeSync(fd)
  }
}

/** Bytes the file really takes on disk (thin disks grow as the guest writes). */
function allocated(path: string): number {
  try {
    const st = lstatSync(path)
    return st.blocks * 512
  } catch {
    return 0
  }
}

export { MiB }
