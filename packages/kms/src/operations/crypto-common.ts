/**
 * Shared by the cryptographic operations (KMIP 1.4 §4.29–4.34, 2.1 §6.1.11/18/28/29/43/44):
 * reading Cryptographic Parameters (request fields over the key's defaults), the usability checks
 * (state, usage mask, usage dates), and the mapping from KMIP enumerations to the pure crypto core
 * in ../crypto/. Key material is borrowed per call and zeroed afterwards (withMaterial).
 */
import { constants } from 'node:crypto'
import { KmsError, invalidField, notFound, notSupported } from '../errors.js'
import {
  AS_REGISTERED,
  attrScalar,
  attrValues,
  fromRow,
  loadObject,
  saveObjects,
  setAttr,
  targetId,
} from '../model/object.js'
import type { ManagedObject, OpContext } from '../model/object.js'
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  DigitalSignatureAlgorithm,
  HashingAlgorithm,
  PaddingMethod,
  State,
  en,
  find,
  long,
  s,
  opt,
  req,
  Tag,
} from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'
import type { CipherMode, CipherSpec, SymmetricAlgorithm } from '../crypto/symmetric.js'
import type { RsaEncryptionParams } from '../crypto/rsa.js'
import { HMAC_HASHES, macHash } from '../crypto/mac.js'
import { stateError, usageMaskError } from './common.js'

/** Largest Data accepted per request (a stream can carry more over several requests). */
export const MAX_DATA = 1 << 20

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

const FIELDS = [
  ['mode', Tag.BlockCipherMode, 'Enumeration'],
  ['padding', Tag.PaddingMethod, 'Enumeration'],
  ['hash', Tag.HashingAlgorithm, 'Enumeration'],
  ['dsa', Tag.DigitalSignatureAlgorithm, 'Enumeration'],
  ['algorithm', Tag.CryptographicAlgorithm, 'Enumeration'],
  ['tagLength', Tag.TagLength, 'Integer'],
  ['randomIv', Tag.RandomIV, 'Boolean'],
  ['mgfHash', Tag.MaskGeneratorHashingAlgorithm, 'Enumeration'],
  ['pSource', Tag.PSource, 'ByteString'],
] as const

/**
 * Request parameters field by field over the key's Cryptographic Parameters attribute: a request
 * naming only the mode still gets the key's padding and hash (KMIP 1.4 §4.29: "if not present,
 * the server uses the Cryptographic Parameters attribute of the key").
 */
export function params(o: ManagedObject, payload: TtlvItem | undefined): Params {
  const sources = [
    find(payload, Tag.CryptographicParameters),
    attrValues(o, 'Cryptographic Parameters')[0],
  ]
  const r: Record<string, unknown> = {}
  for (const [name, tag, type] of FIELDS)
    for (const p of sources) {
      const v = opt(p, tag, type as 'Enumeration')
      if (v !== undefined) {
        r[name] = v
        break
      }
    }
  return r as Params
}

/** What an operation does with the key, for the usage dates (KMIP 1.4 §3.27–3.28). */
export type Purpose = 'protect' | 'process'

/**
 * Loads the target and checks it may be used now: lifecycle state, Cryptographic Usage Mask, and
 * the Process Start / Protect Stop dates (protecting after Protect Stop Date, or processing before
 * Process Start Date, is refused like a wrong state: OASIS CS-BC-M-14, CS-AC-M-8).
 */
export async function usable(
  ctx: OpContext,
  payload: TtlvItem | undefined,
  op: string,
  bit: number,
  states: readonly number[],
  purpose: Purpose,
): Promise<ManagedObject> {
  const id = targetId(ctx, opt(payload, Tag.UniqueIdentifier, 'TextString'))
  const o = await loadObject(ctx, id, op)
  if (!states.includes(o.state))
    throw stateError(`object ${id} is in state ${o.state}; ${op} needs ${states.join('/')}`)
  const now = ctx.now()
  const start = attrScalar(o, 'Process Start Date')
  const stop = attrScalar(o, 'Protect Stop Date')
  if (purpose === 'process' && typeof start === 'bigint' && now < start)
    throw stateError(`object ${id} may not be used to ${op} before its Process Start Date`)
  if (purpose === 'protect' && typeof stop === 'bigint' && now >= stop)
    throw stateError(`object ${id} may not be used to ${op} after its Protect Stop Date`)
  if (o.sealed === null || o.format === AS_REGISTERED)
    throw notSupported(`object ${id} has no key usable for ${op}`)
  const mask = attrScalar(o, 'Cryptographic Usage Mask')
  if (typeof mask === 'number' && (mask & bit) === 0)
    throw usageMaskError(`object ${id}'s Cryptographic Usage Mask does not allow ${op}`)
  return o
}

/** KMIP 1.4 §9.1.3.2.31 Usage Limits Unit. */
const UsageLimitsUnit = { Byte: 1, Object: 2 } as const

/**
 * Usage Limits (KMIP 1.4 §3.21): a key registered with a Usage Limits Total may protect that many
 * bytes (or objects) in all; the remaining Usage Limits Count is kept on the object and saved
 * before the operation answers. Refused with Permission Denied when exhausted (OASIS CS-BC-M-7).
 * The count-down runs under the object's lock on the latest saved copy of the object, so
 * concurrent requests never spend one allowance twice, and a change saved meanwhile by another
 * operation (an added attribute, a state change) is kept.
 */
export async function consumeUsage(ctx: OpContext, o: ManagedObject, bytes: number): Promise<void> {
  if (attrValues(o, 'Usage Limits')[0] === undefined) return
  await ctx.runtime.locks.run(o.id, async () => {
    const row = await ctx.store.getObject(o.id)
    if (row === undefined) throw notFound(o.id)
    const fresh = fromRow(row)
    countDown(fresh, bytes)
    await saveObjects(ctx, [fresh])
  })
}

function countDown(o: ManagedObject, bytes: number): void {
  const ul = attrValues(o, 'Usage Limits')[0]
  if (ul === undefined) return
  const total = opt(ul, Tag.UsageLimitsTotal, 'LongInteger')
  const unit = opt(ul, Tag.UsageLimitsUnit, 'Enumeration') ?? UsageLimitsUnit.Byte
  const left = opt(ul, Tag.UsageLimitsCount, 'LongInteger') ?? total
  if (total === undefined || left === undefined) return
  const need = BigInt(unit === UsageLimitsUnit.Object ? 1 : bytes)
  if (left < need)
    throw new KmsError(
      'ERR_KMS_USAGE_LIMIT',
      `object ${o.id} has used up its Usage Limits (${left} of ${total} ${unit === UsageLimitsUnit.Object ? 'objects' : 'bytes'} left); use a new key (ReKey)`,
    )
  setAttr(
    o,
    'Usage Limits',
    s(Tag.UsageLimits, [
      long(Tag.UsageLimitsTotal, total),
      long(Tag.UsageLimitsCount, left - need),
      en(Tag.UsageLimitsUnit, unit),
    ]),
  )
}

export const data = (payload: TtlvItem | undefined): Uint8Array => {
  const d = req(payload, Tag.Data, 'ByteString')
  if (d.length > MAX_DATA)
    throw invalidField('Data is limited to 1 MiB per request; stream larger data (Init Indicator)')
  return d
}

export const ACTIVE = [State.Active]
export const PROCESS = [State.Active, State.Deactivated, State.Compromised]

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
