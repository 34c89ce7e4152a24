/**
 * Cryptographic operations over managed keys (KMIP 1.4 §4.29–4.35): Encrypt/Decrypt with
 * AES-GCM and AES-CBC (PKCS5 padding) or RSA-OAEP, MAC/MAC Verify (HMAC), Sign/Signature Verify
 * (RSA PKCS#1 v1.5 / PSS, ECDSA), RNG Retrieve. All via node:crypto; material is opened per call
 * and zeroed afterwards.
 */
import { constants, createHmac, publicEncrypt } from 'node:crypto'
import { KmsError, cryptoFailure, invalidField, notSupported } from '../errors.js'
import {
  AS_REGISTERED,
  attrScalar,
  attrValues,
  loadObject,
  targetId,
  withMaterial,
} from '../model/object.js'
import type { ManagedObject, OpContext } from '../model/object.js'
import { publicKeyObject } from '../model/material.js'
import {
  CryptographicAlgorithm,
  DigitalSignatureAlgorithm,
  HashingAlgorithm,
  PaddingMethod,
  State,
  find,
  opt,
  req,
  Tag,
} from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'
import { stateError } from './common.js'
import { hashName } from './get.js'

export const MAX_DATA = 1 << 20

export interface Params {
  mode?: number
  padding?: number
  hash?: number
  dsa?: number
  tagLength?: number
  randomIv?: boolean
}

/** Request parameters, falling back to the object's Cryptographic Parameters attribute. */
export function params(o: ManagedObject, payload: TtlvItem | undefined): Params {
  const p =
    find(payload, Tag.CryptographicParameters) ?? attrValues(o, 'Cryptographic Parameters')[0]
  const r: Params = {}
  const mode = opt(p, Tag.BlockCipherMode, 'Enumeration')
  const padding = opt(p, Tag.PaddingMethod, 'Enumeration')
  const hash = opt(p, Tag.HashingAlgorithm, 'Enumeration')
  const dsa = opt(p, Tag.DigitalSignatureAlgorithm, 'Enumeration')
  const tagLength = opt(p, Tag.TagLength, 'Integer')
  const randomIv = opt(p, Tag.RandomIV, 'Boolean')
  if (mode !== undefined) r.mode = mode
  if (padding !== undefined) r.padding = padding
  if (hash !== undefined) r.hash = hash
  if (dsa !== undefined) r.dsa = dsa
  if (tagLength !== undefined) r.tagLength = tagLength
  if (randomIv !== undefined) r.randomIv = randomIv
  return r
}

export async function usable(
  ctx: OpContext,
  payload: TtlvItem | undefined,
  op: string,
  bit: number,
  states: readonly number[],
): Promise<ManagedObject> {
  const id = targetId(ctx, opt(payload, Tag.UniqueIdentifier, 'TextString'))
  const o = await loadObject(ctx, id, op)
  if (!states.includes(o.state))
    throw stateError(ctx, `object ${id} is in state ${o.state}; ${op} needs ${states.join('/')}`)
  if (o.sealed === null || o.format === AS_REGISTERED)
    throw notSupported(`object ${id} has no key usable for ${op}`)
  const mask = attrScalar(o, 'Cryptographic Usage Mask')
  if (typeof mask === 'number' && (mask & bit) === 0)
    throw new KmsError(
      'ERR_KMS_USAGE_MASK',
      `object ${id}'s Cryptographic Usage Mask does not allow ${op}`,
      'PermissionDenied',
    )
  return o
}

export const data = (payload: TtlvItem | undefined): Uint8Array => {
  const d = req(payload, Tag.Data, 'ByteString')
  if (d.length > MAX_DATA) throw invalidField('Data is limited to 1 MiB per request')
  return d
}

export const aesName = (k: Buffer, mode: string): string => {
  if (![16, 24, 32].includes(k.length)) throw invalidField('not an AES key')
  return `aes-${k.length * 8}-${mode}`
}

export const ACTIVE = [State.Active]
export const PROCESS = [State.Active, State.Deactivated, State.Compromised]

export function oaep(p: Params): { padding: number; oaepHash?: string } {
  if (p.padding === PaddingMethod.PKCS1V1_5) return { padding: constants.RSA_PKCS1_PADDING }
  return {
    padding: constants.RSA_PKCS1_OAEP_PADDING,
    oaepHash: hashName[p.hash ?? HashingAlgorithm.SHA_1] ?? 'sha1',
  }
}

export function rsaEncrypt(m: Buffer, p: Params, pt: Uint8Array): Buffer {
  try {
    return publicEncrypt({ key: publicKeyObject(m), ...oaep(p) }, pt)
  } catch (e) {
    throw cryptoFailure(`RSA encryption failed (${(e as Error).message})`)
  }
}

export const hmacHash: Record<number, string> = {
  [CryptographicAlgorithm.HMAC_SHA1]: 'sha1',
  [CryptographicAlgorithm.HMAC_SHA224]: 'sha224',
  [CryptographicAlgorithm.HMAC_SHA256]: 'sha256',
  [CryptographicAlgorithm.HMAC_SHA384]: 'sha384',
  [CryptographicAlgorithm.HMAC_SHA512]: 'sha512',
}

export function hmac(ctx: OpContext, o: ManagedObject, d: Uint8Array): Buffer {
  const h = hmacHash[Number(attrScalar(o, 'Cryptographic Algorithm'))]
  if (h === undefined) throw notSupported('MAC needs an HMAC key')
  return withMaterial(ctx, o, (k) => createHmac(h, k).update(d).digest())
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
  const hash =
    (p.dsa !== undefined ? dsaHash[p.dsa] : undefined) ??
    hashName[p.hash ?? HashingAlgorithm.SHA_256] ??
    'sha256'
  if (p.dsa === DigitalSignatureAlgorithm.RSASSA_PSS || p.padding === PaddingMethod.PSS)
    return { hash, padding: constants.RSA_PKCS1_PSS_PADDING }
  return { hash }
}
