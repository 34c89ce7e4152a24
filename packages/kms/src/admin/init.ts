import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Secret, readSecretFile, writeFileAtomic, writeSecretFile } from '@ward/core'
import { KmsError } from '../errors.js'
import { createCa, issueLeaf } from '../pki/pki.js'
import { checkDataDir, dataPaths, openDataDir } from './data-dir.js'
import { replaceFileSet } from './file-set.js'

export interface InitResult {
  readonly dataDir: string
  readonly created: boolean
}

/**
 * Create a data directory (0700): master key (32 random bytes), CA, server certificate for
 * `localhost` (or the given server names: IP SANs for addresses, DNS SANs for names) and
 * 127.0.0.1/::1, every file 0600. Refuses to overwrite an existing master key (that
 * would orphan every stored key), and an existing directory that other users can reach
 * (checkDataDir: the message gives the chmod to run).
 */
export async function initKms(
  dataDir: string,
  opts: { serverName?: string; serverNames?: readonly string[] } = {},
): Promise<InitResult> {
  const names = [
    ...(opts.serverName !== undefined ? [opts.serverName] : []),
    ...(opts.serverNames ?? []),
  ]
  for (const n of names)
    if (!/^(?:[A-Za-z0-9._-]{1,253}|\[?[0-9A-Fa-f:.]{2,45}\]?)$/.test(n))
      throw new KmsError(
        'ERR_KMS_BAD_SERVER_NAME',
        `--server-name ${JSON.stringify(n)} is neither a host name nor an IP address; give a DNS name (kms.example.org) or an address (192.0.2.10, 2001:db8::1)`,
      )
  const p = dataPaths(dataDir)
  checkDataDir(dataDir)
  if (existsSync(p.masterKey))
    throw new KmsError(
      'ERR_KMS_ALREADY_INITIALIZED',
      `${dataDir} already holds a master.key; use another --data-dir or remove it deliberately`,
    )
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  checkDataDir(dataDir)
  const mk = randomBytes(32)
  writeSecretFile(p.masterKey, new Secret(mk))
  mk.fill(0)
  const ca = await createCa('Ward KMS CA')
  writeFileAtomic(p.caCert, ca.certPem)
  writeSecretFile(p.caKey, new Secret(Buffer.from(ca.keyPem)))
  const [first = 'localhost', ...rest] = names
  const server = await issueLeaf(ca, first, 'server', 2, rest)
  writeFileAtomic(p.serverCert, server.certPem)
  writeSecretFile(p.serverKey, new Secret(Buffer.from(server.keyPem)))
  return { dataDir, created: true }
}

/**
 * Issue a client certificate for identity `name` into `outDir`: ca.pem, NAME.crt (0644) and
 * NAME.key (0600), put in place as one set (replaceFileSet: never through a symlink, never half
 * of an old set and half of the new one). Issuing a name again replaces its files.
 */
export async function addClient(
  dataDir: string,
  name: string,
  outDir: string,
): Promise<{ cert: string; key: string; ca: string }> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/.test(name))
    throw new KmsError(
      'ERR_KMS_BAD_CLIENT_NAME',
      'client name must be 1-128 characters of letters, digits, . _ @ - (it becomes the certificate CN)',
    )
  const p = openDataDir(dataDir)
  if (!existsSync(p.caKey))
    throw new KmsError(
      'ERR_KMS_NOT_INITIALIZED',
      `${dataDir} has no CA; run: ward kms init --data-dir ${dataDir}`,
    )
  const caKey = readSecretFile(p.caKey)
  const ca = {
    certPem: readFileSync(p.caCert, 'utf8'),
    keyPem: caKey.use((b) => Buffer.from(b).toString('utf8')),
  }
  caKey.dispose()
  const leaf = await issueLeaf(ca, name, 'client')
  try {
    mkdirSync(outDir, { recursive: true })
  } catch (e) {
    throw new KmsError(
      'ERR_KMS_CLIENT_OUT',
      `cannot create the --out directory ${outDir} (${(e as NodeJS.ErrnoException).code ?? String(e)}); choose another --out`,
      { cause: e },
    )
  }
  const out = {
    ca: join(outDir, 'ca.pem'),
    cert: join(outDir, `${name}.crt`),
    key: join(outDir, `${name}.key`),
  }
  const keyPem = Buffer.from(leaf.keyPem)
  try {
    replaceFileSet([
      { path: out.ca, data: ca.certPem, mode: 0o644 },
      { path: out.cert, data: leaf.certPem, mode: 0o644 },
      { path: out.key, data: keyPem, mode: 0o600 },
    ])
  } finally {
    keyPem.fill(0)
  }
  // Registry of issued client certificates, for `ward kms status`, `client list` and `client
  // revoke` (certificates, not secrets). Every issue is kept: a name issued again keeps its
  // earlier certificates' serials, so that revoking the name revokes them all.
  const issued = readClients(dataDir)
  issued.push({
    name,
    issuedAt: new Date().toISOString(),
    serial: leaf.serial,
    notAfter: leaf.notAfter.toISOString(),
  })
  writeFileAtomic(p.clients, JSON.stringify(issued, null, 2))
  return out
}

/** One certificate issued by `ward kms client add`. */
export interface IssuedClient {
  readonly name: string
  readonly issuedAt: string
  /** Absent for certificates issued before serials were recorded (revoked by name and date). */
  readonly serial?: string
  readonly notAfter?: string
}

/** Client certificates issued by `ward kms client add`, oldest first. */
export function readClients(dataDir: string): IssuedClient[] {
  const f = dataPaths(dataDir).clients
  if (!existsSync(f)) return []
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as IssuedClient[]
  } catch {
    return []
  }
}
