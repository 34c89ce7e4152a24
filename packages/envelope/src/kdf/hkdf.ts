import { hkdfSync } from 'node:crypto'
import { EnvelopeError } from '../errors.js'

/** RFC 5869 §2.3: L <= 255 * HashLen. */
export const HKDF_SHA256_MAX = 255 * 32

/**
 * HKDF-SHA256 (RFC 5869, extract then expand). An empty salt means "not provided" (HashLen zeros,
 * §2.2). Lengths outside 1..8160 are `ERR_KDF_LENGTH`.
 */
export function hkdfSha256(
  ikm: Uint8Array,
  salt: Uint8Array,
  info: Uint8Array,
  length: number,
): Uint8Array {
  if (!Number.isInteger(length) || length < 1 || length > HKDF_SHA256_MAX)
    throw new EnvelopeError(
      'ERR_KDF_LENGTH',
      `HKDF-SHA256 output must be 1..${HKDF_SHA256_MAX} bytes, got ${length}`,
    )
  if (info.length > 1024)
    throw new EnvelopeError('ERR_KDF_PARAMS', 'HKDF info longer than 1024 bytes (Node limit)')
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, length))
}
