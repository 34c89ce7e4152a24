import { closeSync, lstatSync, openSync, constants } from 'node:fs'
import { hasLuks2MagicFd } from '../disk/image-format.js'
import { journalPath } from '../disk/journal.js'
import { EnvelopeError } from '../errors.js'
import { isJsonObject } from './metadata.js'
import { findWardToken } from './token.js'
import { readVolume } from './volume.js'

/** What `describeDisk` tells about a LUKS2 disk: layout and ids, never key material. */
export interface DiskDescription {
  readonly format: 'luks2'
  readonly uuid: string
  readonly label: string
  /** Cipher of the data segment, e.g. aes-xts-plain64 (undefined when there is no crypt segment). */
  readonly cipher: string | undefined
  readonly keyBits: number | undefined
  readonly sectorSize: number | undefined
  readonly dataOffset: number | undefined
  /** Bytes of encrypted data. */
  readonly dataBytes: number | undefined
  /** Bytes of data the Ward token records (`data_size`; undefined on older disks and other volumes). */
  readonly recordedDataBytes: number | undefined
  /** The file ends before the data it should hold (shorter than `recordedDataBytes`, or a partial sector). */
  readonly truncated: boolean
  /** True when the volume carries a Ward token (a Ward-encrypted disk). */
  readonly ward: boolean
  readonly providerId: string | undefined
  readonly kekId: string | undefined
  readonly keyslots: readonly KeyslotDescription[]
  readonly tokens: readonly { readonly id: string; readonly type: string }[]
  /** Mandatory requirements (e.g. an interrupted rekey: `ward-rekey`). */
  readonly requirements: readonly string[]
  /** Header copies found damaged or stale (recovered from the other one). */
  readonly damagedHeaders: readonly string[]
  /** An interrupted in-place operation left its journal (`DISK.ward-journal`): re-run it to finish. */
  readonly pendingOperation: boolean
}

/** A keyslot's KDF and its parameters as the header states them (never a key, never the salt). */
export interface KeyslotDescription {
  readonly id: string
  readonly type: string
  /** pbkdf2, argon2i, argon2id (or what the header says, cut to 32 characters; 'unknown'). */
  readonly kdf: string
  /** PBKDF2 hash. */
  readonly hash?: string
  /** PBKDF2 iterations, or argon2 passes (cryptsetup "Time cost"). */
  readonly iterations?: number
  /** argon2 memory in KiB. */
  readonly memoryKiB?: number
  /** argon2 lanes (cryptsetup "Threads"). */
  readonly parallelism?: number
}

const num = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined

function describeKeyslot(id: string, type: string, kdf: unknown): KeyslotDescription {
  if (!isJsonObject(kdf) || typeof kdf.type !== 'string') return { id, type, kdf: 'unknown' }
  const name = kdf.type.slice(0, 32)
  const fields: Record<string, string | number | undefined> =
    name === 'pbkdf2'
      ? {
          hash: typeof kdf.hash === 'string' ? kdf.hash.slice(0, 16) : undefined,
          iterations: num(kdf.iterations),
        }
      : name.startsWith('argon2')
        ? { iterations: num(kdf.time), memoryKiB: num(kdf.memory), parallelism: num(kdf.cpus) }
        : {}
  const out: Record<string, string | number> = { id, type, kdf: name }
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v
  return out as unknown as KeyslotDescription
}

/** Does `path` exist as a directory entry (a dangling symlink counts: lstat, not stat)? */
const entryExists = (path: string): boolean =>
  lstatSync(path, { throwIfNoEntry: false }) !== undefined

const openRead = (path: string): number => {
  try {
    return openSync(path, constants.O_RDONLY)
  } catch (e) {
    throw new EnvelopeError(
      'ERR_DISK_OPEN',
      `cannot open ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      { cause: e },
    )
  }
}

/** Describe a LUKS2 disk (any LUKS2 volume; Ward fields when it has a Ward token). Read-only. */
export function describeDisk(path: string): DiskDescription {
  const fd = openRead(path)
  try {
    const vol = readVolume(fd)
    const seg = vol.meta.segments.find((s) => s.type === 'crypt')
    const digest = seg && vol.meta.digests.find((d) => d.segments.includes(seg.id))
    const slot = digest && vol.meta.keyslots.find((k) => digest.keyslots.includes(k.id))
    const token = findWardToken(vol.meta)
    const keyBits =
      slot !== undefined
        ? slot.keySize * 8
        : token !== undefined
          ? (token.wrappedDek.length - 8) * 8
          : undefined
    const dataBytes = seg ? (seg.size ?? Math.max(0, vol.fileSize - seg.offset)) : undefined
    const truncated =
      seg !== undefined &&
      dataBytes !== undefined &&
      (seg.offset + dataBytes > vol.fileSize ||
        (seg.size === null && (vol.fileSize - seg.offset) % seg.sectorSize !== 0) ||
        (token?.dataSize !== undefined && dataBytes < token.dataSize))
    return {
      format: 'luks2',
      uuid: vol.uuid,
      label: vol.label,
      cipher: seg?.encryption,
      keyBits,
      sectorSize: seg?.sectorSize,
      dataOffset: seg?.offset,
      dataBytes,
      recordedDataBytes: token?.dataSize,
      truncated,
      ward: token !== undefined,
      providerId: token?.providerId,
      kekId: token?.kekId,
      keyslots: vol.meta.keyslots.map((k) =>
        describeKeyslot(k.id, k.type.slice(0, 32), k.json.kdf),
      ),
      tokens: vol.meta.tokens.map((t) => ({ id: t.id, type: t.type.slice(0, 64) })),
      requirements: vol.meta.requirements,
      damagedHeaders: vol.damaged,
      // SECURITY: a dangling journal symlink is still an entry an in-place run would trip over
      pendingOperation: entryExists(journalPath(path)),
    }
  } finally {
    closeSync(fd)
  }
}

/** Is `path` a LUKS2 volume with at least one valid header copy? Never throws for non-LUKS files. */
export function isLuks2(path: string): boolean {
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY)
  } catch {
    return false
  }
  try {
    readVolume(fd)
    return true
  } catch {
    return false
  } finally {
    closeSync(fd)
  }
}

/**
 * Does `path` carry a LUKS2 magic (the primary at 0, or a secondary at one of the header sizes)?
 * True for a volume whose headers are damaged or cut short: describe it to get the coded error
 * (ERR_LUKS2_TRUNCATED, ERR_LUKS2_CHECKSUM ...) rather than calling it "not LUKS2".
 */
export function hasLuks2Magic(path: string): boolean {
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY)
  } catch {
    return false
  }
  try {
    return hasLuks2MagicFd(fd)
  } catch {
    return false
  } finally {
    closeSync(fd)
  }
}
