import { lstat, unlink } from 'node:fs/promises'
import { connect } from 'node:net'
import { dirname, isAbsolute } from 'node:path'
import { NbdError } from '../errors.js'

/** sun_path is 108 bytes on Linux, NUL included. */
export const MAX_SOCKET_PATH = 107

const code = (e: unknown): unknown => (e as { code?: unknown } | null)?.code

/**
 * Check that a unix socket may be created at `path`: absolute, short enough, inside a directory
 * (not a symlink) owned by this user with no group/other permission bits (0700 or narrower). A
 * socket left at `path` by an earlier run is removed (only this user can have put it there) unless
 * a server still accepts on it; any other file there is refused.
 */
export async function prepareSocketPath(path: string): Promise<void> {
  if (!isAbsolute(path) || path.includes('\0'))
    throw new NbdError('ERR_NBD_SOCKET_PATH', `socket path must be absolute: ${path}`)
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH)
    throw new NbdError(
      'ERR_NBD_SOCKET_PATH',
      `socket path is longer than ${MAX_SOCKET_PATH} bytes (unix socket limit); use a shorter run folder`,
      { details: { bytes: Buffer.byteLength(path) } },
    )
  const dir = dirname(path)
  let st
  try {
    st = await lstat(dir)
  } catch (e) {
    throw new NbdError(
      'ERR_NBD_SOCKET_DIR',
      `socket folder ${dir} cannot be read: create it (mode 0700)`,
      {
        cause: e,
      },
    )
  }
  if (!st.isDirectory())
    throw new NbdError(
      'ERR_NBD_SOCKET_DIR',
      `socket folder ${dir} is not a directory (symlinks are refused)`,
    )
  const uid = process.getuid?.()
  if (uid !== undefined && st.uid !== uid)
    throw new NbdError('ERR_NBD_SOCKET_DIR', `socket folder ${dir} is not owned by this user`, {
      details: { owner: st.uid, uid },
    })
  if ((st.mode & 0o077) !== 0)
    throw new NbdError(
      'ERR_NBD_SOCKET_DIR',
      `socket folder ${dir} has mode 0${(st.mode & 0o777).toString(8)}: run chmod 700 on it`,
      { details: { mode: st.mode & 0o777 } },
    )
  let existing
  try {
    existing = await lstat(path)
  } catch (e) {
    if (code(e) === 'ENOENT') return
    throw new NbdError('ERR_NBD_SOCKET_PATH', `cannot check ${path}`, { cause: e })
  }
  if (!existing.isSocket())
    throw new NbdError(
      'ERR_NBD_SOCKET_PATH',
      `${path} exists and is not a socket: remove it or pick another path`,
    )
  if (await accepting(path))
    throw new NbdError(
      'ERR_NBD_SOCKET_PATH',
      `${path} is in use by a running server: stop it first`,
    )
  await unlink(path)
}

/** Does a server accept connections on the unix socket at `path`? */
function accepting(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path)
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}
