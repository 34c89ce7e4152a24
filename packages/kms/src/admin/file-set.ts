/**
 * Put a set of files that belong together (a client's ca.pem, NAME.crt, NAME.key) in place all at
 * once, or leave what was there. `ward kms client add --out DIR` writes through this.
 */
import { randomBytes } from 'node:crypto'
import {
  closeSync,
  constants,
  fsyncSync,
  linkSync,
  lstatSync,
  openSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { fsyncDir } from '@ward/core'
import { KmsError } from '../errors.js'

/** A fresh name next to `path` (random, so no one can plant it in advance). */
const tempNameFor = (path: string): string =>
  join(dirname(path), `.${basename(path)}.ward-tmp-${randomBytes(8).toString('hex')}`)

/**
 * Write `data` to a new file at `path` with `mode`: O_CREAT | O_EXCL | O_NOFOLLOW, so an existing
 * file, hard link or symlink at that name is an error, never opened; synced before it is closed.
 * On a failed write the partial file is removed.
 */
function writeNewFile(path: string, data: string | Uint8Array, mode: number): void {
  const fd = openSync(
    path,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    mode,
  )
  try {
    const b = typeof data === 'string' ? Buffer.from(data) : data
    let off = 0
    while (off < b.length) off += writeSync(fd, b, off, b.length - off)
    fsyncSync(fd)
  } catch (e) {
    closeSync(fd)
    unlinkSync(path)
    throw e
  }
  closeSync(fd)
}

export interface NewFile {
  readonly path: string
  readonly data: string | Uint8Array
  readonly mode: number
}

interface Staged {
  readonly path: string
  readonly tmp: string
  /** A hard link to the file `path` held before, kept until the whole set is in place. */
  backup?: string | undefined
}

const quiet = (fn: () => void): void => {
  try {
    fn()
  } catch {
    // best effort: cleaning up after a failure that is reported anyway
  }
}

const outError = (message: string, cause?: unknown): KmsError =>
  new KmsError('ERR_KMS_CLIENT_OUT', message, cause === undefined ? undefined : { cause })

/**
 * Write `files` (all in one directory) as one set:
 * 1. every target must be absent or a regular file: a symlink (or a directory, a device...) is
 *    refused before anything is written, so nothing is ever written through a link;
 * 2. each file is written under a random temporary name in the target directory with O_EXCL |
 *    O_NOFOLLOW and its mode, and synced;
 * 3. the temporary files are renamed over the targets, the files they replace kept as hard links
 *    until the last rename is done: if a rename fails, the renamed ones are put back (or removed
 *    when they are new), so the directory holds the old set or the new one, never half of each.
 * The directory is synced at the end. `rename` is replaceable for tests of step 3.
 */
export function replaceFileSet(
  files: readonly NewFile[],
  rename: (from: string, to: string) => void = renameSync,
): void {
  for (const f of files) {
    let st
    try {
      st = lstatSync(f.path)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw outError(`cannot check ${f.path}: ${(e as NodeJS.ErrnoException).code ?? e}`, e)
    }
    if (st.isSymbolicLink())
      throw outError(
        `${f.path} is a symbolic link; nothing was written (ward never writes through one): remove it, or choose another --out`,
      )
    if (!st.isFile())
      throw outError(
        `${f.path} exists and is not a regular file; nothing was written: remove it, or choose another --out`,
      )
  }
  const staged: Staged[] = []
  const dropStaged = (): void => {
    for (const s of staged) {
      quiet(() => unlinkSync(s.tmp))
      if (s.backup !== undefined) quiet(() => unlinkSync(s.backup!))
    }
  }
  try {
    for (const f of files) {
      const tmp = tempNameFor(f.path)
      writeNewFile(tmp, f.data, f.mode)
      staged.push({ path: f.path, tmp })
    }
    for (const s of staged) {
      const backup = tempNameFor(s.path)
      try {
        linkSync(s.path, backup)
        s.backup = backup
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
      }
    }
  } catch (e) {
    dropStaged()
    const dir = dirname(files[0]?.path ?? '.')
    throw outError(
      `cannot write in ${dir} (${(e as NodeJS.ErrnoException).code ?? String(e)}); nothing was changed: check that the directory is writable and has room`,
      e,
    )
  }
  const done: Staged[] = []
  try {
    for (const s of staged) {
      rename(s.tmp, s.path)
      done.push(s)
    }
  } catch (e) {
    for (const s of done.reverse()) {
      if (s.backup !== undefined) {
        const b = s.backup
        quiet(() => renameSync(b, s.path))
        s.backup = undefined
      } else quiet(() => unlinkSync(s.path))
    }
    dropStaged()
    throw outError(
      `replacing the files in ${dirname(staged[0]!.path)} failed (${(e as NodeJS.ErrnoException).code ?? String(e)}); the previous files were put back`,
      e,
    )
  }
  for (const s of staged) if (s.backup !== undefined) quiet(() => unlinkSync(s.backup!))
  quiet(() => fsyncDir(dirname(staged[0]?.path ?? '.')))
}
