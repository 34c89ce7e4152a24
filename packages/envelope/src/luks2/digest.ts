import { pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto'
import { EnvelopeError } from '../errors.js'
import { pbkdf2Derive } from '../kdf/pbkdf2.js'
import { pbkdf2Work } from './kdf.js'
import { b64, u32, jsonString, type Luks2Digest } from './metadata.js'

/*
 * The pbkdf2 digest of the volume key (LUKS2 spec §3.5; cryptsetup luks2_digest_pbkdf2.c): it lets
 * any holder of a candidate key check it without decrypting data. Salt is 32 bytes, and the
 * digest is as long as the hash (or 20 bytes, from LUKS1 conversions).
 */

const SALT_LEN = 32
/** Digest iterations: the volume key is 512 random bits, so the KDF cost adds nothing to safety. */
export const DIGEST_ITERATIONS = 1000
/** Upper bound on iterations Ward runs for a digest read from a header (hostile input). */
const MAX_ITERATIONS = 10_000_000
const HASH_LEN: Readonly<Record<string, number>> = { sha1: 20, sha256: 32, sha512: 64 }

/** Make a pbkdf2 digest JSON object for `volumeKey` bound to keyslots and segments. */
export function makeDigest(
  volumeKey: Uint8Array,
  keyslots: readonly string[],
  segments: readonly string[],
): Record<string, unknown> {
  const salt = randomBytes(SALT_LEN)
  const digest = pbkdf2Sync(volumeKey, salt, DIGEST_ITERATIONS, 32, 'sha256')
  return {
    type: 'pbkdf2',
    keyslots: [...keyslots],
    segments: [...segments],
    hash: 'sha256',
    iterations: DIGEST_ITERATIONS,
    salt: salt.toString('base64'),
    digest: digest.toString('base64'),
  }
}

/** A digest's parameters, validated. */
interface DigestParams {
  readonly hash: 'sha1' | 'sha256' | 'sha512'
  readonly iterations: number
  readonly salt: Uint8Array
  readonly expected: Uint8Array
}

/** Validate digest `d` (ERR_LUKS2_UNSUPPORTED / ERR_LUKS2_METADATA); runs no KDF. */
function digestParams(d: Luks2Digest): DigestParams {
  const where = `digests.${d.id}`
  if (d.type !== 'pbkdf2')
    throw new EnvelopeError(
      'ERR_LUKS2_UNSUPPORTED',
      `${where}: digest type '${d.type}' is not supported (only pbkdf2)`,
    )
  const hash = jsonString(d.json, 'hash', where)
  const hashLen = HASH_LEN[hash]
  if (hashLen === undefined)
    throw new EnvelopeError(
      'ERR_LUKS2_UNSUPPORTED',
      `${where}: digest hash '${hash.slice(0, 32)}' is not supported`,
    )
  const iterations = u32(d.json, 'iterations', where)
  if (iterations < 1 || iterations > MAX_ITERATIONS)
    throw new EnvelopeError('ERR_LUKS2_METADATA', `${where}: iterations out of range`)
  const salt = b64(d.json, 'salt', where, SALT_LEN)
  const expected = b64(d.json, 'digest', where, 20, 64)
  if (expected.length !== 20 && expected.length !== hashLen)
    throw new EnvelopeError('ERR_LUKS2_METADATA', `${where}: digest length does not match its hash`)
  return { hash: hash as DigestParams['hash'], iterations, salt, expected }
}

/** Estimated work of one check against digest `d`, in reference nanoseconds (luks2/kdf.ts). */
export function digestWork(d: Luks2Digest): number {
  const p = digestParams(d)
  return pbkdf2Work(p.hash, p.iterations, p.expected.length)
}

/** Does `volumeKey` match digest `d`? Malformed digests throw ERR_LUKS2_METADATA. */
export function checkDigest(d: Luks2Digest, volumeKey: Uint8Array): boolean {
  const p = digestParams(d)
  const got = pbkdf2Sync(volumeKey, p.salt, p.iterations, p.expected.length, p.hash)
  return timingSafeEqual(got, p.expected)
}

/** `checkDigest` on the libuv thread pool (a digest may take up to 10M iterations). */
export async function checkDigestAsync(d: Luks2Digest, volumeKey: Uint8Array): Promise<boolean> {
  const p = digestParams(d)
  const got = await pbkdf2Derive(volumeKey, p.salt, p.iterations, p.expected.length, p.hash)
  return timingSafeEqual(got, p.expected)
}
