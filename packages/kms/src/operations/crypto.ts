/**
 * Cryptographic operations over managed keys (KMIP 1.4 §4.29–4.35): Encrypt/Decrypt with
 * AES-GCM and AES-CBC (PKCS5 padding) or RSA-OAEP, MAC/MAC Verify (HMAC), Sign/Signature Verify
 * (RSA PKCS#1 v1.5 / PSS, ECDSA), RNG Retrieve. All via node:crypto; material is opened per call
 * and zeroed afterwards.
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHmac,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  sign as nodeSign,
  timingSafeEqual,
  verify as nodeVerify,
} from 'node:crypto'
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
import { privateKeyObject, publicKeyObject } from '../model/material.js'
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  DigitalSignatureAlgorithm,
  HashingAlgorithm,
  ObjectType,
  Operation,
  PaddingMethod,
  State,
  UsageMask,
  ValidityIndicator,
} from '../wire/enums.js'
import { bytes, enumv, find, opt, req, struct, text } from '../wire/items.js'
import { Tag } from '../wire/tags.js'
import type { TtlvItem } from '../wire/ttlv.js'
import { stateError } from './common.js'
import { hashName } from './get.js'
import { defineOperation } from './types.js'

const MAX_DATA = 1 << 20

interface Params {
  mode?: number
  padding?: number
  hash?: number
  dsa?: number
  tagLength?: number
  randomIv?: boolean
}

/** Request parameters, falling back to the object's Cryptographic Parameters attribute. */
function params(o: ManagedObject, payload: TtlvItem | undefined): Params {
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

async function usable(
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

const data = (payload: TtlvItem | undefined): Uint8Array => {
  const d = req(payload, Tag.Data, 'ByteString')
  if (d.length > MAX_DATA) throw invalidField('Data is limited to 1 MiB per request')
  return d
}

const aesName = (k: Buffer, mode: string): string => {
  if (![16, 24, 32].includes(k.length)) throw invalidField('not an AES key')
  return `aes-${k.length * 8}-${mode}`
}

const ACTIVE = [State.Active]
const PROCESS = [State.Active, State.Deactivated, State.Compromised]

export const encrypt = defineOperation({
  code: Operation.Encrypt,
  privilege: 'encrypt',
  since: [1, 2],
  async run(ctx, payload) {
    const o = await usable(ctx, payload, 'encrypt', UsageMask.Encrypt, ACTIVE)
    const p = params(o, payload)
    const pt = data(payload)
    const alg = attrScalar(o, 'Cryptographic Algorithm')
    if (o.objectType === ObjectType.PublicKey && alg === CryptographicAlgorithm.RSA) {
      const ct = withMaterial(ctx, o, (m) => rsaEncrypt(m, p, pt))
      return {
        objectId: o.id,
        payload: struct(Tag.ResponsePayload, [
          text(Tag.UniqueIdentifier, o.id),
          bytes(Tag.Data, ct),
        ]),
      }
    }
    if (alg !== CryptographicAlgorithm.AES)
      throw notSupported('Encrypt supports AES keys and RSA public keys')
    const mode = p.mode ?? BlockCipherMode.GCM
    const aad = opt(payload, Tag.AuthenticatedEncryptionAdditionalData, 'ByteString')
    let iv = opt(payload, Tag.IVCounterNonce, 'ByteString')
    const generated = iv === undefined
    return withMaterial(ctx, o, (k) => {
      let ct: Buffer
      let tag: Buffer | undefined
      if (mode === BlockCipherMode.GCM) {
        iv ??= randomBytes(12)
        const tagLen = p.tagLength ?? 16
        if (tagLen < 12 || tagLen > 16) throw invalidField('GCM Tag Length must be 12-16 bytes')
        const c = createCipheriv(aesName(k, 'gcm') as 'aes-256-gcm', k, iv, {
          authTagLength: tagLen,
        })
        if (aad !== undefined) c.setAAD(aad)
        ct = Buffer.concat([c.update(pt), c.final()])
        tag = c.getAuthTag()
      } else if (mode === BlockCipherMode.CBC) {
        iv ??= randomBytes(16)
        if (iv.length !== 16) throw invalidField('CBC IV must be 16 bytes')
        const c = createCipheriv(aesName(k, 'cbc'), k, iv)
        c.setAutoPadding(p.padding !== PaddingMethod.None)
        try {
          ct = Buffer.concat([c.update(pt), c.final()])
        } catch (e) {
          throw cryptoFailure(
            `AES-CBC without padding needs whole blocks (${(e as Error).message})`,
          )
        }
      } else throw notSupported('AES modes: GCM and CBC')
      return {
        objectId: o.id,
        payload: struct(Tag.ResponsePayload, [
          text(Tag.UniqueIdentifier, o.id),
          bytes(Tag.Data, ct),
          generated ? bytes(Tag.IVCounterNonce, iv) : undefined,
          tag !== undefined ? bytes(Tag.AuthenticatedEncryptionTag, tag) : undefined,
        ]),
      }
    })
  },
})

function oaep(p: Params): { padding: number; oaepHash?: string } {
  if (p.padding === PaddingMethod.PKCS1v15) return { padding: constants.RSA_PKCS1_PADDING }
  return {
    padding: constants.RSA_PKCS1_OAEP_PADDING,
    oaepHash: hashName[p.hash ?? HashingAlgorithm.SHA1] ?? 'sha1',
  }
}

function rsaEncrypt(m: Buffer, p: Params, pt: Uint8Array): Buffer {
  try {
    return publicEncrypt({ key: publicKeyObject(m), ...oaep(p) }, pt)
  } catch (e) {
    throw cryptoFailure(`RSA encryption failed (${(e as Error).message})`)
  }
}

export const decrypt = defineOperation({
  code: Operation.Decrypt,
  privilege: 'decrypt',
  since: [1, 2],
  async run(ctx, payload) {
    const o = await usable(ctx, payload, 'decrypt', UsageMask.Decrypt, PROCESS)
    const p = params(o, payload)
    const ct = data(payload)
    const alg = attrScalar(o, 'Cryptographic Algorithm')
    const out = (d: Buffer) => ({
      objectId: o.id,
      payload: struct(Tag.ResponsePayload, [text(Tag.UniqueIdentifier, o.id), bytes(Tag.Data, d)]),
    })
    if (o.objectType === ObjectType.PrivateKey && alg === CryptographicAlgorithm.RSA) {
      return out(
        withMaterial(ctx, o, (m) => {
          try {
            return privateDecrypt({ key: privateKeyObject(m), ...oaep(p) }, ct)
          } catch {
            throw cryptoFailure('RSA decryption failed')
          }
        }),
      )
    }
    if (alg !== CryptographicAlgorithm.AES)
      throw notSupported('Decrypt supports AES keys and RSA private keys')
    const mode = p.mode ?? BlockCipherMode.GCM
    const iv = opt(payload, Tag.IVCounterNonce, 'ByteString')
    if (iv === undefined)
      throw new KmsError(
        'ERR_KMS_MISSING_DATA',
        'IV/Counter/Nonce is required to decrypt',
        'MissingData',
      )
    return out(
      withMaterial(ctx, o, (k) => {
        try {
          if (mode === BlockCipherMode.GCM) {
            const tag = req(payload, Tag.AuthenticatedEncryptionTag, 'ByteString')
            const d = createDecipheriv(aesName(k, 'gcm') as 'aes-256-gcm', k, iv, {
              authTagLength: tag.length,
            })
            const aad = opt(payload, Tag.AuthenticatedEncryptionAdditionalData, 'ByteString')
            if (aad !== undefined) d.setAAD(aad)
            d.setAuthTag(tag)
            return Buffer.concat([d.update(ct), d.final()])
          }
          if (mode === BlockCipherMode.CBC) {
            const d = createDecipheriv(aesName(k, 'cbc'), k, iv)
            d.setAutoPadding(p.padding !== PaddingMethod.None)
            return Buffer.concat([d.update(ct), d.final()])
          }
        } catch (e) {
          if (e instanceof KmsError) throw e
          throw cryptoFailure('decryption failed (wrong key, IV, tag or padding)')
        }
        throw notSupported('AES modes: GCM and CBC')
      }),
    )
  },
})

const hmacHash: Record<number, string> = {
  [CryptographicAlgorithm.HMAC_SHA1]: 'sha1',
  [CryptographicAlgorithm.HMAC_SHA224]: 'sha224',
  [CryptographicAlgorithm.HMAC_SHA256]: 'sha256',
  [CryptographicAlgorithm.HMAC_SHA384]: 'sha384',
  [CryptographicAlgorithm.HMAC_SHA512]: 'sha512',
}

function hmac(ctx: OpContext, o: ManagedObject, d: Uint8Array): Buffer {
  const h = hmacHash[Number(attrScalar(o, 'Cryptographic Algorithm'))]
  if (h === undefined) throw notSupported('MAC needs an HMAC key')
  return withMaterial(ctx, o, (k) => createHmac(h, k).update(d).digest())
}

export const mac = defineOperation({
  code: Operation.MAC,
  privilege: 'mac',
  since: [1, 2],
  async run(ctx, payload) {
    const o = await usable(ctx, payload, 'mac', UsageMask.MACGenerate, ACTIVE)
    const m = hmac(ctx, o, data(payload))
    return {
      objectId: o.id,
      payload: struct(Tag.ResponsePayload, [
        text(Tag.UniqueIdentifier, o.id),
        bytes(Tag.MACData, m),
      ]),
    }
  },
})

export const macVerify = defineOperation({
  code: Operation.MACVerify,
  privilege: 'mac-verify',
  since: [1, 2],
  async run(ctx, payload) {
    const o = await usable(ctx, payload, 'mac-verify', UsageMask.MACVerify, PROCESS)
    const m = hmac(ctx, o, data(payload))
    const given = Buffer.from(req(payload, Tag.MACData, 'ByteString'))
    const ok = given.length === m.length && timingSafeEqual(given, m)
    return {
      objectId: o.id,
      payload: struct(Tag.ResponsePayload, [
        text(Tag.UniqueIdentifier, o.id),
        enumv(Tag.ValidityIndicator, ok ? ValidityIndicator.Valid : ValidityIndicator.Invalid),
      ]),
    }
  },
})

const dsaHash: Record<number, string> = {
  [DigitalSignatureAlgorithm.SHA1WithRSA]: 'sha1',
  [DigitalSignatureAlgorithm.SHA224WithRSA]: 'sha224',
  [DigitalSignatureAlgorithm.SHA256WithRSA]: 'sha256',
  [DigitalSignatureAlgorithm.SHA384WithRSA]: 'sha384',
  [DigitalSignatureAlgorithm.SHA512WithRSA]: 'sha512',
  [DigitalSignatureAlgorithm.ECDSAWithSHA1]: 'sha1',
  [DigitalSignatureAlgorithm.ECDSAWithSHA224]: 'sha224',
  [DigitalSignatureAlgorithm.ECDSAWithSHA256]: 'sha256',
  [DigitalSignatureAlgorithm.ECDSAWithSHA384]: 'sha384',
  [DigitalSignatureAlgorithm.ECDSAWithSHA512]: 'sha512',
}

function sigOptions(p: Params): { hash: string; padding?: number } {
  const hash =
    (p.dsa !== undefined ? dsaHash[p.dsa] : undefined) ??
    hashName[p.hash ?? HashingAlgorithm.SHA256] ??
    'sha256'
  if (p.dsa === DigitalSignatureAlgorithm.RSASSAPSS || p.padding === PaddingMethod.PSS)
    return { hash, padding: constants.RSA_PKCS1_PSS_PADDING }
  return { hash }
}

export const sign = defineOperation({
  code: Operation.Sign,
  privilege: 'sign',
  since: [1, 2],
  async run(ctx, payload) {
    const o = await usable(ctx, payload, 'sign', UsageMask.Sign, ACTIVE)
    if (o.objectType !== ObjectType.PrivateKey) throw invalidField('Sign needs a private key')
    const { hash, padding } = sigOptions(params(o, payload))
    const d = data(payload)
    const sig = withMaterial(ctx, o, (m) => {
      const key = privateKeyObject(m)
      return nodeSign(
        hash,
        d,
        padding !== undefined
          ? { key, padding, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
          : key,
      )
    })
    return {
      objectId: o.id,
      payload: struct(Tag.ResponsePayload, [
        text(Tag.UniqueIdentifier, o.id),
        bytes(Tag.SignatureData, sig),
      ]),
    }
  },
})

export const signatureVerify = defineOperation({
  code: Operation.SignatureVerify,
  privilege: 'signature-verify',
  since: [1, 2],
  async run(ctx, payload) {
    const o = await usable(ctx, payload, 'signature-verify', UsageMask.Verify, PROCESS)
    if (o.objectType !== ObjectType.PublicKey)
      throw invalidField('Signature Verify needs a public key')
    const { hash, padding } = sigOptions(params(o, payload))
    const d = data(payload)
    const sig = req(payload, Tag.SignatureData, 'ByteString')
    const ok = withMaterial(ctx, o, (m) => {
      const key = publicKeyObject(m)
      try {
        return nodeVerify(
          hash,
          d,
          padding !== undefined
            ? { key, padding, saltLength: constants.RSA_PSS_SALTLEN_AUTO }
            : key,
          sig,
        )
      } catch {
        return false
      }
    })
    return {
      objectId: o.id,
      payload: struct(Tag.ResponsePayload, [
        text(Tag.UniqueIdentifier, o.id),
        enumv(Tag.ValidityIndicator, ok ? ValidityIndicator.Valid : ValidityIndicator.Invalid),
      ]),
    }
  },
})

export const rngRetrieve = defineOperation({
  code: Operation.RNGRetrieve,
  privilege: 'rng-retrieve',
  since: [1, 3],
  async run(_ctx, payload) {
    const n = req(payload, Tag.DataLength, 'Integer')
    if (n < 1 || n > 65536) throw invalidField('Data Length must be 1-65536 bytes')
    return { payload: struct(Tag.ResponsePayload, [bytes(Tag.Data, randomBytes(n))]) }
  },
})
