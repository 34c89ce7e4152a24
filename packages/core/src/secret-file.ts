import { closeSync, fstatSync, openSync, readSync, constants } from 'node:fs'
import { writeFileAtomic } from './atomic-file.js'
import { SecretFileError } from './errors.js'
import { Secret } from './secret.js'

export interface ReadSecretFileOptions {
  /** Exact length required (e.g. 32 for a KEK file). */
  readonly length?: number
  /** Maximum length accepted (default 64 KiB). */
  readonly maxLength?: number
  /** Strip one trailing newline (passphrase files). */
  readonly trimNewline?: boolean
}

/**
 * Read a file that holds a secret. It must be a regular file, mode 0600 or stricter (no group or
 * other bits), and owned by the current user; otherwise it is refused saying why.
 */
export function readSecretFile(path: string, options: ReadSecretFileOptions = {}): Secret {
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  } catch (e) {
    throw new SecretFileError(
      path,
      `cannot open secret file (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      { cause: e },
    )
  }
  try {
    const st = fstatSync(fd)
    if (!st.isFile()) throw new SecretFileError(path, 'not a regular file')
    if ((st.mode & 0o077) !== 0)
      throw new SecretFileError(
        path,
        `mode is ${(st.mode & 0o777).toString(8).padStart(4, '0')}; a secret file must be 0600 (run: chmod 600 ${path})`,
      )
    if (typeof process.getuid === 'function' && st.uid !== process.getuid())
      throw new SecretFileError(path, 'not owned by the current user')
    const max = options.maxLength ?? 65536
    if (st.size > max) throw new SecretFileError(path, `file is larger than ${max} bytes`)
    const buf = new Uint8Array(st.size)
    let off = 0
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off)
      if (n === 0) break
      off += n
    }
    let bytes = buf.subarray(0, off)
    if (options.trimNewline) {
      let end = bytes.length
      if (end > 0 && bytes[end - 1] === 0x0a) end--
      if (end > 0 && bytes[end - 1] === 0x0d) end--
      bytes = bytes.subarray(0, end)
    }
    if (options.length !== undefined && bytes.length !== options.length) {
      buf.fill(0)
      throw new SecretFileError(
        path,
        `must hold exactly ${options.length} bytes, found ${bytes.length}`,
      )
    }
    const secret = new Secret(new Uint8Array(bytes))
    buf.fill(0)
    return secret
  } finally {
    closeSync(fd)
  }
}

/**
 * Write a secret to a new file with mode 0600, atomically (see {@link writeFileAtomic}: a random
 * temporary file, never a planted one, then rename or link). An existing name is
 * `ERR_FILE_EXISTS` and left as it is, unless `overwrite`: then the name is replaced (a symlink
 * or hard link there is never written through).
 */
export function writeSecretFile(
  path: string,
  secret: Secret,
  options: { overwrite?: boolean } = {},
): void {
  secret.use((bytes) =>
    writeFileAtomic(path, bytes, { mode: 0o600, overwrite: options.overwrite === true }),
  )
}
