/**
 * Symmetric ciphers for Encrypt/Decrypt (KMIP 1.4 §4.29–4.30, 2.1 §6.1.18/6.1.11) as pure functions
 * over node:crypto: AES (ECB, CBC, CFB, OFB, CTR, GCM, CCM), 3DES (ECB, CBC), ChaCha20 and
 * ChaCha20-Poly1305. No TTLV here: callers map KMIP enumerations to these names.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto'
import { randomBytes } from 'node:crypto'
import type { RandomSource } from './random.js'
import type { Cipheriv, CipherGCMTypes, Decipheriv } from 'node:crypto'
import { KmsError, cryptoFailure, notSupported } from '../errors.js'

/** Key algorithms handled here (KMIP Cryptographic Algorithm names). */
export type SymmetricAlgorithm = 'AES' | 'DES3' | 'ChaCha20' | 'ChaCha20Poly1305'
/** Block Cipher Modes handled here (KMIP 1.4 §9.1.3.2.14; AEAD is 2.1's name for ChaCha20-Poly1305). */
export type CipherMode = 'ECB' | 'CBC' | 'CFB' | 'OFB' | 'CTR' | 'GCM' | 'CCM' | 'AEAD' | 'Stream'
/** Padding Methods handled here (KMIP 1.4 §9.1.3.2.15); only ECB and CBC pad. */
export type CipherPadding = 'None' | 'PKCS5'

/** A fully resolved cipher choice (request parameters merged with the key's defaults). */
export interface CipherSpec {
  readonly algorithm: SymmetricAlgorithm
  readonly mode: CipherMode
  readonly padding: CipherPadding
  /** AEAD tag length in bytes (GCM, CCM, ChaCha20-Poly1305); 16 when absent. */
  readonly tagLength?: number
}

export interface DecryptInput {
  readonly iv?: Uint8Array | undefined
  readonly aad?: Uint8Array | undefined
  readonly tag?: Uint8Array | undefined
}
export interface EncryptInput {
  readonly iv?: Uint8Array | undefined
  readonly aad?: Uint8Array | undefined
  /** Where a generated IV comes from (the server's RandomPool; default node:crypto randomBytes). */
  readonly random?: RandomSource
}
export interface EncryptOutput {
  readonly data: Buffer
  /** Set when the server generated the IV/nonce (the client must keep it). */
  readonly generatedIv?: Buffer
  readonly tag?: Buffer
}

/** Where a cipher spec's parameters went wrong; each maps to one KMIP Result Reason. */
export const missingIv = (mode: string): KmsError =>
  new KmsError(
    'ERR_KMS_MISSING_IV',
    `${mode} decryption needs the IV/Counter/Nonce used to encrypt (send IV Counter Nonce)`,
  )
export const badTagLength = (n: number, allowed: readonly number[]): KmsError =>
  new KmsError(
    'ERR_KMS_TAG_LENGTH',
    `Tag Length ${n} is not allowed here; use one of ${allowed.join(', ')} bytes`,
  )
export const badIv = (message: string): KmsError => new KmsError('ERR_KMS_IV_LENGTH', message)
export const badKey = (message: string): KmsError => new KmsError('ERR_KMS_KEY_LENGTH', message)

const GCM_TAGS = [4, 8, 12, 13, 14, 15, 16] as const // SP 800-38D §5.2.1.2
const CCM_TAGS = [4, 6, 8, 10, 12, 14, 16] as const // SP 800-38C §A.1
// RFC 8439 defines a 16-byte tag; 12–16 accepts the truncated tags OASIS CHACHA20POLY1305-1 verifies.
const POLY_TAGS = [12, 13, 14, 15, 16] as const

const AES_MODES: Record<string, string> = {
  ECB: 'ecb',
  CBC: 'cbc',
  CFB: 'cfb', // CFB-128 (SP 800-38A §6.3 with s = 128)
  OFB: 'ofb',
  CTR: 'ctr', // 128-bit big-endian counter block (SP 800-38A §B.1)
  GCM: 'gcm',
  CCM: 'ccm',
}

export interface Resolved {
  readonly name: string
  readonly ivLength: { readonly default: number; readonly ok: (n: number) => boolean } | null
  readonly aead: 'gcm' | 'ccm' | 'poly' | null
  readonly pads: boolean
  /** Transforms the IV the client sent into the one OpenSSL wants (ChaCha20 counter block). */
  readonly iv: (iv: Uint8Array) => Uint8Array
}

const same = (iv: Uint8Array): Uint8Array => iv

/**
 * Chooses the OpenSSL cipher for a key of `keyLength` bytes. Throws Feature Not Supported for
 * combinations node:crypto lacks and Invalid Field for a key of the wrong size.
 */
