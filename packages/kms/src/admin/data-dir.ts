/**
 * Layout of a `ward kms` data directory (created by `ward kms init`), and the rules every
 * command applies to it: the directory is the owner's alone (mode 0700, no group or other bits,
 * owned by the user running ward; a wider one is refused, saying the chmod to run), and every file
 * Ward writes in it is 0600, created under a temporary name with O_EXCL | O_NOFOLLOW and renamed
 * into place. docs/kms.md "Data directory".
 */
import { randomBytes } from 'node:crypto'
import {
  chmodSync,
  closeSync,
  constants,
  fsyncSync,
  lstatSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { KmsError } from '../errors.js'

export const dataPaths = (dir: string) =>
  ({
    masterKey: join(dir, 'master.key'),
    caCert: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca.key'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    db: join(dir, 'kms.db'),
    audit: join(dir, 'audit.log'),
    runtime: join(dir, 'server.json'),
    clients: join(dir, 'clients.json'),
  }) as const

const octal = (mode: number): string => (mode & 0o777).toString(8).padStart(4, '0')

/**
 * Refuse a data dir that other users could read or change: any group or other permission bit, or
 * an owner other than the current user. Nothing is changed: a wider mode may mean someone else
 * already read or replaced files, so the administrator looks and runs the chmod the message gives.
 * A missing directory passes (the caller decides whether that means "not initialized").
 */
export function checkDataDir(dir: string): void {
  let st
  try {
    st = statSync(dir)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return
    throw e
  }
  if (!st.isDirectory())
    throw new KmsError(
      'ERR_KMS_DATA_DIR_MODE',
      `${dir} is not a directory; --data-dir names the directory made by ward kms init`,
      'GeneralFailure',
    )
  if (typeof process.getuid === 'function' && st.uid !== process.getuid())
    throw new KmsError(
      'ERR_KMS_DATA_DIR_OWNER',
      `data dir ${dir} belongs to uid ${st.uid}, not to the user running ward (uid ${process.getuid()}); run ward as its owner, or after checking its files: chown -R $(id -u) ${dir}`,
      'GeneralFailure',
    )
  if ((st.mode & 0o077) !== 0)
    throw new KmsError(
      'ERR_KMS_DATA_DIR_MODE',
      `data dir ${dir} is mode ${octal(st.mode)}: other users could read or replace its files; check that nobody did, then run: chmod 700 ${dir}`,
      'GeneralFailure',
    )
}

/**
 * Files of the data dir that are not secrets (secret files are refused when wider than 0600 by
 * readSecretFile) but are kept 0600 too: older versions wrote them 0644.
 */
const PRIVATE_FILES = (dir: string): string[] => {
  const p = dataPaths(dir)
  return [p.db, `${p.db}-wal`, `${p.db}-shm`, p.audit, p.runtime, p.clients, p.caCert, p.serverCert]
}

/**
 * Set the data dir's non-secret files (PRIVATE_FILES) that are wider than 0600 to 0600; returns
 * the ones changed (for the server to log). Symlinks and non-files are left alone.
 */
export function tightenDataFiles(dir: string): string[] {
  const changed: string[] = []
  for (const f of PRIVATE_FILES(dir)) {
    let st
    try {
      st = lstatSync(f)
    } catch {
      continue
    }
    if (!st.isFile() || (st.mode & 0o077) === 0) continue
    chmodSync(f, 0o600)
    changed.push(`${basename(f)} ${octal(st.mode)} -> 0600`)
  }
  return changed
}

/**
 * The paths of an initialized data dir that passes checkDataDir; with `tighten`, its files are set
 * to 0600 (tightenDataFiles) and `tighten` is told which were changed.
 */
export function openDataDir(
  dir: string,
  tighten?: (changed: readonly string[]) => void,
): ReturnType<typeof dataPaths> {
  checkDataDir(dir)
  const p = dataPaths(dir)
  try {
    lstatSync(p.masterKey)
  } catch {
    throw new KmsError(
      'ERR_KMS_NOT_INITIALIZED',
      `${dir} is not initialized; run: ward kms init --data-dir ${dir}`,
      'GeneralFailure',
    )
  }
  if (tighten !== undefined) {
    const changed = tightenDataFiles(dir)
    if (changed.length > 0) tighten(changed)
  }
  return p
}

/** Flags of a new file that must not exist yet and must not be reached through a symlink. */
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW

/** A fresh name next to `path` for a temporary file (random, so no one can plant it in advance). */
export const tempNameFor = (path: string): string =>
  join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)

/**
 * Write `data` to a new file at `path` with `mode` (O_EXCL | O_NOFOLLOW: an existing file or a
 * symlink at that name is an error, never followed or reused), synced before it is closed unless
 * `sync` is false. On a failed write the partial file is removed.
 */
export function writeNewFile(
  path: string,
  data: string | Uint8Array,
  mode: number,
  sync = true,
): void {
  const fd = openSync(path, CREATE_NEW, mode)
  try {
    const b = typeof data === 'string' ? Buffer.from(data) : data
    let off = 0
    while (off < b.length) off += writeSync(fd, b, off, b.length - off)
    if (sync) fsyncSync(fd)
  } catch (e) {
    closeSync(fd)
    unlinkSync(path)
    throw e
  }
  closeSync(fd)
}

/**
 * Replace `path` atomically by a 0600 file holding `data`: written under a random temporary name
 * in the same directory (writeNewFile), then renamed over `path`. Readers see the old file or the
 * new one, never a half-written one; a symlink at `path` is replaced, not followed. `sync: false`
 * skips the fsync, for a file that need not outlive a power cut (server.json).
 */
export function writePrivateFile(
  path: string,
  data: string | Uint8Array,
  opts: { readonly sync?: boolean } = {},
): void {
  const tmp = tempNameFor(path)
  writeNewFile(tmp, data, 0o600, opts.sync !== false)
  try {
    renameSync(tmp, path)
  } catch (e) {
    unlinkSync(tmp)
    throw e
  }
}

/**
 * The server recorded in `server.json` (see dataPaths().runtime) if its process is alive; a
 * missing or torn file, or the pid of a server that died, means none.
 */
export function runningServer(
  runtime: string,
): { host: string; port: number; pid: number } | undefined {
  let r: { host: string; port: number; pid: number }
  try {
    r = JSON.parse(readFileSync(runtime, 'utf8')) as typeof r
    process.kill(r.pid, 0)
  } catch {
    return undefined
  }
  return { host: r.host, port: r.port, pid: r.pid }
}
