import {
  close,
  constants,
  fdatasync,
  fstat,
  ftruncate,
  open,
  read,
  write,
  type Stats,
} from 'node:fs'
import { NbdError } from '../errors.js'
import type { NbdBackend } from '../server/backend.js'

/** Counters of what reached the file (tests check that a guest's FLUSH got here). */
export interface FileBackendStats {
  reads: number
  writes: number
  /** fdatasync calls: FLUSH, and FUA writes/trims/zeroes. */
  syncs: number
  flushes: number
  fuaWrites: number
  trims: number
  zeroes: number
  bytesRead: number
  bytesWritten: number
}

export interface FileBackend extends NbdBackend {
  readonly path: string
  readonly size: number
  readonly stats: FileBackendStats
  close(): Promise<void>
}

export interface FileBackendOptions {
  readonly readOnly?: boolean
  /** Create the file (refusing an existing one) with this size; sparse. */
  readonly create?: { readonly size: number }
}

const p = <T>(fn: (cb: (e: NodeJS.ErrnoException | null, v: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((e, v) => (e ? reject(e) : resolve(v))))

const ZERO_CHUNK = 1024 * 1024

/**
 * A raw file as an NBD export: positional reads and writes on one descriptor, fdatasync on FLUSH
 * and after every FUA write. The plain reference the crypto filter is compared with. All
 * connections share the descriptor and there is no cache of ours, so multi-conn is safe.
 * TRIM is accepted as the hint it is and leaves the data (Node has no fallocate hole punching).
 */
export async function openFileBackend(
  path: string,
  o: FileBackendOptions = {},
): Promise<FileBackend> {
  const flags =
    o.create !== undefined
      ? constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW
      : (o.readOnly ? constants.O_RDONLY : constants.O_RDWR) | constants.O_NOFOLLOW
  const fd = await p<number>((cb) => open(path, flags, 0o600, cb))
  let size: number
  try {
    if (o.create !== undefined) {
      const { size: want } = o.create
      if (!Number.isSafeInteger(want) || want < 0)
        throw new NbdError('ERR_NBD_ARG', 'file backend: size must be a non-negative integer')
      await p<undefined>((cb) => ftruncate(fd, want, (e) => cb(e, undefined)))
    }
    const st = await p<Stats>((cb) => fstat(fd, cb))
    if (!st.isFile() && !st.isBlockDevice())
      throw new NbdError('ERR_NBD_ARG', `file backend: ${path} is not a regular file`)
    size = st.size
  } catch (e) {
    close(fd, () => undefined)
    throw e
  }
  const stats: FileBackendStats = {
    reads: 0,
    writes: 0,
    syncs: 0,
    flushes: 0,
    fuaWrites: 0,
    trims: 0,
    zeroes: 0,
    bytesRead: 0,
    bytesWritten: 0,
  }
  let closed = false
  const sync = async (): Promise<void> => {
    stats.syncs++
    await p<undefined>((cb) => fdatasync(fd, (e) => cb(e, undefined)))
  }
  const readInto = async (offset: number, target: Uint8Array): Promise<void> => {
    stats.reads++
    let done = 0
    while (done < target.length) {
      const n = await p<number>((cb) =>
        read(fd, target, done, target.length - done, offset + done, cb),
      )
      if (n === 0)
        throw new NbdError('ERR_NBD_BACKEND', 'file backend: read past the end of the file', {
          errno: 5,
        })
      done += n
    }
    stats.bytesRead += done
  }
  const writeAll = async (offset: number, data: Uint8Array): Promise<void> => {
    let done = 0
    while (done < data.length) {
      const n = await p<number>((cb) =>
        write(fd, data, done, data.length - done, offset + done, cb),
      )
      done += n
    }
    stats.bytesWritten += done
  }
  return {
    path,
    size,
    stats,
    readOnly: o.readOnly ?? false,
    sharedCache: true,
    async read(offset, length) {
      const b = Buffer.allocUnsafe(length)
      await readInto(offset, b)
      return b
    },
    readInto,
    async write(offset, data, { fua }) {
      stats.writes++
      await writeAll(offset, data)
      if (fua) {
        stats.fuaWrites++
        await sync()
      }
    },
    async flush() {
      stats.flushes++
      await sync()
    },
    async trim(_offset, _length, { fua }) {
      stats.trims++
      if (fua) await sync()
    },
    async writeZeroes(offset, length, { fua }) {
      stats.zeroes++
      const z = Buffer.alloc(Math.min(ZERO_CHUNK, length))
      for (let done = 0; done < length;) {
        const n = Math.min(z.length, length - done)
        await writeAll(offset + done, n === z.length ? z : z.subarray(0, n))
        done += n
      }
      if (fua) await sync()
    },
    async close() {
      if (closed) return
      closed = true
      await p<undefined>((cb) => close(fd, (e) => cb(e, undefined)))
    },
  }
}
