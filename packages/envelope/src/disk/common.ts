import { closeSync, fchmodSync, fstatSync, openSync, constants } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { EnvelopeError } from '../errors.js'
import { WARD_DATA_OFFSET } from '../luks2/format.js'

/** Default segment of in-place runs: large enough for few syscalls and fdatasyncs, small enough to bound memory and replay. */
export const DEFAULT_SEGMENT_BYTES = 16 * 1048576

/**
 * Default segment of runs that write a new file (encrypt --out, decrypt --out: no journal, no
 * per-segment sync). Smaller, because a fresh process pays a page fault per 4 KiB of the
 * pipeline's buffers on first touch (4 x 16 MiB, plus a V8 GC for the external memory), and 4 MiB
 * buffers stay in cache between the XTS pass and the write copy (figures: bench/README.md, "CLI
 * overhead" and "Figures from source comments").
 */
export const NEW_FILE_SEGMENT_BYTES = 4 * 1048576

/**
 * Segments transformed at once when the input is mapped (new-file runs). With no read stage,
 * one transform at a time left a core idle between segments (the main thread has to wake up to
 * start the next one while the pool threads and the writer share the two cores); two in flight
 * keep the pool busy. Faster on huge-page tmpfs, within noise on /dev/shm (figures:
 * bench/README.md, "Figures from source comments").
 */
export const MAPPED_TRANSFORMS_IN_FLIGHT = 2

/** Options shared by every disk operation. */
export interface DiskRunOptions {
  /**
   * Bytes per segment (multiple of 4096, 4 KiB..64 MiB; in-place encryption at most 16 MiB).
   * Default 4 MiB for a new output file, 16 MiB in place and for deep rekey.
   */
  readonly segmentBytes?: number
  /**
   * Runs that write a new file (encrypt --out, decrypt --out): read the input through a
   * read-only mapping, XTS from it straight into the write buffer (native addon only). Default:
   * only when the input is on tmpfs (disk/mapped-output.ts, mapInputWanted); false: read() each
   * segment into the buffer first.
   */
  readonly mapInput?: boolean
  /**
   * encrypt --out: write the output through a mapping instead of write() (needs the mapped
   * input). Default: only on a huge-page tmpfs, where it was measured faster (disk/mapped-output.ts).
   */
  readonly mapOutput?: boolean
  /** Called with the bytes processed so far. */
  readonly onProgress?: (done: number, total: number) => void
}

/** Ids recorded in the Ward token. */
export interface KekRef {
  readonly kek: Uint8Array
  readonly providerId: string
  readonly kekId: string
}

export function segmentSize(
  o: DiskRunOptions,
  max = 64 * 1048576,
  fallback = DEFAULT_SEGMENT_BYTES,
): number {
  const s = o.segmentBytes ?? Math.min(fallback, max)
  if (!Number.isInteger(s) || s < 4096 || s % 4096 !== 0 || s > max)
    throw new EnvelopeError(
      'ERR_DISK_OPTIONS',
      `segment size must be a multiple of 4096 between 4096 and ${max}`,
    )
  return s
}

export function checkKek(kek: Uint8Array): void {
  if (kek.length !== 32) throw new EnvelopeError('ERR_DISK_OPTIONS', 'a KEK is 32 bytes (AES-256)')
}

export function openFile(path: string, flags: number, mode = 0o600): number {
  try {
    // SECURITY: files Ward creates are never reached through a symlink; existing disks may be
    return openSync(path, flags & constants.O_CREAT ? flags | constants.O_NOFOLLOW : flags, mode)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error'
    throw new EnvelopeError(
      code === 'EEXIST' ? 'ERR_DISK_EXISTS' : 'ERR_DISK_OPEN',
      code === 'EEXIST'
        ? `${path} already exists; Ward never overwrites it (remove it or pick another name)`
        : `cannot open ${path} (${code})`,
      { cause: e },
    )
  }
}

/**
 * Drop group and other permissions of a file Ward rewrites in place (the result of an in-place
 * encryption is 0600, or narrower when the owner's bits already were): its header holds the
 * wrapped DEK and the recovery keyslot, and it holds plaintext until the run ends.
 */
export function restrictToOwner(fd: number, path: string): void {
  const mode = fstatSync(fd).mode & 0o7777
  const wanted = mode & 0o600
  if (mode === wanted) return
  try {
    fchmodSync(fd, wanted)
  } catch (e) {
    throw new EnvelopeError(
      'ERR_DISK_MODE',
      `cannot restrict ${path} to mode ${wanted.toString(8).padStart(4, '0')} (${(e as NodeJS.ErrnoException).code ?? 'error'}); run as the file's owner (or root)`,
      { cause: e },
    )
  }
}

export const closeQuietly = (fd: number): void => {
  try {
    closeSync(fd)
  } catch {
    /* already closed */
  }
}

/** A fresh XTS-AES-256 DEK (halves distinct, as IEEE 1619 and FIPS require). */
export function newDek(): Uint8Array {
  for (;;) {
    const k = new Uint8Array(randomBytes(64))
    if (Buffer.compare(k.subarray(0, 32), k.subarray(32)) !== 0) return k
  }
}

/** Steps covering `bytes` in `seg`-sized pieces from `from` (ascending). */
export function ascending(
  bytes: number,
  seg: number,
  readBase: number,
  writeBase: number,
): { readPos: number; writePos: number; length: number }[] {
  const steps = []
  for (let off = 0; off < bytes; off += seg)
    steps.push({
      readPos: readBase + off,
      writePos: writeBase + off,
      length: Math.min(seg, bytes - off),
    })
  return steps
}

export const DATA_OFFSET = WARD_DATA_OFFSET

/** Coded errors pass through; anything else (errno from fs) becomes ERR_DISK_IO naming the step. */
export function asDiskError(e: unknown, what: string): unknown {
  const code = (e as { code?: unknown } | undefined)?.code
  if (typeof code === 'string' && code.startsWith('ERR_')) return e
  return new EnvelopeError(
    'ERR_DISK_IO',
    `${what} failed (${typeof code === 'string' ? code : ((e as Error | undefined)?.message ?? 'error')})`,
    { cause: e },
  )
}
