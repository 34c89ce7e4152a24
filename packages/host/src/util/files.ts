import {
  closeSync,
  fsyncSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
  fstatSync,
  readSync,
  constants,
} from 'node:fs'
import { randomBytes } from 'node:crypto'
import { dirname, basename, join } from 'node:path'
import { HostError } from '../errors.js'

/**
 * Replace `path` with `data` so that a crash leaves either the old or the new content:
 * write a temp file in the same folder, fsync it, rename over, fsync the folder.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o600): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode)
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
    let off = 0
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off)
    fsyncSync(fd)
  } catch (e) {
    closeSync(fd)
    unlinkSync(tmp)
    throw e
  }
  closeSync(fd)
  renameSync(tmp, path)
  fsyncDir(dirname(path))
}

/** fsync a folder so a rename or unlink in it is durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY)
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/**
 * Read a whole regular file, refusing anything larger than `max` bytes. Returns undefined when
 * the file does not exist.
 */
export function readFileBounded(path: string, max: number): Buffer | undefined {
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) throw new HostError('ERR_HOST_DATA_DIR', `${path} is not a regular file`)
    if (st.size > max)
      throw new HostError('ERR_HOST_FILE_TOO_LARGE', `${path} is larger than ${max} bytes`, {
        size: st.size,
      })
    const buf = Buffer.alloc(st.size)
    let off = 0
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off)
      if (n === 0) break
      off += n
    }
    return buf.subarray(0, off)
  } finally {
    closeSync(fd)
  }
}

/**
 * Securely delete a file: overwrite its bytes with random data (twice, fsync each), then unlink
 * and fsync the folder. On copy-on-write or journaling file systems the overwrite is best effort;
 * the stored keys are also encrypted under a key that is discarded at the same time.
 */
export function shredFile(path: string): boolean {
  let fd: number
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_NOFOLLOW)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw e
  }
  try {
    const size = fstatSync(fd).size
    for (let pass = 0; pass < 2; pass++) {
      let off = 0
      while (off < size) {
        const chunk = randomBytes(Math.min(1 << 20, size - off))
        off += writeSync(fd, chunk, 0, chunk.length, off)
      }
      fsyncSync(fd)
    }
  } finally {
    closeSync(fd)
  }
  unlinkSync(path)
  fsyncDir(dirname(path))
  return true
}
