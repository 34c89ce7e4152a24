import { EnvelopeError } from '../errors.js'
import { checkSectorArgs } from './check.js'
import { native, type NativeXts } from './native.js'
import { splitJobs } from './xts.js'

/*
 * XTS straight from a read-only mapping of the input file into the caller's buffer: the file's
 * bytes reach the cipher without first being copied into a buffer by read() (for a 1 GiB image,
 * that copy was ~15 % of the CPU of `ward crypto-util disk encrypt`; bench/README.md). The
 * input's pages are already in the page cache, so mapping them costs page-table entries (one
 * per 2 MiB on a huge-page tmpfs). A mapped OUTPUT (fresh pages allocated through faults) is
 * faster only on huge-page tmpfs and is used only there (disk/mapped-output.ts).
 */

/** A mapping of a file's first `length` bytes (read-only input, or writable output); `close()` unmaps it. */
export interface MappedInput {
  readonly length: number
  /** Unmaps now (the garbage collector would do it later). Not while a transform reads from it. */
  close(): void
  /** @internal the addon's handle */
  readonly handle: unknown
}

/**
 * Maps the first `length` bytes of the open file `fd` read-only (MAP_SHARED), or returns
 * undefined when the native addon is not built or the file cannot be mapped (callers then
 * read() as before). The file must not shrink while it is mapped: an access past its end
 * raises SIGBUS (each job checks its range first and fails with ERR_XTS_INPUT_SHORT instead,
 * but a truncation racing the cipher cannot be caught).
 */
export function mapInputFile(fd: number, length: number): MappedInput | undefined {
  return mapWith(native, fd, length)
}

/** Internal: {@link mapInputFile} on a chosen backend (tests). */
export function mapWith(
  impl: NativeXts | undefined,
  fd: number,
  length: number,
): MappedInput | undefined {
  return mapVia(impl, length, (i) => i.mapInput(fd, length))
}

/** Maps the first `length` bytes of `fd` (open read-write) for writing; undefined if not possible. */
export function mapOutputFile(fd: number, length: number): MappedInput | undefined {
  return mapVia(native, length, (i) => i.mapOutput(fd, length))
}

function mapVia(
  impl: NativeXts | undefined,
  length: number,
  map: (impl: NativeXts) => unknown,
): MappedInput | undefined {
  if (!impl || !Number.isSafeInteger(length) || length <= 0) return undefined
  let handle: unknown
  try {
    handle = map(impl)
  } catch {
    return undefined // not mappable (e.g. a pipe or a special file): the read() path is used
  }
  let open = true
  return {
    length,
    handle,
    close: () => {
      if (!open) return
      impl.unmapInput(handle)
      open = false
    },
  }
}

/** XTS from mapping `src` at `srcOffset` into writable mapping `dst` at `dstOffset`, split across the pool. */
export async function xtsSectorsMappedAsync(
  enc: boolean,
  key: Uint8Array,
  src: MappedInput,
  srcOffset: number,
  dst: MappedInput,
  dstOffset: number,
  length: number,
  firstSector: number,
  sectorSize: number,
): Promise<void> {
  if (!native) throw new EnvelopeError('ERR_XTS_ARGUMENT', 'mapped XTS needs the native addon')
  const impl = native
  await splitJobs(length, length / sectorSize, (s, end) =>
    impl.sectorsMappedAsync(
      enc,
      key,
      src.handle,
      srcOffset + s * sectorSize,
      dst.handle,
      dstOffset + s * sectorSize,
      (end - s) * sectorSize,
      firstSector + s,
      sectorSize,
    ),
  )
}

/** What {@link xtsSectorsFromMappedAsync} transforms, and how. */
export interface MappedSectors {
  readonly direction: 'encrypt' | 'decrypt'
  readonly key: Uint8Array
  /** The mapping read from, and the offset of the first byte read. */
  readonly src: MappedInput
  readonly srcOffset: number
  /** Receives `dst.length` bytes (whole sectors). */
  readonly dst: Uint8Array
  /** XTS tweak of the first sector, and the sector size. */
  readonly firstSector: number
  readonly sectorSize: number
}

/**
 * Encrypts or decrypts `dst.length` bytes of whole sectors read from `src` at `srcOffset` into
 * `dst`, on libuv's pool (split across the cores like {@link xtsEncryptSectorsAsync}). Key and
 * sectors as for the in-place functions; `src` stays intact.
 */
export async function xtsSectorsFromMappedAsync(o: MappedSectors): Promise<void> {
  const { key, src, srcOffset, dst, firstSector, sectorSize } = o
  const enc = o.direction === 'encrypt'
  checkSectorArgs(key, dst, firstSector, sectorSize)
  if (
    !native ||
    !Number.isSafeInteger(srcOffset) ||
    srcOffset < 0 ||
    srcOffset + dst.length > src.length
  )
    throw new EnvelopeError(
      'ERR_XTS_DATA_LENGTH',
      `bytes ${srcOffset}..${srcOffset + dst.length} are outside the ${src.length}-byte mapping`,
    )
  const impl = native
  await splitJobs(dst.length, dst.length / sectorSize, (s, end) =>
    impl.sectorsFromAsync(
      enc,
      key,
      src.handle,
      srcOffset + s * sectorSize,
      dst.subarray(s * sectorSize, end * sectorSize),
      firstSector + s,
      sectorSize,
    ),
  )
}
