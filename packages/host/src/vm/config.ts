import { join } from 'node:path'
import { HostError } from '../errors.js'
import { readFileBounded, writeFileAtomic } from '../util/files.js'
import { checkSnapshots, type VmSnapshots } from './snapshots.js'

/** The VM configuration file in a VM's folder (VMX-like: mostly clear, the keys in a bundle). */
export const VM_CONFIG_FILE = 'vm.json'
export const VM_CONFIG_VERSION = 1
/** Largest vm.json read (a bundle of a few disks is well under 4 KiB). */
const MAX_CONFIG_BYTES = 256 << 10

export const FIRMWARES = ['bios', 'efi'] as const
export type Firmware = (typeof FIRMWARES)[number]

/** Limits of the VM shape, declared once (validation and help read them). */
export const VM_LIMITS = {
  cpus: { min: 1, max: 64 },
  memoryMiB: { min: 16, max: 1 << 20 },
  disks: { max: 16 },
  diskBytes: { min: 1 << 20, max: 64 * 2 ** 40 },
  name: { max: 64 },
} as const

export interface VmDisk {
  /** Stable id inside the VM (the bundle's DEK is keyed by it): disk0, disk1, ... */
  readonly id: string
  /** File name inside the VM folder. */
  readonly file: string
  /** Bytes the guest sees. */
  readonly sizeBytes: number
  readonly encrypted: boolean
}

/** The encryption section: clear ids and the VM's keys wrapped by the KEK (envelope bundle). */
export interface VmEncryption {
  readonly providerId: string
  readonly kekId: string
  /** base64 of the envelope's encrypted bundle: the file key and one DEK per disk. */
  readonly bundle: string
  /**
   * During a shallow recrypt: the same keys under the previous KEK, kept until every disk's token
   * is rewrapped, so that a recrypt stopped midway leaves the VM usable under either KEK.
   */
  readonly previous?: {
    readonly providerId: string
    readonly kekId: string
    readonly bundle: string
  }
  /**
   * An unfinished deep recrypt: its target KEK and the disks already re-encrypted (a rerun resumes,
   * each disk from its envelope journal); power-on is refused until it finishes.
   */
  readonly deepRecrypt?: {
    readonly providerId: string
    readonly kekId: string
    readonly done: readonly string[]
  }
}

export interface VmConfig {
  readonly version: typeof VM_CONFIG_VERSION
  readonly id: string
  readonly name: string
  readonly cpus: number
  readonly memoryMiB: number
  readonly firmware: Firmware
  readonly vtpm: boolean
  readonly autostart: boolean
  readonly disks: readonly VmDisk[]
  readonly encryption?: VmEncryption
  /** An unfinished encrypt or decrypt of the VM (a rerun resumes it; power-on is refused). */
  readonly cryptoTask?: {
    readonly op: 'encrypt' | 'decrypt'
    readonly providerId?: string
    readonly kekId?: string
  }
  /** The snapshot tree (`ward host vm snapshot ...`); absent or empty: no snapshots. */
  readonly snapshots?: VmSnapshots
  /** Set while suspended: the boot options the resumed QEMU must be given again. */
  readonly suspended?: {
    readonly kernel?: string
    readonly initrd?: string
    readonly append?: string
  }
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

/** A VM name: letters, digits, '.', '_', '-' (it names the VM's folder). */
export function checkVmName(name: unknown): string {
  if (
    typeof name !== 'string' ||
    name.length === 0 ||
    name.length > VM_LIMITS.name.max ||
    !NAME_RE.test(name)
  )
    throw new HostError(
      'ERR_HOST_BAD_ARGUMENT',
      `a VM name is 1 to ${VM_LIMITS.name.max} letters, digits, '.', '_' or '-', starting with a letter or digit`,
    )
  return name
}

const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  B: 1,
  K: 1024,
  KB: 1024,
  KIB: 1024,
  M: 1024 ** 2,
  MB: 1024 ** 2,
  MIB: 1024 ** 2,
  G: 1024 ** 3,
  GB: 1024 ** 3,
  GIB: 1024 ** 3,
  T: 1024 ** 4,
  TB: 1024 ** 4,
  TIB: 1024 ** 4,
}

/** "64M", "1G", "512MiB", "4096" (bytes; units are binary). */
export function parseSize(what: string, s: string): number {
  const m = /^\s*(\d+)\s*([A-Za-z]*)\s*$/.exec(s)
  const unit = m ? UNITS[m[2]!.toUpperCase()] : undefined
  if (!m || unit === undefined)
    throw new HostError(
      'ERR_HOST_BAD_ARGUMENT',
      `${what} must be a size such as 512M, 8G or 1T (got '${s.slice(0, 32)}')`,
    )
  const n = Number(m[1]) * unit
  if (!Number.isSafeInteger(n)) throw new HostError('ERR_HOST_BAD_ARGUMENT', `${what} is too large`)
  return n
}

