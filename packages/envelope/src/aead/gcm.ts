import { createCipheriv, createDecipheriv, type CipherGCMTypes } from 'node:crypto'
import { EnvelopeError } from '../errors.js'

/** GCM nonce length we accept: 96 bits (NIST SP 800-38D §8.2 recommends exactly this). */
export const GCM_IV_LENGTH = 12
/** GCM tag length we emit and accept: the full 128 bits (SP 800-38D §5.2.1.2). */
export const GCM_TAG_LENGTH = 16

const gcmAlg = (key: Uint8Array): CipherGCMTypes => {
  if (key.length !== 16 && key.length !== 24 && key.length !== 32)
    throw new EnvelopeError(
      'ERR_AEAD_KEY_LENGTH',
      `AES-GCM key must be 16, 24 or 32 bytes, got ${key.length}`,
    )
  return `aes-${key.length * 8}-gcm` as CipherGCMTypes
}

const checkIv = (iv: Uint8Array): void => {
  // SECURITY: other IV sizes go through GHASH and invite misuse; Ward only ever makes 12-byte nonces.
  if (iv.length !== GCM_IV_LENGTH)
    throw new EnvelopeError(
      'ERR_AEAD_IV_LENGTH',
      `AES-GCM nonce must be ${GCM_IV_LENGTH} bytes, got ${iv.length}`,
    )
}

/**
 * AES-GCM encryption with a 12-byte nonce and a 16-byte tag. Returns `ciphertext || tag`.
 * The caller guarantees the (key, iv) pair is never reused.
 */
export function gcmSeal(
  key: Uint8Array,
  iv: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const alg = gcmAlg(key)
  checkIv(iv)
  const c = createCipheriv(alg, key, iv, { authTagLength: GCM_TAG_LENGTH })
  c.setAAD(aad)
  const out = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()])
  return new Uint8Array(out.buffer, out.byteOffset, out.length)
}

/**
 * Like {@link gcmSeal} but returns the ciphertext and the tag as two arrays, saving a copy on
 * bulk paths that write them out with `writev`.
 */
export function gcmSealParts(
  key: Uint8Array,
  iv: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): [ciphertext: Uint8Array, tag: Uint8Array] {
  const alg = gcmAlg(key)
  checkIv(iv)
  const c = createCipheriv(alg, key, iv, { authTagLength: GCM_TAG_LENGTH })
  c.setAAD(aad)
  const ct = c.update(plaintext)
  c.final() // GCM is a stream mode: final() emits nothing, it computes the tag
  return [ct, c.getAuthTag()]
}

/**
 * AES-GCM decryption of `ciphertext || tag`. Any authentication failure (wrong key, wrong AAD,
 * modified bytes) is `ERR_AEAD_AUTH`; no plaintext is returned in that case.
 */
export function gcmOpen(
  key: Uint8Array,
  iv: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const alg = gcmAlg(key)
  checkIv(iv)
  if (sealed.length < GCM_TAG_LENGTH)
    throw new EnvelopeError('ERR_AEAD_AUTH', 'AES-GCM input shorter than its tag')
  const ctLen = sealed.length - GCM_TAG_LENGTH
  const d = createDecipheriv(alg, key, iv, { authTagLength: GCM_TAG_LENGTH })
  d.setAAD(aad)
  d.setAuthTag(sealed.subarray(ctLen))
  const pt = d.update(sealed.subarray(0, ctLen))
  try {
    d.final()
  } catch (e) {
    pt.fill(0)
    throw new EnvelopeError(
      'ERR_AEAD_AUTH',
      'AES-GCM authentication failed: wrong key or modified data',
      {
        cause: e,
      },
    )
  }
  return new Uint8Array(pt.buffer, pt.byteOffset, pt.length)
}
