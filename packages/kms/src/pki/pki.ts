/**
 * The KMS's own small PKI (@peculiar/x509 over node:crypto's WebCrypto): a CA, the server
 * certificate (localhost or the --server-name values, plus 127.0.0.1 and ::1) and client certificates (EKU clientAuth, which PyKMIP and
 * vCenter-style clients expect). RSA-2048 keys: every KMIP client offers RSA suites, including
 * PyKMIP's TLS 1.2 CBC-SHA256 list.
 */
import { randomBytes, webcrypto } from 'node:crypto'
import { isIP } from 'node:net'
import * as x509 from '@peculiar/x509'

x509.cryptoProvider.set(webcrypto as never)

const alg = {
  name: 'RSASSA-PKCS1-v1_5',
  hash: 'SHA-256',
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
} as const

export interface Issued {
  readonly certPem: string
  readonly keyPem: string
}

/** A leaf certificate with what the client registry records of it (for revocation). */
export interface IssuedLeaf extends Issued {
  /** Serial number: lower-case hex without leading zeros (see normalizeSerial). */
  readonly serial: string
  readonly notAfter: Date
}

/**
 * One spelling of a certificate serial number: lower-case hex, no leading zeros, no colons
 * (OpenSSL prints `5A:3F…` or `5A3F…`, Node's getPeerCertificate() upper-case hex without
 * leading zeros). Undefined when `s` is not hex.
 */
export function normalizeSerial(s: string): string | undefined {
  const h = s.replace(/:/g, '').toLowerCase()
  if (!/^[0-9a-f]{1,128}$/.test(h)) return undefined
  return h.replace(/^0+(?=.)/, '')
}

const serial = (): string => {
  const b = randomBytes(16)
  b[0] = b[0]! & 0x7f
  return b.toString('hex')
}

const years = (n: number): Date => new Date(Date.now() + n * 365 * 86400_000)

async function keyPem(k: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', k))
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n')
  der.fill(0)
  return `-----BEGIN PRIVATE KEY-----\n${b64.trimEnd()}\n-----END PRIVATE KEY-----\n`
}

const genKeys = async (): Promise<webcrypto.CryptoKeyPair> =>
  (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair

/** A self-signed CA (10 years). */
export async function createCa(name: string): Promise<Issued> {
  const keys = await genKeys()
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - 3600_000),
    notAfter: years(10),
    keys: keys as never,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
    ],
  })
  return { certPem: cert.toString('pem'), keyPem: await keyPem(keys.privateKey) }
}

/**
 * Subject Alternative Names of a server certificate: an IP SAN for each IPv4/IPv6 address (a
 * client connecting by IP checks IP SANs only, RFC 6125 §6.2.1 / node:tls checkServerIdentity),
 * a DNS SAN for each host name; 127.0.0.1 and ::1 are always there (local clients).
 */
export function serverSans(names: readonly string[]): { type: 'dns' | 'ip'; value: string }[] {
  const out: { type: 'dns' | 'ip'; value: string }[] = []
  const seen = new Set<string>()
  for (const raw of [...names, '127.0.0.1', '::1']) {
    const n = raw.replace(/^\[(.*)\]$/, '$1')
    const type = isIP(n) !== 0 ? 'ip' : 'dns'
    const key = `${type}:${type === 'dns' ? n.toLowerCase() : n}`
    if (seen.has(key)) continue
    seen.add(key)
    out.push({ type, value: n })
  }
  return out
}

/**
 * A leaf certificate signed by the CA: `server` (CN the first name; SANs from serverSans of
 * `cn` and `altNames`) or `client`.
 */
export async function issueLeaf(
  ca: Issued,
  cn: string,
  kind: 'server' | 'client',
  validityYears = 2,
  altNames: readonly string[] = [],
): Promise<IssuedLeaf> {
  const caCert = new x509.X509Certificate(ca.certPem)
  const caKeyDer = Buffer.from(
    ca.keyPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''),
    'base64',
  )
  const caKey = await webcrypto.subtle.importKey('pkcs8', caKeyDer, alg, false, ['sign'])
  caKeyDer.fill(0)
  const keys = await genKeys()
  const serialNumber = serial()
  const notAfter = years(validityYears)
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber,
    subject: `CN=${cn}`,
    issuer: caCert.subject,
    notBefore: new Date(Date.now() - 3600_000),
    notAfter,
    signingAlgorithm: alg,
    publicKey: keys.publicKey as never,
    signingKey: caKey as never,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([
        kind === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
      ...(kind === 'server'
        ? [new x509.SubjectAlternativeNameExtension(serverSans([cn, ...altNames]))]
        : []),
    ],
  })
  return {
    certPem: cert.toString('pem'),
    keyPem: await keyPem(keys.privateKey),
    serial: normalizeSerial(cert.serialNumber) ?? serialNumber,
    notAfter,
  }
}
