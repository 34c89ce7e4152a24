import { closeSync, fsyncSync, openSync, readSync, writeSync, constants } from 'node:fs'
import { dirname } from 'node:path'

/** Read exactly `buf.length` bytes at `pos` unless the file ends; returns the count read. */
export function preadFull(fd: number, buf: Uint8Array, pos: number): number {
  let done = 0
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, pos + done)
    if (n === 0) break
    done += n
  }
  return done
}

/** Write all of `buf` at `pos`. */
export function pwriteFull(fd: number, buf: Uint8Array, pos: number): void {
  let done = 0
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, pos + done)
}

/** fsync a directory so that a created, renamed or removed entry is durable. */
export function fsyncDir(path: string): void {
  const fd = openSync(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY)
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
