/**
 * RSA encryption schemes (RFC 8017): RSAES-OAEP with any hash and a label (KMIP Cryptographic
 * Parameters: Hashing Algorithm, P Source), and RSAES-PKCS1-v1_5 encryption, all done by the
 * OpenSSL inside Node. node:crypto ties the MGF1 hash to the OAEP hash; a request naming a different
 * Mask Generator Hashing Algorithm is refused (Feature Not Supported) rather than encoded here: a
 * hand-written OAEP decoder in JS cannot be relied on to be free of Manger-style side channels.
 */
import { constants, privateDecrypt, publicEncrypt } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { KmsError, cryptoFailure } from '../errors.js'

export interface RsaEncryptionParams {
  readonly padding: 'OAEP' | 'PKCS1v15'
  /** OAEP hash (node name, e.g. 'sha256'); KMIP and RFC 8017 default to SHA-1. */
  readonly hash?: string
  /** MGF1 hash; defaults to `hash`, and must equal it. */
  readonly mgf1Hash?: string
  /** OAEP label L (KMIP P Source); empty by default. */
  readonly label?: Uint8Array
}

function oaepOptions(key: KeyObject, p: RsaEncryptionParams) {
  const hash = p.hash ?? 'sha1'
  if ((p.mgf1Hash ?? hash) !== hash)
    throw new KmsError(
      'ERR_KMS_NOT_SUPPORTED',
      `RSA-OAEP with MGF1 ${p.mgf1Hash ?? ''} and OAEP hash ${hash}: only equal hashes are supported`,
      'FeatureNotSupported',
    )
  return {
    key,
    padding: constants.RSA_PKCS1_OAEP_PADDING,
    oaepHash: hash,
    ...(p.label ? { oaepLabel: p.label } : {}),
  }
}

/** RSAES-OAEP-ENCRYPT / RSAES-PKCS1-V1_5-ENCRYPT with a public key. */
export function rsaEncrypt(key: KeyObject, p: RsaEncryptionParams, m: Uint8Array): Buffer {
  const options =
    p.padding === 'PKCS1v15' ? { key, padding: constants.RSA_PKCS1_PADDING } : oaepOptions(key, p)
  try {
    return publicEncrypt(options, m)
  } catch (e) {
    throw cryptoFailure(`RSA encryption failed (${(e as Error).message})`)
  }
}

/** RSAES-OAEP-DECRYPT with a private key. Every failure is one Cryptographic Failure. */
export function rsaDecrypt(key: KeyObject, p: RsaEncryptionParams, c: Uint8Array): Buffer {
  if (p.padding === 'PKCS1v15')
    // OpenSSL 3.0 in Node 20 has no implicit rejection, so Node refuses PKCS#1 v1.5 decryption
    // (CVE-2023-46809); a JS decoder would reopen Bleichenbacher's oracle.
    throw new KmsError(
      'ERR_KMS_NOT_SUPPORTED',
      'RSA PKCS#1 v1.5 decryption is refused (Bleichenbacher); encrypt with OAEP',
      'FeatureNotSupported',
    )
  const options = oaepOptions(key, p)
  try {
    return privateDecrypt(options, c)
  } catch {
    throw cryptoFailure('RSA decryption failed')
  }
}
