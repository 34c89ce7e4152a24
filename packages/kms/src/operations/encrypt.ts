import { createCipheriv, randomBytes } from 'node:crypto'
import { cryptoFailure, invalidField, notSupported } from '../errors.js'
import { attrScalar, withMaterial } from '../model/object.js'
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  ObjectType,
  Operation,
  PaddingMethod,
  CryptographicUsageMask,
  bytes,
  opt,
  s,
  text,
  Tag,
} from '@ward/kmip'
import { defineOperation } from './types.js'
import { params, usable, data, aesName, ACTIVE, rsaEncrypt } from './crypto-common.js'

/** KMIP 1.4 §4.29 Encrypt. */
export const encrypt = defineOperation({
  code: Operation.Encrypt,
  privilege: 'encrypt',
  since: [1, 2],
  async run(ctx, payload) {
    const o = await usable(ctx, payload, 'encrypt', CryptographicUsageMask.Encrypt, ACTIVE)
    const p = params(o, payload)
    const pt = data(payload)
    const alg = attrScalar(o, 'Cryptographic Algorithm')
    if (o.objectType === ObjectType.PublicKey && alg === CryptographicAlgorithm.RSA) {
      const ct = withMaterial(ctx, o, (m) => rsaEncrypt(m, p, pt))
      return {
        objectId: o.id,
        payload: s(Tag.ResponsePayload, [text(Tag.UniqueIdentifier, o.id), bytes(Tag.Data, ct)]),
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
        payload: s(Tag.ResponsePayload, [
          text(Tag.UniqueIdentifier, o.id),
          bytes(Tag.Data, ct),
          generated ? bytes(Tag.IVCounterNonce, iv) : undefined,
          tag !== undefined ? bytes(Tag.AuthenticatedEncryptionTag, tag) : undefined,
        ]),
      }
    })
  },
})
