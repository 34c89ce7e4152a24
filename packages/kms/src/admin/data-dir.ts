/**
 * Layout of a `ward kms` data directory (created by `ward kms init`), and the rules every
 * command applies to it: the directory is the owner's alone (mode 0700, no group or other bits,
 * owned by the user running ward; a wider one is refused, saying the chmod to run), and every file
 * Ward writes in it is 0600, created under a temporary name with O_EXCL | O_NOFOLLOW and renamed
 * into place (writeFileAtomic of @ward/core). docs/kms.md "Data directory".
 */
import { chmodSync, lstatSync, readFileSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
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
    revoked: join(dir, 'revoked.json'),
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
    )
  if (typeof process.getuid === 'function' && st.uid !== process.getuid())
    throw new KmsError(
      'ERR_KMS_DATA_DIR_OWNER',
      `data dir ${dir} belongs to uid ${st.uid}, not to the user running ward (uid ${process.getuid()}); run ward as its owner, or after checking its files: chown -R $(id -u) ${dir}`,
    )
  if ((st.mode & 0o077) !== 0)
    throw new KmsError(
      'ERR_KMS_DATA_DIR_MODE',
      `data dir ${dir} is mode ${octal(st.mode)}: other users could read or replace its files; check that nobody did, then run: chmod 700 ${dir}`,
    )
}

/**
 * Files of the data dir that are not secrets (secret files are refused when wider than 0600 by
 * readSecretFile) but are kept 0600 too: older versions wrote them 0644.
 */
const PRIVATE_FILES = (dir: string): string[] => {
  const p = dataPaths(dir)
  return [
    p.db,
    `${p.db}-wal`,
    `${p.db}-shm`,
    p.audit,
    p.runtime,
    p.clients,
    p.revoked,
    p.caCert,
    p.serverCert,
  ]
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
    )
  }
  if (tighten !== undefined) {
    const changed = tightenDataFiles(dir)
    if (changed.length > 0) tighten(changed)
  }
  return p
}

/**
 * The server recorded in `server.json` (see dataPaths().runtime) if its process is alive; a
 * missing or torn file, or the pid of a server that died, means none.
 */
export function runningServer(
  runtime: string,
): { host: string; port: number; pid: number } | undefined {
  const r = runningServerState(runtime)
  return r === undefined ? undefined : { host: r.host, port: r.port, pid: r.pid }
}

/** What a running server says of itself in server.json (see runningServer). */
export interface ServerState {
  readonly host: string
  readonly port: number
  readonly pid: number
  /** The version of revoked.json the server has applied (`ward kms client revoke` waits for it). */
  readonly revocations?: number
}

/** The whole server.json of a live server, or undefined (as runningServer). */
export function runningServerState(runtime: string): ServerState | undefined {
  let r: ServerState
  try {
    r = JSON.parse(readFileSync(runtime, 'utf8')) as ServerState
    process.kill(r.pid, 0)
  } catch {
    return undefined
  }
  return r
}
