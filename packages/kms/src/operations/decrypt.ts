import {
  bytes,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  ObjectType,
  Operation,
  opt,
  s,
  Tag,
  text,
} from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'
import { attrScalar, withMaterial } from '../model/object.js'
import { privateKeyObject } from '../model/material.js'
import { notSupported } from '../errors.js'
import { decryptOnce } from '../crypto/symmetric.js'
import { openStream } from '../crypto/streams.js'
import { rsaDecrypt } from '../crypto/rsa.js'
import { defineOperation } from './types.js'
import { PROCESS, cipherSpec, data, params, rsaParams, usable } from './crypto-common.js'

/**
 * KMIP 1.4 §4.30 / 2.1 §6.1.11 Decrypt, one-shot or streamed (Init Indicator / Correlation Value /
 * Final Indicator; the AEAD tag comes with the Final request). Every decryption failure is one
 * Cryptographic Failure that does not say whether key, IV, tag or padding was wrong.
 */
export const decrypt = defineOperation({
  code: Operation.Decrypt,
  privilege: 'decrypt',
  since: [1, 2],
  async run(ctx, payload) {
    const o = await usable(
      ctx,
      payload,
      'decrypt',
      CryptographicUsageMask.Decrypt,
      PROCESS,
      'process',
    )
    const p = params(o, payload)
    const ct = data(payload)
    const alg = Number(attrScalar(o, 'Cryptographic Algorithm'))
    const out = (d: Uint8Array, corr?: Uint8Array) => ({
      objectId: o.id,
      payload: s(Tag.ResponsePayload, [
        text(Tag.UniqueIdentifier, o.id),
        bytes(Tag.Data, d),
        corr !== undefined ? bytes(Tag.CorrelationValue, corr) : undefined,
      ] as (TtlvItem | undefined)[]),
    })
    const corr = opt(payload, Tag.CorrelationValue, 'ByteString')
    const init = opt(payload, Tag.InitIndicator, 'Boolean') === true
    const final = opt(payload, Tag.FinalIndicator, 'Boolean') === true
    if (o.objectType === ObjectType.PrivateKey && alg === CryptographicAlgorithm.RSA) {
      if (init || corr !== undefined) throw notSupported('RSA decryption cannot be streamed')
      return out(withMaterial(ctx, o, (m) => rsaDecrypt(privateKeyObject(m), rsaParams(p), ct)))
    }
    const spec = cipherSpec(alg, p)
    const tag = opt(payload, Tag.AuthenticatedEncryptionTag, 'ByteString')
    if (corr !== undefined) {
      const st = ctx.runtime.streams.get(corr, ctx.identity, o.id, 'dec')
      try {
        if (!final) return out(st.update(ct), corr)
        return out(st.final(ct, tag).data)
      } catch (e) {
        ctx.runtime.streams.delete(corr)
        throw e
      } finally {
        if (final) ctx.runtime.streams.delete(corr)
      }
    }
    const aad = opt(payload, Tag.AuthenticatedEncryptionAdditionalData, 'ByteString')
    const iv = opt(payload, Tag.IVCounterNonce, 'ByteString')
    return withMaterial(ctx, o, (k) => {
      if (init && !final) {
        const st = openStream('dec', spec, k, iv, aad, ctx.identity, o.id)
        const d = st.update(ct)
        return out(d, ctx.runtime.streams.add(st))
      }
      return out(decryptOnce(spec, k, ct, { iv, aad, tag }))
    })
  },
})
