import { pbkdf2, pbkdf2Sync } from 'node:crypto'
import { EnvelopeError } from '../errors.js'

/** Upper bounds that keep hostile headers from pinning a core for hours. */
export const PBKDF2_MAX_ITERATIONS = 100_000_000
export const PBKDF2_MAX_LENGTH = 1024

/** Hashes PBKDF2 runs with (LUKS2 keyslots and digests use sha1, sha256 or sha512). */
export type Pbkdf2Hash = 'sha1' | 'sha256' | 'sha512'
const HASHES: readonly string[] = ['sha1', 'sha256', 'sha512']

const check = (iterations: number, length: number): void => {
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > PBKDF2_MAX_ITERATIONS)
    throw new EnvelopeError(
      'ERR_KDF_PARAMS',
      `PBKDF2 iterations must be 1..${PBKDF2_MAX_ITERATIONS}, got ${iterations}`,
    )
  if (!Number.isInteger(length) || length < 1 || length > PBKDF2_MAX_LENGTH)
    throw new EnvelopeError(
      'ERR_KDF_LENGTH',
      `PBKDF2 output must be 1..${PBKDF2_MAX_LENGTH} bytes, got ${length}`,
    )
}

/** PBKDF2-HMAC-SHA256 (RFC 8018 §5.2), synchronous: for tests and small iteration counts. */
export function pbkdf2Sha256Sync(
  password: Uint8Array,
  salt: Uint8Array,
  iterations: number,
  length: number,
): Uint8Array {
  check(iterations, length)
  return new Uint8Array(pbkdf2Sync(password, salt, iterations, length, 'sha256'))
}

/** PBKDF2-HMAC-SHA256 (RFC 8018 §5.2) on the libuv thread pool, so the event loop stays free. */
export function pbkdf2Sha256(
  password: Uint8Array,
  salt: Uint8Array,
  iterations: number,
  length: number,
): Promise<Uint8Array> {
  return pbkdf2Derive(password, salt, iterations, length, 'sha256')
}

/** PBKDF2-HMAC (RFC 8018 §5.2) with `hash`, on the libuv thread pool; the caller zeroes the result. */
export function pbkdf2Derive(
  password: Uint8Array,
  salt: Uint8Array,
  iterations: number,
  length: number,
  hash: Pbkdf2Hash,
): Promise<Uint8Array> {
  try {
    check(iterations, length)
    if (!HASHES.includes(hash))
      throw new EnvelopeError(
        'ERR_KDF_PARAMS',
        `PBKDF2 hash '${String(hash).slice(0, 16)}' is not supported`,
      )
  } catch (e) {
    return Promise.reject(e as Error)
  }
  return new Promise((resolve, reject) => {
    pbkdf2(password, salt, iterations, length, hash, (err, key) => {
      if (err) reject(new EnvelopeError('ERR_KDF_PARAMS', 'PBKDF2 failed', { cause: err }))
      else {
        const out = new Uint8Array(key)
        key.fill(0)
        resolve(out)
      }
    })
  })
}
