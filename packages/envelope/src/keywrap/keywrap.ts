import { createCipheriv, createDecipheriv } from 'node:crypto'
import { EnvelopeError } from '../errors.js'

/** RFC 3394 default IV (A6A6A6A6A6A6A6A6); Node's OpenSSL applies it. */
const KW_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex')
/** RFC 5649 alternative IV prefix (A65959A6); Node's OpenSSL builds the AIV from it. */
const KWP_IV = Buffer.from('a65959a6', 'hex')

const kwAlg = (kek: Uint8Array, pad: boolean): string => {
  const bits = kek.length * 8
  if (bits !== 128 && bits !== 192 && bits !== 256)
    throw new EnvelopeError(
      'ERR_KEYWRAP_KEK_LENGTH',
      `KEK must be 16, 24 or 32 bytes, got ${kek.length}`,
    )
  return pad ? `id-aes${bits}-wrap-pad` : `id-aes${bits}-wrap`
}

/** AES Key Wrap (RFC 3394). `keyData` must be at least 16 bytes and a multiple of 8. */
export function wrapKw(kek: Uint8Array, keyData: Uint8Array): Uint8Array {
  if (keyData.length < 16 || keyData.length % 8 !== 0)
    throw new EnvelopeError(
      'ERR_KEYWRAP_INPUT_LENGTH',
      'AES-KW input must be at least 16 bytes and a multiple of 8',
    )
  const c = createCipheriv(kwAlg(kek, false), kek, KW_IV)
  return new Uint8Array(Buffer.concat([c.update(keyData), c.final()]))
}

/** AES Key Unwrap (RFC 3394); the integrity check failing is ERR_KEYWRAP_INTEGRITY. */
export function unwrapKw(kek: Uint8Array, wrapped: Uint8Array): Uint8Array {
  if (wrapped.length < 24 || wrapped.length % 8 !== 0)
    throw new EnvelopeError(
      'ERR_KEYWRAP_INPUT_LENGTH',
      'AES-KW wrapped input must be at least 24 bytes and a multiple of 8',
    )
  return decipher(kwAlg(kek, false), kek, KW_IV, wrapped)
}

/** AES Key Wrap with Padding (RFC 5649). An empty key is refused. */
export function wrapKwp(kek: Uint8Array, keyData: Uint8Array): Uint8Array {
  if (keyData.length === 0)
    throw new EnvelopeError('ERR_KEYWRAP_INPUT_LENGTH', 'AES-KWP refuses to wrap an empty key')
  if (keyData.length > 0xffffffff)
    throw new EnvelopeError('ERR_KEYWRAP_INPUT_LENGTH', 'AES-KWP input too long')
  const c = createCipheriv(kwAlg(kek, true), kek, KWP_IV)
  return new Uint8Array(Buffer.concat([c.update(keyData), c.final()]))
}

/** AES Key Unwrap with Padding (RFC 5649). Wrapped input must be >= 16 bytes and a multiple of 8. */
export function unwrapKwp(kek: Uint8Array, wrapped: Uint8Array): Uint8Array {
  if (wrapped.length < 16 || wrapped.length % 8 !== 0)
    throw new EnvelopeError(
      'ERR_KEYWRAP_INPUT_LENGTH',
      'AES-KWP wrapped input must be at least 16 bytes and a multiple of 8',
    )
  return decipher(kwAlg(kek, true), kek, KWP_IV, wrapped)
}

function decipher(alg: string, kek: Uint8Array, iv: Buffer, wrapped: Uint8Array): Uint8Array {
  try {
    const d = createDecipheriv(alg, kek, iv)
    const out = Buffer.concat([d.update(wrapped), d.final()])
    if (out.length === 0) throw new Error('empty')
    return new Uint8Array(out.buffer, out.byteOffset, out.length)
  } catch (e) {
    throw new EnvelopeError(
      'ERR_KEYWRAP_INTEGRITY',
      'key unwrap failed: wrong key-encryption key or corrupted wrapped key',
      { cause: e },
    )
  }
}
