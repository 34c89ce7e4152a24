/**
 * MAC algorithms for MAC / MAC Verify (KMIP 1.4 §4.33–4.34): HMAC with SHA-1, SHA-2 and SHA-3
 * (RFC 2104, FIPS 198-1). The algorithm comes from the key (an HMAC key) or from the Cryptographic
 * Parameters (request or key default) when the key is a generic secret such as an AES key, as in
 * OASIS CS-AC-M-4..6. CMAC is not offered: node:crypto has no CMAC.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { KmsError, notSupported } from '../errors.js'

/** KMIP Cryptographic Algorithm name → node hash name. */
export const HMAC_HASHES: Readonly<Record<string, string>> = {
  HMAC_SHA1: 'sha1',
  HMAC_SHA224: 'sha224',
  HMAC_SHA256: 'sha256',
  HMAC_SHA384: 'sha384',
  HMAC_SHA512: 'sha512',
  HMAC_MD5: 'md5',
  HMAC_SHA3_224: 'sha3-224',
  HMAC_SHA3_256: 'sha3-256',
  HMAC_SHA3_384: 'sha3-384',
  HMAC_SHA3_512: 'sha3-512',
}

/** The node hash of a KMIP MAC algorithm name, or a Feature Not Supported error. */
export function macHash(algorithm: string | undefined): string {
  const h = algorithm === undefined ? undefined : HMAC_HASHES[algorithm]
  if (h === undefined)
    throw notSupported(
      `MAC needs an HMAC algorithm (the key's, or Cryptographic Parameters' Cryptographic Algorithm): ${Object.keys(HMAC_HASHES).join(', ')}${algorithm === 'CMAC' ? '; CMAC is not available in node:crypto' : ''}`,
    )
  return h
}

export function macCompute(hash: string, key: Uint8Array, data: Uint8Array): Buffer {
  if (key.length === 0) throw new KmsError('ERR_KMS_KEY_LENGTH', 'an HMAC key cannot be empty')
  return createHmac(hash, key).update(data).digest()
}

/** Constant-time check of `mac` over the bytes received (a truncated or longer MAC is invalid). */
export function macVerify(
  hash: string,
  key: Uint8Array,
  data: Uint8Array,
  mac: Uint8Array,
): boolean {
  const m = macCompute(hash, key, data)
  const ok = m.length === mac.length && timingSafeEqual(m, mac)
  m.fill(0)
  return ok
}