/** A disk size: at least 1 MiB, rounded up to whole MiB (QEMU and the 4096-byte sectors agree). */
export function diskBytes(s: string): number {
  const n = parseSize('a disk size', s)
  const { min, max } = VM_LIMITS.diskBytes
  if (n < min || n > max)
    throw new HostError(
      'ERR_HOST_BAD_ARGUMENT',
      `a disk size must be between 1M and 64T (got '${s.slice(0, 32)}')`,
    )
  return Math.ceil(n / (1 << 20)) * (1 << 20)
}

export function memoryMiB(s: string): number {
  // a bare number is MiB, as with QEMU's -m
  const n = /^\s*\d+\s*$/.test(s) ? Number(s) : parseSize('the memory size', s) / (1 << 20)
  const { min, max } = VM_LIMITS.memoryMiB
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new HostError(
      'ERR_HOST_BAD_ARGUMENT',
      `the memory size must be whole MiB between ${min}M and ${max / 1024}G (got '${s.slice(0, 32)}')`,
    )
  return n
}

export function checkCpus(n: number): number {
  const { min, max } = VM_LIMITS.cpus
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new HostError('ERR_HOST_BAD_ARGUMENT', `--cpus must be ${min} to ${max}`)
  return n
}

const bad = (path: string, why: string): HostError =>
  new HostError('ERR_HOST_VM_CONFIG', `${path}: ${why}; restore the file from a backup`, {
    path,
  })

