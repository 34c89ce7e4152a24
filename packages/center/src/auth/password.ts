/**
 * Password hashes: argon2id (RFC 9106) from node:crypto, stored as a PHC string
 * `$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt b64>$<tag b64>`. Defaults are OWASP's
 * (Password Storage Cheat Sheet): m = 19 MiB, t = 2, p = 1, a 16-byte random salt and a 32-byte
 * tag. Verification uses the parameters of the stored string, so raising the defaults later keeps
 * old hashes valid. Passwords are bytes (never logged, zeroed by the callers that own them).
 */
import { argon2, randomBytes, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'

const argon2Async = promisify(argon2)

export interface Argon2Params {
  /** Memory in KiB. */
  readonly memory: number
  readonly passes: number
  readonly parallelism: number
}

export const defaultArgon2: Argon2Params = { memory: 19456, passes: 2, parallelism: 1 }

/** Longest password accepted (bytes): bounds the work an attacker can ask for. */
export const MAX_PASSWORD_BYTES = 1024

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64').replace(/=+$/, '')

export async function hashPassword(
  password: Uint8Array,
  params: Argon2Params = defaultArgon2,
): Promise<string> {
  const nonce = randomBytes(16)
  const tag = await argon2Async('argon2id', {
    message: password,
    nonce,
    parallelism: params.parallelism,
    tagLength: 32,
    memory: params.memory,
    passes: params.passes,
  })
  return `$argon2id$v=19$m=${params.memory},t=${params.passes},p=${params.parallelism}$${b64(nonce)}$${b64(tag)}`
}

const PHC =
  /^\$argon2id\$v=19\$m=(\d{1,7}),t=(\d{1,3}),p=(\d{1,2})\$([A-Za-z0-9+/]{16,64})\$([A-Za-z0-9+/]{16,128})$/

/** Does `password` match the PHC string `stored`? A malformed string never matches. */
export async function verifyPassword(password: Uint8Array, stored: string): Promise<boolean> {
  const m = PHC.exec(stored)
  if (m === null) return false
  const expected = Buffer.from(m[5]!, 'base64')
  const tag = await argon2Async('argon2id', {
    message: password,
    nonce: Buffer.from(m[4]!, 'base64'),
    parallelism: Number(m[3]),
    tagLength: expected.length,
    memory: Number(m[1]),
    passes: Number(m[2]),
  })
  return tag.length === expected.length && timingSafeEqual(tag, expected)
}

/** A hash of a random password: verified against when the user does not exist (same cost). */
export const dummyHash = (params: Argon2Params = defaultArgon2): Promise<string> =>
  hashPassword(randomBytes(16), params)
