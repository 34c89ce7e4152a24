/**
 * Cryptographic Parameters (KMIP 1.4 §2.1.5; 2.1 §7.6) for the cryptographic operations (1.4
 * §4.29-4.34, 2.1 §6.1.11/18/28/29/43/44): the request's fields over the key's defaults, and the
 * mapping from KMIP enumerations to the pure crypto core in ../crypto/.
 */
import { constants } from 'node:crypto'
import { notSupported } from '../errors.js'
import { attrScalar, attrValues } from '../model/object.js'
import type { ManagedObject } from '../model/object.js'
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  CryptographicParameters,
  DigitalSignatureAlgorithm,
  HashingAlgorithm,
  PaddingMethod,
  decodeStructure,
} from '@ward/kmip'
import type { PayloadOf } from '@ward/kmip'
import type { CipherMode, CipherSpec, SymmetricAlgorithm } from '../crypto/symmetric.js'
import type { RsaEncryptionParams } from '../crypto/rsa.js'
import { HMAC_HASHES, macHash } from '../crypto/mac.js'

/** Cryptographic Parameters (KMIP 1.4 §2.1.7.1; 2.1 §11.11) as read from a request or a key. */
export interface Params {
  mode?: number
  padding?: number
  hash?: number
  dsa?: number
  algorithm?: number
  tagLength?: number
  randomIv?: boolean
  mgfHash?: number
  pSource?: Uint8Array
}

/** Decoded Cryptographic Parameters (operations/structures.ts in @ward/kmip). */
export type RequestedParams = PayloadOf<typeof CryptographicParameters>

/** Params field ← Cryptographic Parameters member. */
const FIELDS = [
  ['mode', 'blockCipherMode'],
  ['padding', 'paddingMethod'],
  ['hash', 'hashingAlgorithm'],
  ['dsa', 'digitalSignatureAlgorithm'],
  ['algorithm', 'cryptographicAlgorithm'],
  ['tagLength', 'tagLength'],
  ['randomIv', 'randomIV'],
  ['mgfHash', 'maskGeneratorHashingAlgorithm'],
  ['pSource', 'pSource'],
] as const satisfies readonly (readonly [keyof Params, keyof RequestedParams])[]

/** The version does not change Cryptographic Parameters: any reads the key's attribute. */
const ANY = { major: 1, minor: 4 } as const

/**
 * Request parameters field by field over the key's Cryptographic Parameters attribute: a request
 * naming only the mode still gets the key's padding and hash (KMIP 1.4 §4.29: "if not present,
 * the server uses the Cryptographic Parameters attribute of the key").
 */
export function params(o: ManagedObject, requested: RequestedParams | undefined): Params {
  const stored = attrValues(o, 'Cryptographic Parameters')[0]
  const sources = [
    requested,
    stored === undefined ? undefined : decodeStructure(CryptographicParameters, stored, ANY),
  ]
  const r: Record<string, unknown> = {}
  for (const [name, member] of FIELDS)
    for (const p of sources) {
      const v = p?.[member]
      if (v !== undefined) {
        r[name] = v
        break
      }
    }
  return r as Params
}

/** Node hash names of KMIP Hashing Algorithms. */
export const hashName: Readonly<Record<number, string>> = {
  [HashingAlgorithm.SHA_1]: 'sha1',
  [HashingAlgorithm.SHA_224]: 'sha224',
  [HashingAlgorithm.SHA_256]: 'sha256',
  [HashingAlgorithm.SHA_384]: 'sha384',
  [HashingAlgorithm.SHA_512]: 'sha512',
  [HashingAlgorithm.SHA_512_224]: 'sha512-224',
  [HashingAlgorithm.SHA_512_256]: 'sha512-256',
  [HashingAlgorithm.SHA3_224]: 'sha3-224',
  [HashingAlgorithm.SHA3_256]: 'sha3-256',
  [HashingAlgorithm.SHA3_384]: 'sha3-384',
  [HashingAlgorithm.SHA3_512]: 'sha3-512',
}

function hashOf(h: number | undefined, fallback: string): string {
  if (h === undefined) return fallback
  const n = hashName[h]
  if (n === undefined) throw notSupported(`Hashing Algorithm ${h} is not supported`)
  return n
}

const SYMMETRIC: Readonly<Record<number, SymmetricAlgorithm>> = {
  [CryptographicAlgorithm.AES]: 'AES',
  [CryptographicAlgorithm.DES3]: 'DES3',
  [CryptographicAlgorithm.ChaCha20]: 'ChaCha20',
  [CryptographicAlgorithm.ChaCha20Poly1305]: 'ChaCha20Poly1305',
}
const MODES: Readonly<Record<number, CipherMode>> = {
  [BlockCipherMode.ECB]: 'ECB',
  [BlockCipherMode.CBC]: 'CBC',
  [BlockCipherMode.CFB]: 'CFB',
  [BlockCipherMode.OFB]: 'OFB',
  [BlockCipherMode.CTR]: 'CTR',
  [BlockCipherMode.GCM]: 'GCM',
  [BlockCipherMode.CCM]: 'CCM',
  [BlockCipherMode.AEAD]: 'AEAD',
}

