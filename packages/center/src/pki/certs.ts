/**
 * The center's certificate building blocks (@peculiar/x509 over node:crypto's WebCrypto): EC P-256
 * keys, random serials, a self-signed CA and leaves signed by it. Subjects are built from JSON
 * names, never parsed from strings, so no value can add an attribute.
 */
import { createHash, randomBytes, webcrypto } from 'node:crypto'
import { isIP } from 'node:net'
import * as x509 from '@peculiar/x509'

x509.cryptoProvider.set(webcrypto as never)

/** ECDSA P-256 with SHA-256: every key and signature of the center's PKI. */
export const keyAlg = { name: 'ECDSA', namedCurve: 'P-256' } as const
export const signAlg = { name: 'ECDSA', hash: 'SHA-256' } as const

/** A PEM certificate and its PKCS#8 PEM private key. */
export interface CertAndKey {
  readonly certPem: string
  readonly keyPem: string
}

/** A certificate as issued: PEM, serial (lower-case hex), expiry, SHA-256 fingerprint. */
export interface IssuedCert {
  readonly certPem: string
  readonly serial: string
  readonly notAfter: Date
  /** `sha256:` + lower-case hex of the DER. */
  readonly fingerprint: string
}

/** A 128-bit positive serial number (RFC 5280 §4.1.2.2: positive, at most 20 octets). */
export function randomSerial(): string {
  const b = randomBytes(16)
  b[0] = (b[0]! & 0x7f) | 0x01
  return b.toString('hex')
}

/** `sha256:<hex>` of a PEM certificate's DER bytes. */
export function certFingerprint(certPem: string): string {
  const der = Buffer.from(new x509.X509Certificate(certPem).rawData)
  return `sha256:${createHash('sha256').update(der).digest('hex')}`
}

export const generateKeys = async (): Promise<webcrypto.CryptoKeyPair> =>
  (await webcrypto.subtle.generateKey(keyAlg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair

/** PKCS#8 PEM of a private key (the DER copy is zeroed). */
export async function privateKeyPem(k: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', k))
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n')
  der.fill(0)
  return `-----BEGIN PRIVATE KEY-----\n${b64.trimEnd()}\n-----END PRIVATE KEY-----\n`
}

/** Import a PKCS#8 PEM EC P-256 key as a non-extractable signing key (the DER copy is zeroed). */
export async function importSigningKey(pem: string): Promise<webcrypto.CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64')
  try {
    return await webcrypto.subtle.importKey('pkcs8', der, keyAlg, false, ['sign'])
  } finally {
    der.fill(0)
  }
}

/** A subject name from attribute values (CN, then OU, then O), never from a parsed string. */
export const subjectName = (a: { cn: string; ou?: string; o?: string }): x509.Name =>
  new x509.Name([
    ...(a.o !== undefined ? [{ O: [a.o] }] : []),
    ...(a.ou !== undefined ? [{ OU: [a.ou] }] : []),
    { CN: [a.cn] },
  ])

const days = (n: number): Date => new Date(Date.now() + n * 86400_000)
/** Issued certificates start an hour back (clock skew between center and hosts). */
const notBefore = (): Date => new Date(Date.now() - 3600_000)

/** A self-signed CA certificate (basicConstraints CA, pathLen 0, keyCertSign + cRLSign). */
export async function createCa(cn: string, validityDays: number): Promise<CertAndKey> {
  const keys = await generateKeys()
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: subjectName({ cn, o: 'Ward' }),
    notBefore: notBefore(),
    notAfter: days(validityDays),
    keys: keys as never,
    signingAlgorithm: signAlg,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
    ],
  })
  return { certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) }
}

/** A subject alternative name. */
export interface San {
  readonly type: 'dns' | 'ip' | 'url'
  readonly value: string
}

/** A DNS or IP SAN for a host name or address (`[::1]` → `::1`). */
export function sanFor(name: string): San {
  const n = name.replace(/^\[(.*)\]$/, '$1')
  return isIP(n) !== 0 ? { type: 'ip', value: n } : { type: 'dns', value: n.toLowerCase() }
}

/** The issuing CA: its certificate and its (non-extractable) signing key. */
export interface Issuer {
  readonly caCertPem: string
  readonly caKey: webcrypto.CryptoKey
}

/** What a leaf certificate says. */
export interface LeafSpec {
  readonly subject: x509.Name
  readonly publicKey: webcrypto.CryptoKey | x509.PublicKey
  readonly eku: readonly ('serverAuth' | 'clientAuth')[]
  readonly sans: readonly San[]
  readonly validityDays: number
  /** Key usage: ECDSA keys sign only; RSA keys may also encipher (TLS 1.2 RSA key exchange). */
  readonly rsa?: boolean
}

/** A leaf certificate signed by the CA. */
export async function issueCert(issuer: Issuer, spec: LeafSpec): Promise<IssuedCert> {
  const caCert = new x509.X509Certificate(issuer.caCertPem)
  const serialNumber = randomSerial()
  const notAfter = days(spec.validityDays)
  const seen = new Set<string>()
  const sans = spec.sans.filter((s) => {
    const k = `${s.type}:${s.value}`
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber,
    subject: spec.subject,
    issuer: caCert.subjectName,
    notBefore: notBefore(),
    notAfter,
    signingAlgorithm: signAlg,
    publicKey: spec.publicKey as never,
    signingKey: issuer.caKey as never,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature |
          (spec.rsa === true ? x509.KeyUsageFlags.keyEncipherment : 0),
        true,
      ),
      new x509.ExtendedKeyUsageExtension(spec.eku.map((e) => x509.ExtendedKeyUsage[e])),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
      await x509.SubjectKeyIdentifierExtension.create(spec.publicKey as never),
      ...(sans.length > 0 ? [new x509.SubjectAlternativeNameExtension([...sans])] : []),
    ],
  })
  const pem = cert.toString('pem')
  return {
    certPem: pem,
    serial: serialNumber.replace(/^0+(?=.)/, ''),
    notAfter,
    fingerprint: certFingerprint(pem),
  }
}
