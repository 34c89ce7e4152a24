/**
 * The center's PKI in its data folder (`D/pki/`, 0700): the CA that issues every host's
 * mutual-TLS certificate, the center's HTTPS server certificate and the center's client
 * certificate for calling hosts. Private keys are 0600 files and never leave the center.
 */
import { existsSync, mkdirSync, chmodSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { Secret, readSecretFile, writeFileAtomic, writeSecretFile } from '@ward/core'
import { CENTER_CLIENT_CN, CENTER_CLIENT_OU } from '@ward/host'
import { CenterError } from '../errors.js'
import {
  certFingerprint,
  createCa,
  generateKeys,
  importSigningKey,
  issueCert,
  privateKeyPem,
  sanFor,
  subjectName,
  type CertAndKey,
} from './certs.js'

/** The PKI folder inside the center's data folder. */
export const PKI_DIR = 'pki'
/** File names inside `D/pki/`: certificates 0644-readable, keys 0600. */
export const PkiFiles = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  serverCert: 'server.crt',
  serverKey: 'server.key',
  clientCert: 'client.crt',
  clientKey: 'client.key',
} as const

/** Validity of what `initCenterPki` issues, in days. */
export const PkiValidity = {
  caDays: 3650,
  serverDays: 825,
  clientDays: 825,
  hostDays: 397,
} as const

/** The center's PKI, loaded. */
export interface CenterPki {
  readonly dir: string
  readonly caCertPem: string
  /** `sha256:<hex>` of the CA certificate: what an operator compares when copying ca.crt to a host. */
  readonly caFingerprint: string
  /** The CA's signing key (non-extractable). */
  readonly caKey: webcrypto.CryptoKey
  /** The center's HTTPS server certificate (SANs localhost, 127.0.0.1, ::1 and the names given). */
  readonly server: CertAndKey
  /** The center's client certificate for calling hosts (EKU clientAuth, OU ward-center). */
  readonly client: CertAndKey
}

export interface InitCenterPkiOptions {
  /** More DNS names or addresses for the server certificate (e.g. the center's FQDN). */
  readonly serverNames?: readonly string[]
}

/**
 * Create the center's PKI in `dataDir/pki` (0700): CA (EC P-256, 10 years), server certificate,
 * client certificate. Refuses (ERR_CENTER_PKI_EXISTS) if a CA is already there: re-creating it
 * would orphan every joined host.
 */
export async function initCenterPki(
  dataDir: string,
  options: InitCenterPkiOptions = {},
): Promise<CenterPki> {
  const dir = join(dataDir, PKI_DIR)
  if (existsSync(join(dir, PkiFiles.caCert)) || existsSync(join(dir, PkiFiles.caKey)))
    throw new CenterError(
      'ERR_CENTER_PKI_EXISTS',
      `${dir} already holds a CA; hosts joined with it would be orphaned. Use another --data-dir, or remove ${dir} to start over (every host must join again)`,
    )
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  chmodSync(dir, 0o700)
  const names = (options.serverNames ?? []).filter((n) => n.length > 0)
  const ca = await createCa('Ward center CA', PkiValidity.caDays)
  const caKey = await importSigningKey(ca.keyPem)
  const issuer = { caCertPem: ca.certPem, caKey }
  const server = await leaf(issuer, {
    cn: names[0] ?? 'localhost',
    ou: 'ward-center-server',
    eku: ['serverAuth'],
    sans: ['localhost', '127.0.0.1', '::1', ...names],
    days: PkiValidity.serverDays,
  })
  const client = await leaf(issuer, {
    cn: CENTER_CLIENT_CN,
    ou: CENTER_CLIENT_OU,
    eku: ['clientAuth'],
    sans: [],
    days: PkiValidity.clientDays,
  })
  // keys first, then certificates: a folder with ca.crt always has its key
  writeKey(join(dir, PkiFiles.caKey), ca.keyPem)
  writeKey(join(dir, PkiFiles.serverKey), server.keyPem)
  writeKey(join(dir, PkiFiles.clientKey), client.keyPem)
  writeFileAtomic(join(dir, PkiFiles.serverCert), server.certPem, { mode: 0o644 })
  writeFileAtomic(join(dir, PkiFiles.clientCert), client.certPem, { mode: 0o644 })
  writeFileAtomic(join(dir, PkiFiles.caCert), ca.certPem, { mode: 0o644, overwrite: false })
  return {
    dir,
    caCertPem: ca.certPem,
    caFingerprint: certFingerprint(ca.certPem),
    caKey,
    server,
    client,
  }
}

