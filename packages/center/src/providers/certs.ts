/**
 * Client certificates of standard key providers (the trust set-ups where the KMS trusts the
 * center): a self-signed certificate the center makes, a CSR the KMS signs, or an uploaded
 * certificate and key. Private keys are made here (EC P-256), leave this module only as PEM for
 * sealing under the master key, and are never returned by the API.
 */
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { generateKeys, privateKeyPem, randomSerial, signAlg, subjectName } from '../pki/certs.js'
import { CenterError } from '../errors.js'

/** CryptoManagerKmipCertificateInfo (vSphere), in the REST API's snake case. */
export interface CertInfo {
  readonly subject: string
  readonly issuer: string
  readonly serial_number: string
  readonly not_before: string
  readonly not_after: string
  /** `sha256:<hex>`. */
  readonly fingerprint: string
  readonly seconds_before_expire: number
}

const bad = (what: string): CenterError =>
  new CenterError(
    'ERR_CENTER_PROVIDER_CERT',
    `${what}; give a PEM X.509 certificate (-----BEGIN CERTIFICATE-----)`,
  )

/** Parse one PEM certificate (throws ERR_CENTER_PROVIDER_CERT). */
export function parseCert(pem: string): X509Certificate {
  try {
    return new X509Certificate(pem)
  } catch {
    throw bad('the certificate does not parse')
  }
}

/** Split a PEM bundle into its certificates. */
export function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []
}

export function certInfo(pem: string, now = Date.now()): CertInfo {
  const c = parseCert(pem)
  const notAfter = new Date(c.validTo)
  return {
    subject: c.subject.replace(/\n/g, ', '),
    issuer: c.issuer.replace(/\n/g, ', '),
    serial_number: c.serialNumber.toLowerCase(),
    not_before: new Date(c.validFrom).toISOString(),
    not_after: notAfter.toISOString(),
    fingerprint: `sha256:${c.fingerprint256.replace(/:/g, '').toLowerCase()}`,
    seconds_before_expire: Math.floor((notAfter.getTime() - now) / 1000),
  }
}

/** A self-signed client certificate for KMIP (clientAuth) and its private key (PEM). */
export async function selfSignedClient(
  cn: string,
  validityDays: number,
): Promise<{ certPem: string; keyPem: string }> {
  const keys = await generateKeys()
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: subjectName({ cn, o: 'Ward center' }),
    notBefore: new Date(Date.now() - 3600_000),
    notAfter: new Date(Date.now() + validityDays * 86400_000),
    signingAlgorithm: signAlg,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    ],
  })
  return { certPem: cert.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) }
}

/** A new key and a CSR for it (the KMS signs the CSR; the key stays in the center). */
export async function clientCsr(cn: string): Promise<{ csrPem: string; keyPem: string }> {
  const keys = await generateKeys()
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: subjectName({ cn, o: 'Ward center' }),
    keys,
    signingAlgorithm: signAlg,
    extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])],
  })
  return { csrPem: csr.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) }
}

/** Whether `keyPem` is the private key of `certPem` (their public keys are the same). */
export function keyMatchesCert(certPem: string, keyPem: string): boolean {
  let priv
  try {
    priv = createPrivateKey(keyPem)
  } catch {
    throw new CenterError(
      'ERR_CENTER_PROVIDER_CERT',
      'the private key does not parse; give an unencrypted PEM private key (PKCS#8 or PKCS#1/SEC1)',
    )
  }
  const a = createPublicKey(priv).export({ type: 'spki', format: 'der' })
  const b = parseCert(certPem).publicKey.export({ type: 'spki', format: 'der' })
  return Buffer.from(a).equals(Buffer.from(b))
}

/** Whether the CSR's public key is the certificate's (a signed CSR answers the latest CSR). */
export function csrMatchesCert(csrPem: string, certPem: string): boolean {
  const csr = new x509.Pkcs10CertificateRequest(csrPem)
  const a = Buffer.from(csr.publicKey.rawData)
  const b = Buffer.from(parseCert(certPem).publicKey.export({ type: 'spki', format: 'der' }))
  return a.equals(b)
}
