import { X509Certificate, createPrivateKey } from 'node:crypto'
import { join } from 'node:path'
import { readSecretFile } from '@ward/core'
import { HostError } from '../errors.js'
import { readFileBounded } from '../util/files.js'

/** The folder (0700, in the host's data folder) that holds what `ward host join` stored. */
export const REMOTE_DIR = 'remote'
/** Its files: the host's private key (0600, made on the host, never sent), certificates, state. */
export const RemoteFiles = {
  key: 'host.key',
  cert: 'host.crt',
  ca: 'ca.crt',
  state: 'remote.json',
} as const

/** What a join leaves in `remote.json` (written last: its presence means "joined"). */
export interface JoinState {
  readonly version: 1
  /** The center's base URL (https). */
  readonly center: string
  /** The id the center gave this host (its certificate's CN). */
  readonly hostId: string
  /** Where `ward host serve` listens for the center: HOST:PORT. */
  readonly listen: string
  /** The address the center calls: HOST:PORT. */
  readonly address: string
}

/** The listener's credentials: the host's key and certificate, the center's CA. */
export interface RemoteCredentials {
  readonly state: JoinState
  readonly keyPem: string
  readonly certPem: string
  readonly caPem: string
}

const MAX_PEM = 64 << 10

/** The join state of `dataDir`, or undefined when the host never joined a center. */
export function readJoinState(dataDir: string): JoinState | undefined {
  const path = join(dataDir, REMOTE_DIR, RemoteFiles.state)
  const b = readFileBounded(path, 4096)
  if (!b) return undefined
  let v: Partial<JoinState>
  try {
    v = JSON.parse(b.toString('utf8')) as Partial<JoinState>
  } catch {
    v = {}
  }
  if (
    v.version !== 1 ||
    typeof v.center !== 'string' ||
    typeof v.hostId !== 'string' ||
    typeof v.listen !== 'string' ||
    typeof v.address !== 'string'
  )
    throw new HostError(
      'ERR_HOST_REMOTE_FILES',
      `${path} is not what ward host join wrote: restore it, or remove ${join(dataDir, REMOTE_DIR)} and join again`,
    )
  return v as JoinState
}

/**
 * Load the listener's credentials (undefined when not joined). The key must be a 0600 file of the
 * agent's user; the certificate must be issued by the stored CA and be for the key.
 */
export function loadRemoteCredentials(dataDir: string): RemoteCredentials | undefined {
  const state = readJoinState(dataDir)
  if (!state) return undefined
  const dir = join(dataDir, REMOTE_DIR)
  const pem = (f: string): string => {
    const b = readFileBounded(join(dir, f), MAX_PEM)
    if (!b)
      throw new HostError(
        'ERR_HOST_REMOTE_FILES',
        `${join(dir, f)} is missing: restore it, or remove ${dir} and join again`,
      )
    return b.toString('utf8')
  }
  const certPem = pem(RemoteFiles.cert)
  const caPem = pem(RemoteFiles.ca)
  const key = readSecretFile(join(dir, RemoteFiles.key))
  const keyPem = key.use((b) => Buffer.from(b).toString('utf8'))
  key.dispose()
  try {
    const cert = new X509Certificate(certPem)
    const ca = new X509Certificate(caPem)
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) throw new Error('not issued by ca.crt')
    if (!cert.checkPrivateKey(createPrivateKey(keyPem)))
      throw new Error('host.crt is not for host.key')
  } catch (e) {
    throw new HostError(
      'ERR_HOST_REMOTE_FILES',
      `${dir}: the host key, its certificate and the center's CA do not belong together (${(e as Error).message}); remove ${dir} and join again`,
      {},
      { cause: e },
    )
  }
  return { state, keyPem, certPem, caPem }
}