export function resolveCipher(spec: CipherSpec, keyLength: number): Resolved {
  const { algorithm, mode } = spec
  if (algorithm === 'AES') {
    if (![16, 24, 32].includes(keyLength)) badKeyThrow('AES keys are 16, 24 or 32 bytes')
    const m = AES_MODES[mode]
    if (m === undefined)
      throw notSupported(`AES supports ECB, CBC, CFB, OFB, CTR, GCM and CCM, not ${mode}`)
    const name = `aes-${keyLength * 8}-${m}`
    if (mode === 'ECB') return { name, ivLength: null, aead: null, pads: true, iv: same }
    if (mode === 'GCM')
      return {
        name,
        ivLength: { default: 12, ok: (n) => n >= 1 && n <= 128 },
        aead: 'gcm',
        pads: false,
        iv: same,
      }
    if (mode === 'CCM')
      return {
        name,
        ivLength: { default: 12, ok: (n) => n >= 7 && n <= 13 },
        aead: 'ccm',
        pads: false,
        iv: same,
      }
    return {
      name,
      ivLength: { default: 16, ok: (n) => n === 16 },
      aead: null,
      pads: mode === 'CBC',
      iv: same,
    }
  }
  if (algorithm === 'DES3') {
    // Two-key 3DES (16 bytes) is K1||K2||K1; OpenSSL's des-ede wants the 16-byte form as is.
    if (keyLength !== 24 && keyLength !== 16) badKeyThrow('3DES keys are 16 or 24 bytes')
    const base = keyLength === 24 ? 'des-ede3' : 'des-ede'
    if (mode === 'ECB')
      return { name: `${base}-ecb`, ivLength: null, aead: null, pads: true, iv: same }
    if (mode === 'CBC')
      return {
        name: `${base}-cbc`,
        ivLength: { default: 8, ok: (n) => n === 8 },
        aead: null,
        pads: true,
        iv: same,
      }
    throw notSupported(`3DES supports ECB and CBC, not ${mode}`)
  }
  if (algorithm === 'ChaCha20') {
    if (keyLength !== 32) badKeyThrow('ChaCha20 keys are 32 bytes')
    if (mode !== 'Stream' && mode !== 'AEAD')
      throw notSupported(`ChaCha20 is a stream cipher; Block Cipher Mode ${mode} does not apply`)
    if (mode === 'AEAD') return chachaPoly()
    return {
      name: 'chacha20',
      ivLength: { default: 12, ok: (n) => n === 8 || n === 12 || n === 16 },
      aead: null,
      pads: false,
      iv: chachaIv,
    }
  }
  if (keyLength !== 32) badKeyThrow('ChaCha20-Poly1305 keys are 32 bytes')
  return chachaPoly()
}

function chachaPoly(): Resolved {
  return {
    name: 'chacha20-poly1305',
    ivLength: { default: 12, ok: (n) => n === 12 }, // RFC 8439 §2.8: 96-bit nonce
    aead: 'poly',
    pads: false,
    iv: same,
  }
}

/**
 * OpenSSL's chacha20 takes a 16-byte block of state words 12–15 (little-endian counter first).
 * An 8-byte nonce is the original ChaCha20 (64-bit block counter, 64-bit nonce: counter words
 * 12–13 start at 0); a 12-byte nonce is RFC 8439 §2.3 with the 32-bit block counter at 0; a 16-byte
 * value is taken as the whole counter||nonce block.
 */
function chachaIv(iv: Uint8Array): Uint8Array {
  if (iv.length === 16) return iv
  const out = new Uint8Array(16)
  out.set(iv, 16 - iv.length)
  return out
}

function badKeyThrow(message: string): never {
  throw badKey(message)
}

function tagLengthOf(spec: CipherSpec, r: Resolved): number {
  const n = spec.tagLength ?? 16
  const allowed = r.aead === 'gcm' ? GCM_TAGS : r.aead === 'ccm' ? CCM_TAGS : POLY_TAGS
  if (!(allowed as readonly number[]).includes(n)) throw badTagLength(n, allowed)
  return n
}

function checkIv(r: Resolved, iv: Uint8Array): void {
  if (r.ivLength !== null && !r.ivLength.ok(iv.length))
    throw badIv(`IV/Counter/Nonce of ${iv.length} bytes does not fit ${r.name}`)
  if (r.ivLength === null && iv.length !== 0)
    throw badIv(`${r.name} takes no IV/Counter/Nonce; omit it`)
}

/** Does this spec need an IV/Counter/Nonce? (ECB does not.) */
export function needsIv(spec: CipherSpec, keyLength: number): boolean {
  return resolveCipher(spec, keyLength).ivLength !== null
}

type WithAad = { setAAD(b: Uint8Array, o?: { plaintextLength: number }): unknown }
type CipherWithTag = Cipheriv & { getAuthTag(): Buffer }
type DecipherWithTag = Decipheriv & { setAuthTag(t: Uint8Array): unknown }

/**
 * Opens a node cipher for `spec` with AAD set and padding configured. `iv` is the client's (or
 * generated) IV/nonce; `length` is the whole message length, which CCM needs up front
 * (SP 800-38C §A.2.1 encodes it in B0).
 */
