import { createDecipheriv, privateDecrypt } from 'node:crypto'
import { KmsError, cryptoFailure, notSupported } from '../errors.js'
import { attrScalar, withMaterial } from '../model/object.js'
import { privateKeyObject } from '../model/material.js'
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  ObjectType,
  Operation,
  PaddingMethod,
  CryptographicUsageMask,
  bytes,
  opt,
  req,
  s,
  text,
  Tag,
} from '@ward/kmip'
import { defineOperation } from './types.js'
import { params, usable, data, aesName, PROCESS, oaep } from './crypto-common.js'

/** KMIP 1.4 §4.30 Decrypt. */
export const decrypt = defineOperation({
  code: Operation.Decrypt,
  privilege: 'decrypt',
  since: [1, 2],
  async run(ctx, payload) {
    const o = await usable(ctx, payload, 'decrypt', CryptographicUsageMask.Decrypt, PROCESS)
    const p = params(o, payload)
    const ct = data(payload)
    const alg = attrScalar(o, 'Cryptographic Algorithm')
    const out = (d: Buffer) => ({
      objectId: o.id,
      payload: s(Tag.ResponsePayload, [text(Tag.UniqueIdentifier, o.id), bytes(Tag.Data, d)]),
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
