import { read, write } from 'node:fs'
import { availableParallelism } from 'node:os'
import { checkSectorArgs } from './check.js'
import { native, type NativeXts } from './native.js'
import { asEnvelopeError, xtsDecryptSectorsAsync, xtsEncryptSectorsAsync } from './xts.js'

/*
 * XTS with the file I/O: read whole sectors from a file and decrypt them, or encrypt and write
 * them, for a live data path (the host's crypto filter) that serves one request at a time. With
 * the native addon the pread (pwrite) and the cipher run in the same libuv pool job, so a request
 * crosses to the pool and back once instead of twice (bench/README.md, `vm`); buffers over 1 MiB
 * are split into one job per core as in xts.ts. Without it (or with an older build), fs.read /
 * fs.write and the async sector functions do the same in two steps.
 *
 * I/O failures reject like Node's fs errors (`code` ENOSPC, EIO, ...; `syscall`); a read past
 * the end of the file with ERR_XTS_INPUT_SHORT; argument errors with the ERR_XTS_* codes.
 *
 * A SectorWriter (sectorWriter) gathers the writes made to one file in one turn of the event
 * loop (requests that arrived together) and hands them to the pool as ONE job: one thread woken
 * and one completion per batch instead of per request (on a loaded two-core host the woken
 * worker preempts the main thread, which then waits; bench/README.md, `vm`), one key set-up,
 * and one pwritev for writes that follow each other in the file.
 */

/** Below this a buffer is one job; jobs per call: one per core, at most libuv's pool (as xts.ts). */
const SPLIT_MIN_BYTES = 1 << 20
/** Writes per sectorsWriteManyAsync call (the addon's limit). */
const MANY_MAX = 1024
const MAX_JOBS = Math.max(
  1,
  Math.min(availableParallelism(), Number(process.env.UV_THREADPOOL_SIZE) || 4),
)

/** A run of whole sectors and its place in a file, for {@link xtsReadSectorsAsync} / {@link xtsWriteSectorsAsync}. */
export interface SectorIo {
  /** The file; it must stay open until the promise settles. */
  readonly fd: number
  /** Byte offset in the file of `data`'s first byte. */
  readonly position: number
  /** The XTS key (32 or 64 bytes). */
  readonly key: Uint8Array
  /** Whole sectors, transformed in place; untouched by the caller until the promise settles. */
  readonly data: Uint8Array
  /** XTS sector number of `data`'s first sector (in units of `sectorSize`). */
  readonly firstSector: number
  readonly sectorSize: number
}

/** Reads `io.data.length` bytes of the file at `io.position` into `io.data`, then decrypts them in place. */
export function xtsReadSectorsAsync(io: SectorIo): Promise<void> {
  return runIo(native, 'read', io)
}

/** Encrypts `io.data` in place (it then holds ciphertext) and writes it to the file at `io.position`. */
export function xtsWriteSectorsAsync(io: SectorIo): Promise<void> {
  return runIo(native, 'write', io)
}

/**
 * Internal: the two functions above on a chosen backend (tests run both). Not an async function,
 * so that the common case (one job) settles with the job's own promise and no extra turns; every
 * failure is still a rejection.
 */
export function runIo(
  impl: NativeXts | undefined,
  direction: 'read' | 'write',
  io: SectorIo,
): Promise<void> {
  try {
    return startIo(impl, direction === 'write', io)
  } catch (e) {
    return Promise.reject(e as Error)
  }
}

/** Throws the ERR_XTS_* code of the first bad argument of `io`. */
function checkIo(io: SectorIo): void {
  const { fd, position } = io
  checkSectorArgs(io.key, io.data, io.firstSector, io.sectorSize)
  if (!Number.isSafeInteger(position) || position < 0 || !Number.isInteger(fd) || fd < 0)
    throw asEnvelopeError(
      Object.assign(new Error('expected a file descriptor and a position'), {
        code: 'ERR_XTS_ARGUMENT',
      }),
    )
}

function startIo(impl: NativeXts | undefined, writing: boolean, io: SectorIo): Promise<void> {
  const { fd, position, key, data, firstSector, sectorSize } = io
  checkIo(io)
  const fn = writing ? impl?.sectorsWriteAsync : impl?.sectorsReadAsync
  if (impl === undefined || fn === undefined) return writing ? fallbackWrite(io) : fallbackRead(io)
  const count = data.length / sectorSize
  const jobs = Math.max(1, Math.min(MAX_JOBS, Math.floor(data.length / SPLIT_MIN_BYTES), count))
  if (jobs === 1) {
    // the common case (one request up to 1 MiB): no array of promises to settle
    let job: Promise<void>
    try {
      job = fn.call(impl, key, data, firstSector, sectorSize, fd, position)
    } catch (e) {
      throw asIoError(e)
    }
    return job.catch((e: unknown) => {
      throw asIoError(e)
    })
  }
  return splitIo(fn, impl, io, jobs)
}

/** Writes of whole sectors to one file with one key, gathered per event-loop turn (above). */
export interface SectorWriter {
  /**
   * Encrypts `data` in place (it then holds ciphertext) and writes it at `position`, as
   * xtsWriteSectorsAsync does; `data` stays untouched by the caller until the promise settles.
   */
  write(position: number, data: Uint8Array, firstSector: number): Promise<void>
}