/**
 * Load the PKI of `dataDir`: keys must be 0600 files of the current user; each certificate must
 * be the CA's, and the CA key must be the CA certificate's.
 */
export async function loadCenterPki(dataDir: string): Promise<CenterPki> {
  const dir = join(dataDir, PKI_DIR)
  if (!existsSync(join(dir, PkiFiles.caCert)))
    throw new CenterError(
      'ERR_CENTER_PKI_MISSING',
      `${dir} holds no CA: run ward center init --data-dir ${dataDir}`,
    )
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8')
  const caCertPem = read(PkiFiles.caCert)
  const caKeyPem = readKey(join(dir, PkiFiles.caKey))
  const server = {
    certPem: read(PkiFiles.serverCert),
    keyPem: readKey(join(dir, PkiFiles.serverKey)),
  }
  const client = {
    certPem: read(PkiFiles.clientCert),
    keyPem: readKey(join(dir, PkiFiles.clientKey)),
  }
  let caKey: webcrypto.CryptoKey
  try {
    const ca = new x509.X509Certificate(caCertPem)
    caKey = await importSigningKey(caKeyPem)
    // the key signs what the certificate's public key verifies
    const probe = new TextEncoder().encode('ward center pki')
    const sig = await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, caKey, probe)
    const pub = await ca.publicKey.export(webcrypto as never)
    const ok = await webcrypto.subtle.verify(
      { name: 'ECDSA', hash: 'SHA-256' },
      pub as webcrypto.CryptoKey,
      sig,
      probe,
    )
    if (!ok) throw new Error('ca.key does not belong to ca.crt')
    for (const c of [server.certPem, client.certPem])
      if (!(await new x509.X509Certificate(c).verify({ publicKey: ca, signatureOnly: true })))
        throw new Error('a certificate is not signed by ca.crt')
  } catch (e) {
    throw new CenterError(
      'ERR_CENTER_PKI_INVALID',
      `${dir}: the CA, its key and the certificates do not belong together (${(e as Error).message}); restore the folder from a backup`,
      {},
      { cause: e },
    )
  }
  return { dir, caCertPem, caFingerprint: certFingerprint(caCertPem), caKey, server, client }
}

async function leaf(
  issuer: { caCertPem: string; caKey: webcrypto.CryptoKey },
  a: {
    cn: string
    ou: string
    eku: ('serverAuth' | 'clientAuth')[]
    sans: string[]
    days: number
  },
): Promise<CertAndKey> {
  const keys = await generateKeys()
  const c = await issueCert(issuer, {
    subject: subjectName({ cn: a.cn, ou: a.ou, o: 'Ward' }),
    publicKey: keys.publicKey,
    eku: a.eku,
    sans: a.sans.map(sanFor),
    validityDays: a.days,
  })
  return { certPem: c.certPem, keyPem: await privateKeyPem(keys.privateKey) }
}

function writeKey(path: string, pem: string): void {
  const s = Secret.take(new TextEncoder().encode(pem))
  try {
    writeSecretFile(path, s)
  } finally {
    s.dispose()
  }
}

function readKey(path: string): string {
  const s = readSecretFile(path)
  try {
    return s.use((b) => Buffer.from(b).toString('utf8'))
  } finally {
    s.dispose()
  }
}