export function openCipher(
  dir: 'enc' | 'dec',
  spec: CipherSpec,
  key: Uint8Array,
  iv: Uint8Array | undefined,
  aad: Uint8Array | undefined,
  length?: number,
): { c: Cipheriv | Decipheriv; r: Resolved; tagLength: number } {
  const r = resolveCipher(spec, key.length)
  if (iv !== undefined) checkIv(r, iv)
  else if (r.ivLength !== null) throw missingIv(`${spec.algorithm}-${spec.mode}`)
  const tagLength = r.aead !== null ? tagLengthOf(spec, r) : 0
  if (aad !== undefined && r.aead === null)
    throw notSupported(
      `${r.name} is not an AEAD: Authenticated Encryption Additional Data applies to GCM, CCM and ChaCha20-Poly1305`,
    )
  const civ = r.ivLength === null || iv === undefined ? null : r.iv(iv)
  let c: Cipheriv | Decipheriv
  try {
    const opts = r.aead === null ? undefined : { authTagLength: tagLength }
    c =
      dir === 'enc'
        ? createCipheriv(r.name as CipherGCMTypes, key, civ, opts as never)
        : createDecipheriv(r.name as CipherGCMTypes, key, civ, opts as never)
  } catch (e) {
    throw cryptoFailure(`cannot set up ${r.name} (${(e as Error).message})`)
  }
  if (r.aead === 'ccm') {
    if (length === undefined) throw notSupported('CCM needs the whole message in one request')
    ;(c as unknown as WithAad).setAAD(aad ?? new Uint8Array(0), { plaintextLength: length })
  } else if (aad !== undefined) (c as unknown as WithAad).setAAD(aad)
  c.setAutoPadding(r.pads && spec.padding === 'PKCS5')
  return { c, r, tagLength }
}

/** The IV to use for encryption: the client's, or a fresh random one of the mode's default length. */
function ivFor(
  r: Resolved,
  iv: Uint8Array | undefined,
  random: RandomSource,
): { iv?: Uint8Array; generated?: Buffer } {
  if (iv !== undefined || r.ivLength === null) return iv === undefined ? {} : { iv }
  const g = random(r.ivLength.default)
  return { iv: g, generated: g }
}

/**
 * One-shot encryption. Without `iv`, a random IV/nonce of the mode's default length is generated
 * and returned as `generatedIv` (KMIP 1.4 §4.29: the server returns the IV it chose).
 */
export function encryptOnce(
  spec: CipherSpec,
  key: Uint8Array,
  data: Uint8Array,
  input: EncryptInput = {},
): EncryptOutput {
  const { iv, generated } = ivFor(
    resolveCipher(spec, key.length),
    input.iv,
    input.random ?? randomBytes,
  )
  const { c, r, tagLength } = openCipher('enc', spec, key, iv, input.aad, data.length)
  let out: Buffer
  try {
    out = Buffer.concat([c.update(data), c.final()])
  } catch (e) {
    throw cryptoFailure(
      `${r.name} encryption failed: without padding the data must be whole blocks (${(e as Error).message})`,
    )
  }
  const tag = r.aead !== null ? (c as CipherWithTag).getAuthTag().subarray(0, tagLength) : undefined
  return {
    data: out,
    ...(generated !== undefined ? { generatedIv: generated } : {}),
    ...(tag !== undefined ? { tag } : {}),
  }
}

/**
 * One-shot decryption. A mode that needs an IV and gets none fails with ERR_KMS_MISSING_IV; a bad
 * tag, padding or IV fails with one Cryptographic Failure that does not say which (no oracle).
 */
export function decryptOnce(
  spec: CipherSpec,
  key: Uint8Array,
  data: Uint8Array,
  input: DecryptInput = {},
): Buffer {
  const r = resolveCipher(spec, key.length)
  let s = spec
  if (r.aead !== null) {
    if (input.tag === undefined)
      throw new KmsError(
        'ERR_KMS_MISSING_DATA',
        `${r.name} decryption needs the Authenticated Encryption Tag`,
      )
    // The tag sent is the tag checked; a Tag Length that disagrees with it is a client error.
    if (spec.tagLength !== undefined && spec.tagLength !== input.tag.length)
      throw badTagLength(input.tag.length, [spec.tagLength])
    s = { ...spec, tagLength: input.tag.length }
  }
  const { c } = openCipher('dec', s, key, input.iv, input.aad, data.length)
  try {
    if (r.aead !== null) (c as DecipherWithTag).setAuthTag(input.tag!)
    return Buffer.concat([c.update(data), c.final()])
  } catch {
    throw cryptoFailure('decryption failed (wrong key, IV, tag, padding or data)')
  }
}

/** A fresh random IV/nonce of the mode's default length, or undefined for ECB. */
export function freshIv(
  spec: CipherSpec,
  keyLength: number,
  random: RandomSource = randomBytes,
): Buffer | undefined {
  const r = resolveCipher(spec, keyLength)
  return r.ivLength === null ? undefined : random(r.ivLength.default)
}
