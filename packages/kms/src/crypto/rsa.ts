/**
 * RSA encryption schemes (RFC 8017): RSAES-OAEP with any hash and a label (KMIP Cryptographic
 * Parameters: Hashing Algorithm, P Source), and RSAES-PKCS1-v1_5 with implicit rejection, all done
 * by the OpenSSL inside Node. node:crypto ties the MGF1 hash to the OAEP hash; a request naming a different
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

/**
 * RSAES-OAEP-DECRYPT / RSAES-PKCS1-V1_5-DECRYPT with a private key. Every OAEP failure is one
 * Cryptographic Failure.
 */
export function rsaDecrypt(key: KeyObject, p: RsaEncryptionParams, c: Uint8Array): Buffer {
  if (p.padding === 'PKCS1v15') return pkcs1v15Decrypt(key, c)
  const options = oaepOptions(key, p)
  try {
    return privateDecrypt(options, c)
  } catch {
    throw cryptoFailure('RSA decryption failed')
  }
}

/**
 * RSAES-PKCS1-V1_5-DECRYPT with implicit rejection (draft-irtf-cfrg-rsa-guidance; OpenSSL 3.2+,
 * which Node 24 bundles, and Node allows RSA_PKCS1_PADDING decryption only then, CVE-2023-46809).
 * A ciphertext whose padding is wrong does not fail: it decrypts to a synthetic message derived
 * from the private key and the ciphertext (the same one every time, 0 to k-11 bytes), so the answer
 * never tells padding errors apart and there is no Bleichenbacher oracle. Callers must check the
 * plaintext themselves (a MAC, a known length). Only facts visible without the key fail: a
 * ciphertext that is not k bytes (RFC 8017 §7.2.2 step 1) or not below the modulus.
 */
function pkcs1v15Decrypt(key: KeyObject, c: Uint8Array): Buffer {
  const k = Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8)
  if (c.length !== k)
    throw cryptoFailure(`RSA PKCS#1 v1.5 decryption needs a ${k}-byte ciphertext, got ${c.length}`)
  try {
    return privateDecrypt({ key, padding: constants.RSA_PKCS1_PADDING }, c)
  } catch (e) {
    // A Node.js built against an OpenSSL without implicit rejection refuses this padding whatever
    // the ciphertext, with a TypeError (argument validation; OpenSSL's own failures are Errors).
    // That answer says nothing about the ciphertext.
    if (e instanceof TypeError)
      throw new KmsError(
        'ERR_KMS_NOT_SUPPORTED',
        `RSA PKCS#1 v1.5 decryption needs OpenSSL with implicit rejection (3.2+; this Node.js has ${process.versions.openssl}); encrypt with OAEP`,
      )
    throw cryptoFailure('RSA decryption failed (ciphertext not below the modulus)')
  }
}