/** Is this key algorithm one of the symmetric ciphers of ../crypto/symmetric.ts? */
export const isSymmetricCipher = (alg: unknown): boolean =>
  typeof alg === 'number' && SYMMETRIC[alg] !== undefined

/**
 * The cipher for a symmetric key. Defaults when neither request nor key says: AES-GCM (Ward's
 * historical default), ChaCha20 as a stream cipher, ChaCha20-Poly1305 as AEAD; padding None
 * (OASIS CS-BC-M-5 decrypts one ECB block without naming a padding).
 */
export function cipherSpec(alg: number, p: Params): CipherSpec {
  const algorithm = SYMMETRIC[alg]
  if (algorithm === undefined)
    throw notSupported(
      'Encrypt/Decrypt support AES, 3DES, ChaCha20, ChaCha20-Poly1305 keys and RSA key pairs',
    )
  let mode: CipherMode
  if (p.mode !== undefined) {
    const m = MODES[p.mode]
    if (m === undefined)
      throw notSupported(
        `Block Cipher Mode ${p.mode} is not supported (ECB, CBC, CFB, OFB, CTR, GCM, CCM, AEAD)`,
      )
    mode = m
  } else
    mode =
      algorithm === 'AES'
        ? 'GCM'
        : algorithm === 'DES3'
          ? 'CBC'
          : algorithm === 'ChaCha20'
            ? 'Stream'
            : 'AEAD'
  if (algorithm === 'ChaCha20Poly1305' && mode !== 'AEAD')
    throw notSupported(`ChaCha20-Poly1305 is an AEAD; Block Cipher Mode ${mode} does not apply`)
  const padding = p.padding ?? PaddingMethod.None
  if (padding !== PaddingMethod.None && padding !== PaddingMethod.PKCS5)
    throw notSupported(`Padding Method ${padding} is not supported for ${algorithm} (None, PKCS5)`)
  return {
    algorithm,
    mode,
    padding: padding === PaddingMethod.PKCS5 ? 'PKCS5' : 'None',
    ...(p.tagLength !== undefined ? { tagLength: p.tagLength } : {}),
  }
}

/** RSA encryption parameters: OAEP (default, SHA-1 per RFC 8017) or PKCS#1 v1.5. */
export function rsaParams(p: Params): RsaEncryptionParams {
  if (p.padding === PaddingMethod.PKCS1V1_5) return { padding: 'PKCS1v15' }
  if (p.padding !== undefined && p.padding !== PaddingMethod.OAEP)
    throw notSupported(`Padding Method ${p.padding} is not supported for RSA (OAEP, PKCS1 v1.5)`)
  const hash = hashOf(p.hash, 'sha1')
  return {
    padding: 'OAEP',
    hash,
    mgf1Hash: hashOf(p.mgfHash, hash),
    ...(p.pSource !== undefined && p.pSource.length > 0 ? { label: p.pSource } : {}),
  }
}

const ALG_NAME = Object.fromEntries(
  Object.entries(CryptographicAlgorithm).map(([k, v]) => [v, k]),
) as Record<number, string>

/**
 * The HMAC hash for MAC / MAC Verify: the key's own algorithm when it is an HMAC key, else the
 * Cryptographic Algorithm in the Cryptographic Parameters (request, then key default), as OASIS
 * CS-AC-M-4..6 register an AES-typed secret with HMAC_SHA256 parameters.
 */
export function macHashFor(o: ManagedObject, p: Params): string {
  const own = ALG_NAME[Number(attrScalar(o, 'Cryptographic Algorithm'))]
  if (own !== undefined && HMAC_HASHES[own] !== undefined) return macHash(own)
  return macHash(p.algorithm !== undefined ? (ALG_NAME[p.algorithm] ?? `#${p.algorithm}`) : own)
}

export const dsaHash: Record<number, string> = {
  [DigitalSignatureAlgorithm.SHA_1WithRSAEncryption]: 'sha1',
  [DigitalSignatureAlgorithm.SHA_224WithRSAEncryption]: 'sha224',
  [DigitalSignatureAlgorithm.SHA_256WithRSAEncryption]: 'sha256',
  [DigitalSignatureAlgorithm.SHA_384WithRSAEncryption]: 'sha384',
  [DigitalSignatureAlgorithm.SHA_512WithRSAEncryption]: 'sha512',
  [DigitalSignatureAlgorithm.ECDSAWithSHA_1]: 'sha1',
  [DigitalSignatureAlgorithm.ECDSAWithSHA224]: 'sha224',
  [DigitalSignatureAlgorithm.ECDSAWithSHA256]: 'sha256',
  [DigitalSignatureAlgorithm.ECDSAWithSHA384]: 'sha384',
  [DigitalSignatureAlgorithm.ECDSAWithSHA512]: 'sha512',
}

export function sigOptions(p: Params): { hash: string; padding?: number } {
  const hash = (p.dsa !== undefined ? dsaHash[p.dsa] : undefined) ?? hashOf(p.hash, 'sha256')
  if (p.dsa === DigitalSignatureAlgorithm.RSASSA_PSS || p.padding === PaddingMethod.PSS)
    return { hash, padding: constants.RSA_PKCS1_PSS_PADDING }
  return { hash }
}
