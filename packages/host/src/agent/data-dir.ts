import { mkdirSync, statSync, chmodSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { HostError } from '../errors.js'
import { readFileBounded, writeFileAtomic } from '../util/files.js'
import { createSecureConfig } from '../config/secure-config.js'
import { formatTpmSpec, parseTpmSpec, type TpmSpec } from '../tpm/host-tpm.js'

/** Default data folder, like ESXi's boot bank state. */
export const DEFAULT_DATA_DIR = '/var/lib/ward/host'
export const SOCKET_FILE = 'agent.sock'
const HOST_FILE = 'host.json'

/** Non-secret host facts needed before the configuration is unlocked (where the TPM is). */
export interface HostFile {
  readonly version: 1
  readonly tpm: string
}

/** `ward host init`: the data folder (0700), the identity inside a fresh archive, mode NONE. */
export function initHost(dataDir: string, tpm: TpmSpec): { hostId: string; publicKeySpki: string } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  chmodSync(dataDir, 0o700)
  if (readdirSync(dataDir).length > 0)
    throw new HostError(
      'ERR_HOST_ALREADY_INITIALIZED',
      `${dataDir} is not empty: a host was already initialised there (use another --data-dir, or remove it to start over)`,
    )
  const r = createSecureConfig(dataDir)
  const host: HostFile = { version: 1, tpm: formatTpmSpec(tpm) }
  writeFileAtomic(join(dataDir, HOST_FILE), `${JSON.stringify(host, null, 2)}\n`, 0o600)
  return r
}

/** Read host.json; explains what to do when the folder was never initialised. */
export function readHostFile(dataDir: string): { tpm: TpmSpec } {
  let st
  try {
    st = statSync(dataDir)
  } catch {
    throw new HostError(
      'ERR_HOST_NOT_INITIALIZED',
      `${dataDir} does not exist: run ward host init --data-dir ${dataDir} --tpm ...`,
    )
  }
  if ((st.mode & 0o077) !== 0)
    throw new HostError(
      'ERR_HOST_DATA_DIR',
      `${dataDir} is accessible to other users (mode ${(st.mode & 0o777).toString(8)}); run chmod 700 ${dataDir}`,
    )
  const b = readFileBounded(join(dataDir, HOST_FILE), 4096)
  if (!b)
    throw new HostError(
      'ERR_HOST_NOT_INITIALIZED',
      `${dataDir} holds no host: run ward host init --data-dir ${dataDir} --tpm ...`,
    )
  let v: Partial<HostFile>
  try {
    v = JSON.parse(b.toString('utf8')) as Partial<HostFile>
  } catch {
    throw new HostError('ERR_HOST_DATA_DIR', `${join(dataDir, HOST_FILE)} is not valid JSON`)
  }
  if (v.version !== 1 || typeof v.tpm !== 'string')
    throw new HostError('ERR_HOST_DATA_DIR', `${join(dataDir, HOST_FILE)} is not a Ward host file`)
  return { tpm: parseTpmSpec(v.tpm) }
}
