import {
  closeSync,
  fsyncSync,
  openSync,
  unlinkSync,
  writeSync,
  fstatSync,
  readSync,
  constants,
} from 'node:fs'
import { randomBytes } from 'node:crypto'
import { dirname } from 'node:path'
import { fsyncDir, writeFileAtomic as writeAtomic } from '@ward/core'
import { HostError } from '../errors.js'

export { fsyncDir }

/**
 * Replace `path` with `data` so that a crash leaves either the old or the new content, through
 * `@ward/core`'s writeFileAtomic: a new temporary file with a random name in the same folder
 * (O_EXCL|O_NOFOLLOW, `mode`), fsync, rename over (a symlink or hard link at `path` is replaced,
 * never written through), fsync the folder.
 */
export function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o600): void {
  writeAtomic(path, data, { mode })
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
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return undefined
    if (code === 'ELOOP')
      throw new HostError(
        'ERR_HOST_DATA_DIR',
        `${path} is a symbolic link: data files must be regular files (remove the link and restore the file)`,
        {},
        { cause: e },
      )
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
 * the stored keys are also encrypted under a key that is discarded at the same time. Only a
 * regular file with a single link is overwritten: anything else at the name (a hard link to
 * another file, a device) is only unlinked, so shredding never destroys another name's data.
 */
export function shredFile(path: string): boolean {
  let fd: number
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return false
    if (code !== 'ELOOP') throw e
    fd = -1 // a symlink: remove the link itself, never touch its target
  }
  try {
    const st = fd >= 0 ? fstatSync(fd) : undefined
    if (st?.isFile() && st.nlink === 1)
      for (let pass = 0; pass < 2; pass++) {
        let off = 0
        while (off < st.size) {
          const chunk = randomBytes(Math.min(1 << 20, st.size - off))
          off += writeSync(fd, chunk, 0, chunk.length, off)
        }
        fsyncSync(fd)
      }
  } finally {
    if (fd >= 0) closeSync(fd)
  }
  unlinkSync(path)
  fsyncDir(dirname(path))
  return true
}