/** Read and check a VM's vm.json (storage is untrusted: every field is checked). */
export function readVmConfig(folder: string): VmConfig {
  const path = join(folder, VM_CONFIG_FILE)
  const b = readFileBounded(path, MAX_CONFIG_BYTES)
  if (!b)
    throw new HostError('ERR_HOST_VM_CONFIG', `${path} does not exist: no VM in ${folder}`, {
      path,
    })
  let v: Record<string, unknown>
  try {
    v = JSON.parse(b.toString('utf8')) as Record<string, unknown>
  } catch {
    throw bad(path, 'not valid JSON')
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(path, 'not an object')
  if (v.version !== VM_CONFIG_VERSION) throw bad(path, `version must be ${VM_CONFIG_VERSION}`)
  const str = (k: string): string => {
    const x = v[k]
    if (typeof x !== 'string' || x.length === 0 || x.length > 512) throw bad(path, `bad ${k}`)
    return x
  }
  const int = (k: string, min: number, max: number): number => {
    const x = v[k]
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min || x > max)
      throw bad(path, `bad ${k}`)
    return x
  }
  const flag = (k: string): boolean => {
    const x = v[k]
    if (typeof x !== 'boolean') throw bad(path, `bad ${k}`)
    return x
  }
  const id = str('id')
  if (!/^[0-9a-f-]{36}$/.test(id)) throw bad(path, 'bad id')
  let name: string
  try {
    name = checkVmName(v.name)
  } catch {
    throw bad(path, 'bad name')
  }
  const firmware = v.firmware
  if (typeof firmware !== 'string' || !(FIRMWARES as readonly string[]).includes(firmware))
    throw bad(path, 'firmware must be bios or efi')
  if (!Array.isArray(v.disks) || v.disks.length > VM_LIMITS.disks.max) throw bad(path, 'bad disks')
  const ids = new Set<string>()
  const disks = v.disks.map((d: unknown): VmDisk => {
    const x = checkDisk(d, path)
    if (ids.has(x.id)) throw bad(path, 'bad disk entry')
    ids.add(x.id)
    return x
  })
  const snapshots =
    v.snapshots === undefined
      ? undefined
      : checkSnapshots(
          v.snapshots,
          (d) => checkDisk(d, path),
          (why) => bad(path, why),
        )
  let encryption: VmEncryption | undefined
  if (v.encryption !== undefined) {
    const e = v.encryption as Record<string, unknown>
    if (
      typeof e !== 'object' ||
      e === null ||
      typeof e.providerId !== 'string' ||
      typeof e.kekId !== 'string' ||
      typeof e.bundle !== 'string' ||
      e.bundle.length > 64 << 10
    )
      throw bad(path, 'bad encryption section')
    let previous: VmEncryption['previous']
    if (e.previous !== undefined) {
      const q = e.previous as Record<string, unknown>
      if (
        typeof q !== 'object' ||
        q === null ||
        typeof q.providerId !== 'string' ||
        typeof q.kekId !== 'string' ||
        typeof q.bundle !== 'string' ||
        q.bundle.length > 64 << 10
      )
        throw bad(path, 'bad encryption.previous')
      previous = { providerId: q.providerId, kekId: q.kekId, bundle: q.bundle }
    }
    let deepRecrypt: VmEncryption['deepRecrypt']
    if (e.deepRecrypt !== undefined) {
      const q = e.deepRecrypt as Record<string, unknown>
      if (
        typeof q !== 'object' ||
        q === null ||
        typeof q.providerId !== 'string' ||
        typeof q.kekId !== 'string' ||
        !Array.isArray(q.done) ||
        !q.done.every((x) => typeof x === 'string' && ids.has(x))
      )
        throw bad(path, 'bad encryption.deepRecrypt')
      deepRecrypt = { providerId: q.providerId, kekId: q.kekId, done: q.done as string[] }
    }
    encryption = {
      providerId: e.providerId,
      kekId: e.kekId,
      bundle: e.bundle,
      ...(previous ? { previous } : {}),
      ...(deepRecrypt ? { deepRecrypt } : {}),
    }
  }
  let suspended: VmConfig['suspended']
  if (v.suspended !== undefined) {
    const x = v.suspended as Record<string, unknown>
    if (typeof x !== 'object' || x === null || Array.isArray(x)) throw bad(path, 'bad suspended')
    const out: { kernel?: string; initrd?: string; append?: string } = {}
    for (const k of ['kernel', 'initrd', 'append'] as const) {
      const y = x[k]
      if (y === undefined) continue
      if (typeof y !== 'string' || y.length > 4096) throw bad(path, 'bad suspended')
      out[k] = y
    }
    suspended = out
  }
  let cryptoTask: VmConfig['cryptoTask']
  if (v.cryptoTask !== undefined) {
    const x = v.cryptoTask as Record<string, unknown>
    if (
      typeof x !== 'object' ||
      x === null ||
      (x.op !== 'encrypt' && x.op !== 'decrypt') ||
      (x.providerId !== undefined && typeof x.providerId !== 'string') ||
      (x.kekId !== undefined && typeof x.kekId !== 'string')
    )
      throw bad(path, 'bad cryptoTask')
    cryptoTask = {
      op: x.op,
      ...(typeof x.providerId === 'string' ? { providerId: x.providerId } : {}),
      ...(typeof x.kekId === 'string' ? { kekId: x.kekId } : {}),
    }
  }
  if (!encryption && disks.some((d) => d.encrypted))
    throw bad(path, 'an encrypted disk on a VM without an encryption section')
  return {
    version: VM_CONFIG_VERSION,
    id,
    name,
    cpus: int('cpus', VM_LIMITS.cpus.min, VM_LIMITS.cpus.max),
    memoryMiB: int('memoryMiB', VM_LIMITS.memoryMiB.min, VM_LIMITS.memoryMiB.max),
    firmware: firmware as Firmware,
    vtpm: flag('vtpm'),
    autostart: flag('autostart'),
    disks,
    ...(encryption ? { encryption } : {}),
    ...(suspended ? { suspended } : {}),
    ...(cryptoTask ? { cryptoTask } : {}),
    ...(snapshots && snapshots.list.length > 0 ? { snapshots } : {}),
  }
}

/** One disk entry of vm.json (the VM's or a snapshot's). */
function checkDisk(d: unknown, path: string): VmDisk {
  const o = d as Record<string, unknown>
  if (
    typeof o !== 'object' ||
    o === null ||
    typeof o.id !== 'string' ||
    !/^disk\d{1,2}$/.test(o.id) ||
    typeof o.file !== 'string' ||
    !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(o.file) ||
    typeof o.sizeBytes !== 'number' ||
    !Number.isSafeInteger(o.sizeBytes) ||
    o.sizeBytes < VM_LIMITS.diskBytes.min ||
    o.sizeBytes > VM_LIMITS.diskBytes.max ||
    typeof o.encrypted !== 'boolean'
  )
    throw bad(path, 'bad disk entry')
  return { id: o.id, file: o.file, sizeBytes: o.sizeBytes, encrypted: o.encrypted }
}

/** Write vm.json atomically (0600: the bundle is wrapped, the rest is the VM's business). */
export function writeVmConfig(folder: string, c: VmConfig): void {
  writeFileAtomic(join(folder, VM_CONFIG_FILE), `${JSON.stringify(c, null, 2)}\n`, 0o600)
}
