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
import { WardError } from './errors.js'

export interface WriteFileAtomicOptions {
  /** Mode of the new file (default 0600; the umask can only narrow it). */
  readonly mode?: number
  /**
   * Replace an existing `path` (default true). When false, an existing name (a symlink, dangling
   * or not, included) is `ERR_FILE_EXISTS` and is left as it is.
   */
  readonly overwrite?: boolean
}

/** Longest base name kept in a temporary name (NAME_MAX is 255 on Linux). */
const MAX_BASE = 200

/**
 * Write `data` to `path` so that a crash leaves either the old content or the new, and nothing
 * already on disk is ever written through: the data goes to a new temporary file with a random
 * name in the same folder (`.NAME.ward-tmp-<hex>`, created with O_CREAT|O_EXCL|O_NOFOLLOW, so a
 * planted file, hard link or symlink is never opened), which is fsync'd and then renamed over
 * `path` (or hard-linked to it when not overwriting, which fails on any existing name); the
 * folder is fsync'd last. A symlink or hard link at `path` is replaced, never followed. On
 * failure the temporary file is removed and `path` is as it was.
 */
export function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: WriteFileAtomicOptions = {},
): void {
  const overwrite = options.overwrite ?? true
  const dir = dirname(path)
  if (!overwrite && exists(path)) throw existsError(path)
  let tmp = ''
  let fd = -1
  for (let attempt = 0; fd < 0; attempt++) {
    tmp = join(
      dir,
      `.${basename(path).slice(0, MAX_BASE)}.ward-tmp-${randomBytes(8).toString('hex')}`,
    )
    try {
      fd = openSync(
        tmp,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        options.mode ?? 0o600,
      )
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw e
    }
  }
  try {
    try {
      const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
      let off = 0
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    if (overwrite) renameSync(tmp, path)
    else {
      try {
        linkSync(tmp, path)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw existsError(path)
        throw e
      }
      unlinkSync(tmp)
    }
  } catch (e) {
    try {
      unlinkSync(tmp)
    } catch {
      /* renamed or never created */
    }
    throw e
  }
  fsyncDir(dir)
}

/** fsync a folder so that a created, renamed or removed entry in it is durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY)
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

function exists(path: string): boolean {
  try {
    lstatSync(path)
    return true
  } catch {
    return false
  }
}

const existsError = (path: string): WardError =>
  new WardError(
    'ERR_FILE_EXISTS',
    `${path} already exists; it was left as it is (remove it, or choose another name)`,
    { path },
  )
