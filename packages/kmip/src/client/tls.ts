import { X509Certificate, createHash } from 'node:crypto'
import { DEFAULT_CIPHERS, type ConnectionOptions, type PeerCertificate } from 'node:tls'
import { KmipError } from '../errors.js'

/**
 * TLS settings for a KMS connection. The four trust set-ups of a standard key provider
 * (DESIGN.md) all come down to: a trust anchor for the server, and a client certificate + key.
 * - trust the KMS server's CA: `ca` = that CA (hostname checked against `servername`/host);
 * - trust the KMS server certificate itself: `pinnedServerCertPem` (fingerprint pinned, no
 *   hostname check; for self-signed KMS certificates);
 * - client side: a self-signed client certificate, a CSR signed by the KMS, or an uploaded
 *   certificate and key are all given as `certPem` + `keyPem` (the KMS decides whom it trusts).
 */
export interface KmipTlsOptions {
  /** PEM CA certificate(s) that signed the KMS server certificate. */
  readonly caPem?: string | readonly string[]
  /** PEM of the KMS server certificate to pin (alternative to `caPem`). */
  readonly pinnedServerCertPem?: string
  /** Client certificate chain (PEM). */
  readonly certPem: string
  /** Client private key (PEM). Callers keep it in a Secret and pass it only here. */
  readonly keyPem: string
  readonly keyPassphrase?: string
  /** SNI/hostname to verify (default: the server's host). */
  readonly servername?: string
  /** Lowest TLS version: 'TLSv1.2' (default, PyKMIP pins 1.2) or 'TLSv1.3'. */
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3'
  /** OpenSSL cipher list for TLS 1.2; default Node's list plus the CBC-SHA2 suites PyKMIP offers. */
  readonly ciphers?: string
}

/** PyKMIP's TLS1.2 auth suite offers only AES-CBC suites; Node's default list lacks some of them. */
export const kmipCiphers = `${DEFAULT_CIPHERS}:ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES128-SHA256:AES256-SHA256:AES128-SHA256`

/** Builds node:tls connect options for one server (throws ERR_KMIP_TLS_CONFIG when incomplete). */
export function tlsConnectOptions(
  o: KmipTlsOptions,
  host: string,
  port: number,
): ConnectionOptions {
  if (!o.certPem || !o.keyPem)
    throw new KmipError(
      'ERR_KMIP_TLS_CONFIG',
      'a client certificate and key are required (KMIP uses mutual TLS)',
    )
  if (o.caPem === undefined && o.pinnedServerCertPem === undefined) {
    throw new KmipError(
      'ERR_KMIP_TLS_CONFIG',
      'give the KMS CA (caPem) or its server certificate (pinnedServerCertPem)',
    )
  }
  const base: ConnectionOptions = {
    host,
    port,
    cert: o.certPem,
    key: o.keyPem,
    minVersion: o.minVersion ?? 'TLSv1.2',
    ciphers: o.ciphers ?? kmipCiphers,
    rejectUnauthorized: true,
    ...(o.keyPassphrase !== undefined && { passphrase: o.keyPassphrase }),
  }
  const sni = o.servername ?? (/^[\d.]+$|:/.test(host) ? undefined : host)
  if (sni !== undefined) base.servername = sni
  if (o.pinnedServerCertPem !== undefined) {
    let want: string
    try {
      want = new X509Certificate(o.pinnedServerCertPem).fingerprint256
    } catch (cause) {
      throw new KmipError('ERR_KMIP_TLS_CONFIG', 'pinnedServerCertPem is not a PEM certificate', {
        cause,
      })
    }
    const anchors = o.caPem === undefined ? [] : Array.isArray(o.caPem) ? o.caPem : [o.caPem]
    return {
      ...base,
      ca: [o.pinnedServerCertPem, ...anchors],
      // a pinned certificate issued by a CA is an anchor by itself (OpenSSL's partial chain):
      // the chain stops at it, and the fingerprint check below is the trust decision
      allowPartialTrustChain: true,
      // The pinned certificate is the trust anchor; the hostname check is replaced by the pin.
      checkServerIdentity: (_h: string, cert: PeerCertificate) =>
        cert.fingerprint256 === want
          ? undefined
          : new Error('KMS certificate does not match the pinned one'),
    }
  }
  return { ...base, ca: o.caPem as string | string[] }
}

/** SHA-256 fingerprint (hex, colon-free) of a PEM certificate, for display. */
export function certFingerprint(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex')
}
