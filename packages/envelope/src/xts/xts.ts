import { availableParallelism } from 'node:os'
import { EnvelopeError } from '../errors.js'
import { checkSectorArgs, checkUnitArgs } from './check.js'
import { native, type NativeXts } from './native.js'
import { nodeSectors, nodeUnit } from './node-backend.js'

/*
 * XTS-AES-256 over whole sectors (IEEE Std 1619-2007; dm-crypt's aes-xts-plain64): the tweak of
 * each sector is its number as a little-endian 64-bit integer, zero-padded to 16 bytes.
 *
 * Two backends give identical output: the native addon (native/ward_xts.c: one OpenSSL context
 * per call, only the tweak reset per sector, about 10x the baseline on 4 KiB sectors) and the
 * node:crypto baseline (one createCipheriv per sector), used when the addon is not built.
 */

/** Which implementation runs: the N-API addon over Node's OpenSSL, or the node:crypto baseline. */
export function xtsBackend(): 'native' | 'node-crypto' {
  return native ? 'native' : 'node-crypto'
}

/**
 * Encrypts whole sectors in place with aes-xts-plain64.
 *
 * `key` is 64 bytes (two AES-256 keys, halves distinct). `data.length` must be a multiple of
 * `sectorSize` (16 B to 16 MiB). `firstSector` is the number, in units of `sectorSize` (as
 * plain64 counts with `--sector-size 4096` and iv_large_sectors), of the first sector in `data`.
 * Bad arguments throw an EnvelopeError `ERR_XTS_*`.
 */
export function xtsEncryptSectors(
  key: Uint8Array,
  data: Uint8Array,
  firstSector: number,
  sectorSize: number,
): void {
  runSectors(native, true, key, data, firstSector, sectorSize)
}

/** Decrypts whole sectors in place; the arguments are those of {@link xtsEncryptSectors}. */
export function xtsDecryptSectors(
  key: Uint8Array,
  data: Uint8Array,
  firstSector: number,
  sectorSize: number,
): void {
  runSectors(native, false, key, data, firstSector, sectorSize)
}

/**
 * {@link xtsEncryptSectors} off the main thread: large buffers are split on sector boundaries
 * across up to `os.availableParallelism()` jobs on libuv's pool, so the cores work at once.
 * The key is copied when the call is made; `data` must not be read or written (nor its
 * ArrayBuffer transferred) until the promise settles.
 */
export function xtsEncryptSectorsAsync(
  key: Uint8Array,
  data: Uint8Array,
  firstSector: number,
  sectorSize: number,
): Promise<void> {
  return runSectorsAsync(native, true, key, data, firstSector, sectorSize)
}

/** {@link xtsDecryptSectors} off the main thread, as {@link xtsEncryptSectorsAsync}. */
export function xtsDecryptSectorsAsync(
  key: Uint8Array,
  data: Uint8Array,
  firstSector: number,
  sectorSize: number,
): Promise<void> {
  return runSectorsAsync(native, false, key, data, firstSector, sectorSize)
}

/**
 * XTS-AES on one data unit in place, with an explicit 16-byte tweak: any length from 16 bytes to
 * 16 MiB (ciphertext stealing when not a multiple of 16, IEEE 1619 §5.3.2). `key` is 64 bytes
 * (XTS-AES-256) or 32 bytes (XTS-AES-128). For test vectors and non-sector uses.
 */
export function xtsTransform(
  enc: boolean,
  key: Uint8Array,
  tweak: Uint8Array,
  data: Uint8Array,
): void {
  checkUnitArgs(key, tweak, data)
  if (!native) return nodeUnit(enc, key, tweak, data)
  try {
    native.transform(enc, key, tweak, data)
  } catch (e) {
    throw asEnvelopeError(e)
  }
}

/**
 * The sector functions over an explicit implementation (`undefined`: node:crypto). Internal: the
 * tests run both backends through it; callers use the exported functions above.
 */
export function runSectors(
  impl: NativeXts | undefined,
  enc: boolean,
  key: Uint8Array,
  data: Uint8Array,
  firstSector: number,
  sectorSize: number,
): void {
  checkSectorArgs(key, data, firstSector, sectorSize)
  if (!impl) return nodeSectors(enc, key, data, firstSector, sectorSize)
  try {
    impl.sectors(enc, key, data, firstSector, sectorSize)
  } catch (e) {
    throw asEnvelopeError(e)
  }
}

/** Below this a buffer goes to one job: a thread hop costs more than splitting saves. */
const SPLIT_MIN_BYTES = 1 << 20
/** The node:crypto fallback yields to the event loop after this much work. */
const FALLBACK_SLICE_BYTES = 1 << 20

/** Async counterpart of {@link runSectors}. Internal, as it is. */
export async function runSectorsAsync(
  impl: NativeXts | undefined,
  enc: boolean,
  key: Uint8Array,
  data: Uint8Array,
  firstSector: number,
  sectorSize: number,
): Promise<void> {
  checkSectorArgs(key, data, firstSector, sectorSize)
  const count = data.length / sectorSize
  if (!impl) return fallbackAsync(enc, key, data, firstSector, sectorSize)
  const parts = Math.max(
    1,
    Math.min(availableParallelism(), Math.floor(data.length / SPLIT_MIN_BYTES), count),
  )
  const per = Math.ceil(count / parts)
  const jobs: Promise<void>[] = []
  for (let s = 0; s < count; s += per) {
    const end = Math.min(count, s + per)
    const part = data.subarray(s * sectorSize, end * sectorSize)
    jobs.push(impl.sectorsAsync(enc, key, part, firstSector + s, sectorSize))
  }
  // allSettled: every job must finish touching `data` before the caller hears of a failure.
  const results = await Promise.allSettled(jobs)
  for (const r of results) if (r.status === 'rejected') throw asEnvelopeError(r.reason)
}

async function fallbackAsync(
  enc: boolean,
  key: Uint8Array,
  data: Uint8Array,
  firstSector: number,
  sectorSize: number,
): Promise<void> {
  const k = Buffer.from(key) // the caller may zero its key while we yield
  try {
    const per = Math.max(1, Math.floor(FALLBACK_SLICE_BYTES / sectorSize))
    const count = data.length / sectorSize
    for (let s = 0; s < count; s += per) {
      await new Promise<void>((resolve) => setImmediate(resolve))
      const end = Math.min(count, s + per)
      nodeSectors(
        enc,
        k,
        data.subarray(s * sectorSize, end * sectorSize),
        firstSector + s,
        sectorSize,
      )
    }
  } finally {
    k.fill(0)
  }
}

/** The addon throws plain Errors carrying `code`; give them the package's error shape. */
function asEnvelopeError(e: unknown): Error {
  if (e instanceof EnvelopeError) return e
  const code = (e as { code?: unknown } | null)?.code
  if (e instanceof Error && typeof code === 'string' && code.startsWith('ERR_XTS_'))
    return new EnvelopeError(code as `ERR_${string}`, e.message)
  return new EnvelopeError('ERR_XTS_CRYPTO', 'XTS operation failed in the native addon', {
    cause: e,
  })
}
