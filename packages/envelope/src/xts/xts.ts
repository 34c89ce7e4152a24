import { availableParallelism } from 'node:os'
import { EnvelopeError, envelopeErrors, type EnvelopeErrorCode } from '../errors.js'
import { checkSectorArgs, checkUnitArgs } from './check.js'
import { native, type NativeXts } from './native.js'
import { nodeSectors, nodeUnit } from './node-backend.js'

/*
 * XTS-AES-256 over whole sectors (IEEE Std 1619-2007; dm-crypt's aes-xts-plain64): the tweak of
 * each sector is its number as a little-endian 64-bit integer, zero-padded to 16 bytes.
 *
 * Two backends give identical output: the native addon (native/ward_xts.c: one OpenSSL context
 * per call, only the tweak reset per sector, about 8x the baseline on 4 KiB sectors) and the
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
 * Bad arguments throw an EnvelopeError `ERR_XTS_*` and leave `data` unchanged.
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
 * Deep-rekey step: decrypts each sector under `oldKey` and encrypts it under `newKey`, in place,
 * in one sweep. Same result as {@link xtsDecryptSectors} then {@link xtsEncryptSectors} (and
 * measured no faster: both are bound by AES); one call instead of two, and no plaintext is left
 * in `data` if the second step would fail.
 */
export function xtsReencryptSectors(
  oldKey: Uint8Array,
  newKey: Uint8Array,
  data: Uint8Array,
  firstSector: number,
  sectorSize: number,
): void {
  runReencrypt(native, oldKey, newKey, data, firstSector, sectorSize)
}

