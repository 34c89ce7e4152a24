import { createPublicKey, type webcrypto } from 'node:crypto'
import { isIP } from 'node:net'
import * as x509 from '@peculiar/x509'
import { HOST_ID_RE, HOST_OU, hostUri } from '@ward/host'
import { CenterError } from '../errors.js'
import { PkiValidity } from './center-pki.js'
import { issueCert, sanFor, subjectName, type IssuedCert, type San } from './certs.js'

/** Largest CSR accepted (PEM characters). */
export const MAX_CSR_PEM = 16 << 10

/** The keys a host certificate may certify: EC curves by OpenSSL name, RSA moduli in bits. */
export const AllowedHostKeys = {
  ec: ['prime256v1', 'secp384r1'],
  rsa: [2048, 3072, 4096],
} as const

export interface HostCsrOptions {
  /** The id the center gives the host: the certificate's CN and its `urn:ward:host:<id>` SAN. */
  readonly hostId: string
  /** The host's name as it asked to join (a DNS SAN when it is a host name). */
  readonly name: string
  /** The host's listener address, `HOST`, `HOST:PORT` or `[V6]:PORT`: its IP or DNS SAN. */
  readonly address: string
  readonly validityDays?: number
}

const DNS_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

/** The host part of `HOST`, `HOST:PORT`, `[V6]` or `[V6]:PORT`; undefined when it is none of them. */
export function addressHost(address: string): string | undefined {
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/.exec(address)
  if (v6) return isIP(v6[1]!) === 6 ? v6[1] : undefined
  if (isIP(address) === 6) return address
  const m = /^([^:]+)(?::(\d{1,5}))?$/.exec(address)
  if (!m) return undefined
  const h = m[1]!
  return isIP(h) === 4 || DNS_NAME.test(h) ? h : undefined
}

/**
 * Sign a host's certificate request with the center's CA: the CSR's signature is checked over the
 * bytes received, its key must be EC P-256/P-384 or RSA 2048/3072/4096, and nothing of its
 * subject or extensions is used. The certificate says CN=hostId, OU=ward-host, EKU clientAuth and
 * serverAuth, SANs `urn:ward:host:<hostId>` and the host's address (and name, if a host name).
 */
export async function signHostCsr(
  pki: { readonly caCertPem: string; readonly caKey: webcrypto.CryptoKey },
  csrPem: string,
  options: HostCsrOptions,
): Promise<IssuedCert> {
  if (!HOST_ID_RE.test(options.hostId))
    throw new CenterError(
      'ERR_CENTER_HOST_ID',
      'a host id is 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit',
    )
  if (options.name.length === 0 || options.name.length > 255 || /\p{Cc}/u.test(options.name))
    throw new CenterError(
      'ERR_CENTER_HOST_ID',
      'a host name is 1-255 characters without control characters',
    )
  const host = addressHost(options.address)
  if (host === undefined)
    throw new CenterError(
      'ERR_CENTER_HOST_ID',
      `the host address must be HOST, HOST:PORT or [IPV6]:PORT with a DNS name or an IP address`,
    )
  if (typeof csrPem !== 'string' || csrPem.length > MAX_CSR_PEM)
    throw new CenterError(
      'ERR_CENTER_CSR_INVALID',
      `the certificate request must be a PEM CSR of at most ${MAX_CSR_PEM} characters`,
    )
  let csr: x509.Pkcs10CertificateRequest
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem)
  } catch (e) {
    throw new CenterError(
      'ERR_CENTER_CSR_INVALID',
      'the certificate request is not a PEM PKCS#10 CSR (BEGIN CERTIFICATE REQUEST)',
      {},
      { cause: e },
    )
  }
  const key = checkKey(csr)
  let ok = false
  try {
    ok = await csr.verify()
  } catch {
    ok = false
  }
  if (!ok)
    throw new CenterError(
      'ERR_CENTER_CSR_SIGNATURE',
      "the certificate request's signature does not verify with its own key: it was altered or is not the host's; create a new one",
    )
  const sans: San[] = [{ type: 'url', value: hostUri(options.hostId) }, sanFor(host)]
  if (DNS_NAME.test(options.name) && isIP(options.name) === 0) sans.push(sanFor(options.name))
  return issueCert(pki, {
    subject: subjectName({ cn: options.hostId, ou: HOST_OU, o: 'Ward' }),
    publicKey: csr.publicKey,
    eku: ['clientAuth', 'serverAuth'],
    sans,
    validityDays: options.validityDays ?? PkiValidity.hostDays,
    rsa: key === 'rsa',
  })
}

function checkKey(csr: x509.Pkcs10CertificateRequest): 'ec' | 'rsa' {
  let type: string | undefined
  let detail: { namedCurve?: string; modulusLength?: number } = {}
  try {
    const k = createPublicKey({
      key: Buffer.from(csr.publicKey.rawData),
      format: 'der',
      type: 'spki',
    })
    type = k.asymmetricKeyType
    detail = k.asymmetricKeyDetails ?? {}
  } catch (e) {
    throw new CenterError(
      'ERR_CENTER_CSR_INVALID',
      "the certificate request's public key cannot be read",
      {},
      { cause: e },
    )
  }
  const ec: readonly string[] = AllowedHostKeys.ec
  const rsa: readonly number[] = AllowedHostKeys.rsa
  if (type === 'ec' && detail.namedCurve !== undefined && ec.includes(detail.namedCurve))
    return 'ec'
  if (type === 'rsa' && detail.modulusLength !== undefined && rsa.includes(detail.modulusLength))
    return 'rsa'
  throw new CenterError(
    'ERR_CENTER_CSR_KEY',
    `the certificate request's key (${type ?? 'unknown'}${detail.namedCurve ? ` ${detail.namedCurve}` : ''}${detail.modulusLength ? ` ${detail.modulusLength} bits` : ''}) is not allowed: use EC P-256 or P-384, or RSA 2048, 3072 or 4096`,
    { keyType: type ?? 'unknown' },
  )
}
