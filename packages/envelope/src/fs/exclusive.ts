import { randomBytes } from 'node:crypto'
import { constants, fstatSync, lstatSync, openSync, unlinkSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

/*
 * Creating output files (issue 10, finding 7): every file Ward writes into is one it has just
 * created. O_CREAT|O_EXCL fails on any existing name, a symlink (dangling or not) included, so a
 * file, hard link or symlink someone planted under the name is never reused, truncated, followed
 * or renamed into place; O_NOFOLLOW is the second guard. Temporary names are random, so they
 * cannot be planted in advance. Mode 0600 (the umask can only narrow it).
 */

/** Flags that make an open create a new file or fail. */
export const CREATE_NEW = constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW

/** Mode of every file Ward creates: owner only. */
export const OWNER_ONLY = 0o600

/** Identity of a file we created, to tell later whether a name still points at it. */
export interface FileId {
  readonly dev: number
  readonly ino: number
}

/** Longest base name kept in a temporary name (NAME_MAX is 255 on Linux). */
const MAX_BASE = 200

/** A random hidden name beside `target`: `.NAME.ward-tmp-<16 hex digits>`. */
export function tempPathBeside(target: string): string {
  const base = basename(target).slice(0, MAX_BASE)
  return join(dirname(target), `.${base}.ward-tmp-${randomBytes(8).toString('hex')}`)
}

/** Create `path` as a new file (0600) opened with `access` (O_RDWR, O_WRONLY); throws errno errors. */
export function createNew(path: string, access: number = constants.O_RDWR): number {
  return openSync(path, access | CREATE_NEW, OWNER_ONLY)
}

/** A new temporary file beside `target`, open read-write; a name collision draws another. */
export function createTempBeside(target: string): { fd: number; path: string } & FileId {
  for (let attempt = 0; ; attempt++) {
    const path = tempPathBeside(target)
    try {
      const fd = createNew(path)
      const st = fstatSync(fd)
      return { fd, path, dev: st.dev, ino: st.ino }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw e
    }
  }
}

/** Whether `path` still names the file `id` (not replaced, not a symlink). */
export function stillNames(path: string, id: FileId): boolean {
  try {
    const st = lstatSync(path)
    return st.isFile() && st.dev === id.dev && st.ino === id.ino
  } catch {
    return false
  }
}

/** Remove `path` only while it still names the file we created; never someone else's file. */
export function unlinkIfStill(path: string, id: FileId): void {
  if (!stillNames(path, id)) return
  try {
    unlinkSync(path)
  } catch {
    /* already gone */
  }
}