/**
 * {@link xtsEncryptSectors} off the main thread: large buffers are split on sector boundaries
 * into one job per core (at most libuv's pool size), so the cores work at once.
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

/** {@link xtsReencryptSectors} off the main thread, as {@link xtsEncryptSectorsAsync}. */
export function xtsReencryptSectorsAsync(
  oldKey: Uint8Array,
  newKey: Uint8Array,
  data: Uint8Array,
  firstSector: number,
  sectorSize: number,
): Promise<void> {
  return runReencryptAsync(native, oldKey, newKey, data, firstSector, sectorSize)
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

// ---- internals: each operation over an explicit implementation (undefined: node:crypto), so
// the tests can run both backends; callers use the exported functions above.

/** What to do to each sector: encrypt, decrypt, or re-encrypt from `key` to `newKey`. */
interface Op {
  readonly enc: boolean
  readonly key: Uint8Array
  readonly newKey?: Uint8Array
}

/** Internal: {@link xtsEncryptSectors} / {@link xtsDecryptSectors} on a chosen backend. */
export function runSectors(
  impl: NativeXts | undefined,
  enc: boolean,
  key: Uint8Array,
  data: Uint8Array,
  firstSector: number,
  sectorSize: number,
): void {
  checkSectorArgs(key, data, firstSector, sectorSize)
  runSync(impl, { enc, key }, data, firstSector, sectorSize)
}

/** Internal: {@link xtsReencryptSectors} on a chosen backend. */
export function runReencrypt(
  impl: NativeXts | undefined,
  oldKey: Uint8Array,
  newKey: Uint8Array,
  data: Uint8Array,
  firstSector: number,
  sectorSize: number,
): void {
  checkSectorArgs(oldKey, data, firstSector, sectorSize)
  checkSectorArgs(newKey, data, firstSector, sectorSize)
  runSync(impl, { enc: false, key: oldKey, newKey }, data, firstSector, sectorSize)
}

/** Internal: the async sector functions on a chosen backend. */
export async function runSectorsAsync(
  impl: NativeXts | undefined,
  enc: boolean,
  key: Uint8Array,
  data: Uint8Array,
  firstSector: number,
  sectorSize: number,
): Promise<void> {
  checkSectorArgs(key, data, firstSector, sectorSize)
  return runAsync(impl, { enc, key }, data, firstSector, sectorSize)
}

/** Internal: {@link xtsReencryptSectorsAsync} on a chosen backend. */
export async function runReencryptAsync(
  impl: NativeXts | undefined,
  oldKey: Uint8Array,
  newKey: Uint8Array,
  data: Uint8Array,
  firstSector: number,
  sectorSize: number,
): Promise<void> {
  checkSectorArgs(oldKey, data, firstSector, sectorSize)
  checkSectorArgs(newKey, data, firstSector, sectorSize)
  return runAsync(impl, { enc: false, key: oldKey, newKey }, data, firstSector, sectorSize)
}

function runSync(
  impl: NativeXts | undefined,
  op: Op,
  data: Uint8Array,
  first: number,
  ss: number,
): void {
  if (!impl) return nodeOp(op, data, first, ss)
  try {
    if (op.newKey) impl.reencrypt(op.key, op.newKey, data, first, ss)
    else impl.sectors(op.enc, op.key, data, first, ss)
  } catch (e) {
    throw asEnvelopeError(e)
  }
}

function nodeOp(op: Op, data: Uint8Array, first: number, ss: number): void {
  if (!op.newKey) return nodeSectors(op.enc, op.key, data, first, ss)
  nodeSectors(false, op.key, data, first, ss)
  nodeSectors(true, op.newKey, data, first, ss)
}

/** Below this a buffer goes to one job: a thread hop costs more than splitting saves. */
const SPLIT_MIN_BYTES = 1 << 20
/**
 * Jobs per call: one per core, but no more than libuv's pool has threads (4 unless
 * UV_THREADPOOL_SIZE says otherwise), since extra jobs would only queue there.
 */
const MAX_JOBS = Math.max(
  1,
  Math.min(availableParallelism(), Number(process.env.UV_THREADPOOL_SIZE) || 4),
)
/** The node:crypto fallback yields to the event loop after this much work. */
const FALLBACK_SLICE_BYTES = 1 << 20

/** How many pool jobs a buffer of `bytes` holding `sectors` sectors is split into. */
function jobCount(bytes: number, sectors: number): number {
  return Math.max(1, Math.min(MAX_JOBS, Math.floor(bytes / SPLIT_MIN_BYTES), sectors))
}

/**
 * Internal: runs `count` sectors (`bytes` in all) as pool jobs, one per core-sized run of
 * sectors; `start(s, end)` queues the job for sectors [s, end). Every queued job has finished
 * with the caller's memory before a failure is reported.
 */
export async function splitJobs(
  bytes: number,
  count: number,
  start: (s: number, end: number) => Promise<void>,
): Promise<void> {
  const per = Math.ceil(count / jobCount(bytes, count))
  const jobs: Promise<void>[] = []
  try {
    for (let s = 0; s < count; s += per) jobs.push(start(s, Math.min(count, s + per)))
  } catch (e) {
    // Queueing failed part-way: let the queued jobs finish with the memory before reporting.
    await Promise.allSettled(jobs)
    throw asEnvelopeError(e)
  }
  const results = await Promise.allSettled(jobs)
  for (const r of results) if (r.status === 'rejected') throw asEnvelopeError(r.reason)
}

async function runAsync(
  impl: NativeXts | undefined,
  op: Op,
  data: Uint8Array,
  first: number,
  ss: number,
): Promise<void> {
  const count = data.length / ss
  if (!impl) return fallbackAsync(op, data, first, ss)
  await splitJobs(data.length, count, (s, end) => {
    const part = data.subarray(s * ss, end * ss)
    return op.newKey
      ? impl.reencryptAsync(op.key, op.newKey, part, first + s, ss)
      : impl.sectorsAsync(op.enc, op.key, part, first + s, ss)
  })
}

async function fallbackAsync(op: Op, data: Uint8Array, first: number, ss: number): Promise<void> {
  // Private key copies: the caller may zero its keys while we yield.
  const copy: Op = {
    enc: op.enc,
    key: Buffer.from(op.key),
    ...(op.newKey ? { newKey: Buffer.from(op.newKey) } : {}),
  }
  try {
    const per = Math.max(1, Math.floor(FALLBACK_SLICE_BYTES / ss))
    const count = data.length / ss
    for (let s = 0; s < count; s += per) {
      await new Promise<void>((resolve) => setImmediate(resolve))
      const end = Math.min(count, s + per)
      nodeOp(copy, data.subarray(s * ss, end * ss), first + s, ss)
    }
  } finally {
    copy.key.fill(0)
    copy.newKey?.fill(0)
  }
}

const isXtsCode = (code: string): code is EnvelopeErrorCode =>
  code.startsWith('ERR_XTS_') && Object.hasOwn(envelopeErrors, code)

/** The addon throws plain Errors carrying `code`; give them the package's error shape. */
export function asEnvelopeError(e: unknown): Error {
  if (e instanceof EnvelopeError) return e
  const code = (e as { code?: unknown } | null)?.code
  if (e instanceof Error && typeof code === 'string' && isXtsCode(code))
    return new EnvelopeError(code, e.message)
  return new EnvelopeError('ERR_XTS_CRYPTO', 'XTS operation failed in the native addon', {
    cause: e,
  })
}
