import { sign, type KeyObject } from 'node:crypto'

/*
 * A PKCS#10 certificate request (RFC 2986) for an EC P-256 key, DER-encoded by hand: the host
 * package takes no X.509 library, and a CSR is four fields. The center ignores its subject (it
 * sets every subject itself) and checks its signature over the bytes received.
 */

const tlv = (tag: number, content: Uint8Array): Buffer => {
  const n = content.length
  const len =
    n < 0x80
      ? [n]
      : n < 0x100
        ? [0x81, n]
        : n < 0x10000
          ? [0x82, n >> 8, n & 0xff]
          : (() => {
              throw new RangeError('DER item too long')
            })()
  return Buffer.concat([Buffer.from([tag, ...len]), content])
}
const seq = (...items: Uint8Array[]): Buffer => tlv(0x30, Buffer.concat(items))

/** id-at-commonName (2.5.4.3) */
const OID_CN = Buffer.from([0x06, 0x03, 0x55, 0x04, 0x03])
/** ecdsa-with-SHA256 (1.2.840.10045.4.3.2), RFC 5758 §3.2: parameters absent */
const OID_ECDSA_SHA256 = Buffer.from([0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02])

/** A PEM CSR with subject CN=`commonName` (at most 64 characters kept), signed by `privateKey`. */
export function createCsr(privateKey: KeyObject, publicKey: KeyObject, commonName: string): string {
  const cn = Buffer.from([...commonName].slice(0, 64).join(''), 'utf8')
  const subject = seq(tlv(0x31, seq(OID_CN, tlv(0x0c, cn))))
  const spki = publicKey.export({ type: 'spki', format: 'der' })
  // version 0, subject, subjectPKInfo, attributes [0] IMPLICIT SET OF (empty)
  const info = seq(Buffer.from([0x02, 0x01, 0x00]), subject, spki, Buffer.from([0xa0, 0x00]))
  const signature = sign('sha256', info, { key: privateKey, dsaEncoding: 'der' })
  const der = seq(
    info,
    seq(OID_ECDSA_SHA256),
    tlv(0x03, Buffer.concat([Buffer.from([0]), signature])),
  )
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n')
  return `-----BEGIN CERTIFICATE REQUEST-----\n${b64.trimEnd()}\n-----END CERTIFICATE REQUEST-----\n`
}