/**
 * A SectorWriter for the file `fd` (kept open while writes are pending) and `key` (read when a
 * batch is queued: keep it intact while writes are pending).
 */
export function sectorWriter(o: {
  readonly fd: number
  readonly key: Uint8Array
  readonly sectorSize: number
}): SectorWriter {
  return writerWith(native, o)
}

interface Queued {
  readonly position: number
  readonly data: Uint8Array
  readonly firstSector: number
  readonly resolve: () => void
  readonly reject: (e: unknown) => void
}

/** Internal: {@link sectorWriter} on a chosen backend (tests run native and fallback). */
export function writerWith(
  impl: NativeXts | undefined,
  o: { readonly fd: number; readonly key: Uint8Array; readonly sectorSize: number },
): SectorWriter {
  const { fd, key, sectorSize } = o
  let queue: Queued[] = []
  const single = (q: Queued): void => {
    const { position, data, firstSector } = q
    runIo(impl, 'write', { fd, key, sectorSize, position, data, firstSector }).then(
      q.resolve,
      q.reject,
    )
  }
  const flush = (): void => {
    const batch = queue
    queue = []
    const many = impl?.sectorsWriteManyAsync
    if (batch.length === 1 || many === undefined) return batch.forEach(single)
    for (let i = 0; i < batch.length; i += MANY_MAX) {
      const part = batch.slice(i, i + MANY_MAX)
      const items: (Uint8Array | number)[] = []
      for (const q of part) items.push(q.data, q.firstSector, q.position)
      let job: Promise<undefined | (Error | null)[]>
      try {
        job = many.call(impl, key, sectorSize, fd, items)
      } catch (e) {
        for (const q of part) q.reject(asIoError(e))
        continue
      }
      job.then(
        (errors) => {
          part.forEach((q, k) => {
            const e = errors?.[k]
            if (e === undefined || e === null) q.resolve()
            else q.reject(asIoError(e))
          })
        },
        (e: unknown) => {
          for (const q of part) q.reject(asIoError(e))
        },
      )
    }
  }
  return {
    write(position, data, firstSector) {
      const io: SectorIo = { fd, key, sectorSize, position, data, firstSector }
      // a big write is split across the cores on its own (startIo)
      if (data.length > SPLIT_MIN_BYTES) return runIo(impl, 'write', io)
      try {
        checkIo(io)
      } catch (e) {
        return Promise.reject(e as Error)
      }
      return new Promise<void>((resolve, reject) => {
        if (queue.push({ position, data, firstSector, resolve, reject }) === 1) setImmediate(flush)
      })
    },
  }
}

async function splitIo(
  fn: NonNullable<NativeXts['sectorsReadAsync']>,
  impl: NativeXts,
  io: SectorIo,
  jobs: number,
): Promise<void> {
  const { fd, position, key, data, firstSector, sectorSize } = io
  const count = data.length / sectorSize
  const per = Math.ceil(count / jobs)
  const started: Promise<void>[] = []
  let queueError: unknown
  try {
    for (let s = 0; s < count; s += per) {
      const end = Math.min(count, s + per)
      started.push(
        fn.call(
          impl,
          key,
          data.subarray(s * sectorSize, end * sectorSize),
          firstSector + s,
          sectorSize,
          fd,
          position + s * sectorSize,
        ),
      )
    }
  } catch (e) {
    queueError = e
  }
  // every queued job is done with the caller's memory before anything is reported
  const results = await Promise.allSettled(started)
  if (queueError !== undefined) throw asIoError(queueError)
  for (const r of results) if (r.status === 'rejected') throw asIoError(r.reason)
}

/** System errors (code ENOSPC, EIO, ...) as they are; the addon's own as EnvelopeErrors. */
function asIoError(e: unknown): unknown {
  const code = (e as { code?: unknown } | null)?.code
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return e
  return asEnvelopeError(e)
}

const p = <T>(fn: (cb: (e: NodeJS.ErrnoException | null, v: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((e, v) => (e ? reject(e) : resolve(v))))

async function fallbackRead(io: SectorIo): Promise<void> {
  const { fd, position, key, data, firstSector, sectorSize } = io
  for (let done = 0; done < data.length;) {
    const n = await p<number>((cb) => read(fd, data, done, data.length - done, position + done, cb))
    if (n === 0)
      throw asEnvelopeError(
        Object.assign(new Error('the file ends before the sectors asked for'), {
          code: 'ERR_XTS_INPUT_SHORT',
        }),
      )
    done += n
  }
  await xtsDecryptSectorsAsync(key, data, firstSector, sectorSize)
}

async function fallbackWrite(io: SectorIo): Promise<void> {
  const { fd, position, key, data, firstSector, sectorSize } = io
  await xtsEncryptSectorsAsync(key, data, firstSector, sectorSize)
  for (let done = 0; done < data.length;)
    done += await p<number>((cb) => write(fd, data, done, data.length - done, position + done, cb))
}
