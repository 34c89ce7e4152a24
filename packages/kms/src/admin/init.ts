import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Secret, readSecretFile, writeSecretFile } from '@ward/core'
import { KmsError } from '../errors.js'
import { createCa, issueLeaf } from '../pki/pki.js'
import { dataPaths } from './data-dir.js'

export interface InitResult {
  readonly dataDir: string
  readonly created: boolean
}

/**
 * Create a data directory: master key (32 random bytes, 0600), CA, server certificate for
 * `localhost` and 127.0.0.1. Refuses to overwrite an existing master key (that would orphan
 * every stored key).
 */
export async function initKms(
  dataDir: string,
  opts: { serverName?: string } = {},
): Promise<InitResult> {
  const p = dataPaths(dataDir)
  if (existsSync(p.masterKey))
    throw new KmsError(
      'ERR_KMS_ALREADY_INITIALIZED',
      `${dataDir} already holds a master.key; use another --data-dir or remove it deliberately`,
      'GeneralFailure',
    )
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const mk = randomBytes(32)
  writeSecretFile(p.masterKey, new Secret(mk))
  mk.fill(0)
  const ca = await createCa('Ward KMS CA')
  writeFileSync(p.caCert, ca.certPem)
  writeSecretFile(p.caKey, new Secret(Buffer.from(ca.keyPem)))
  const server = await issueLeaf(ca, opts.serverName ?? 'localhost', 'server')
  writeFileSync(p.serverCert, server.certPem)
  writeSecretFile(p.serverKey, new Secret(Buffer.from(server.keyPem)))
  return { dataDir, created: true }
}

/** Issue a client certificate for identity `name` into `outDir` (ca.pem, NAME.crt, NAME.key 0600). */
export async function addClient(
  dataDir: string,
  name: string,
  outDir: string,
): Promise<{ cert: string; key: string; ca: string }> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/.test(name))
    throw new KmsError(
      'ERR_KMS_BAD_CLIENT_NAME',
      'client name must be 1-128 characters of letters, digits, . _ @ - (it becomes the certificate CN)',
      'InvalidField',
    )
  const p = dataPaths(dataDir)
  if (!existsSync(p.caKey))
    throw new KmsError(
      'ERR_KMS_NOT_INITIALIZED',
      `${dataDir} has no CA; run: ward kms init --data-dir ${dataDir}`,
      'GeneralFailure',
    )
  const caKey = readSecretFile(p.caKey)
  const ca = {
    certPem: readFileSync(p.caCert, 'utf8'),
    keyPem: caKey.use((b) => Buffer.from(b).toString('utf8')),
  }
  caKey.dispose()
  const leaf = await issueLeaf(ca, name, 'client')
  mkdirSync(outDir, { recursive: true })
  const out = {
    ca: join(outDir, 'ca.pem'),
    cert: join(outDir, `${name}.crt`),
    key: join(outDir, `${name}.key`),
  }
  writeFileSync(out.ca, ca.certPem)
  writeFileSync(out.cert, leaf.certPem)
  writeSecretFile(out.key, new Secret(Buffer.from(leaf.keyPem)))
  // Registry of issued client identities, for `ward kms status` (certificates, not secrets).
  const issued = readClients(dataDir).filter((c) => c.name !== name)
  issued.push({ name, issuedAt: new Date().toISOString() })
  writeFileSync(`${p.clients}.tmp`, JSON.stringify(issued, null, 2))
  renameSync(`${p.clients}.tmp`, p.clients)
  return out
}

/** Client identities issued by `ward kms client add` (name, issue time). */
export function readClients(dataDir: string): { name: string; issuedAt: string }[] {
  const f = dataPaths(dataDir).clients
  if (!existsSync(f)) return []
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as { name: string; issuedAt: string }[]
  } catch {
    return []
  }
}
