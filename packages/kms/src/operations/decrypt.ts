import {
  CryptographicAlgorithm,
  CryptographicUsageMask,
  DecryptRequest,
  DecryptResponse,
  ObjectType,
  Operation,
} from '@ward/kmip'
import { attrScalar, withMaterial } from '../model/object.js'
import { privateKeyObject } from '../model/material.js'
import { notSupported } from '../errors.js'
import { decryptOnce } from '../crypto/symmetric.js'
import { openStream } from '../crypto/streams.js'
import { rsaDecrypt } from '../crypto/rsa.js'
import { defineOperation } from './types.js'
import { cipherSpec, params, rsaParams } from './crypto-params.js'
import { PROCESS, checkDataSize, usable } from './key-usage.js'

/**
 * KMIP 1.4 §4.30 / 2.1 §6.1.11 Decrypt, one-shot or streamed (Init Indicator / Correlation Value /
 * Final Indicator; the AEAD tag comes with the Final request). Every decryption failure is one
 * Cryptographic Failure that does not say whether key, IV, tag or padding was wrong.
 */
export const decrypt = defineOperation({
  code: Operation.Decrypt,
  privilege: 'decrypt',
  since: [1, 2],
  request: DecryptRequest,
  response: DecryptResponse,
  async handle(ctx, request) {
    const o = await usable(ctx, {
      id: request.uniqueIdentifier,
      operation: 'decrypt',
      usageMask: CryptographicUsageMask.Decrypt,
      states: PROCESS,
      purpose: 'process',
    })
    const p = params(o, request.cryptographicParameters)
    const ct = checkDataSize(request.data)
    const alg = Number(attrScalar(o, 'Cryptographic Algorithm'))
    const out = (data: Uint8Array, corr?: Uint8Array) => ({
      objectId: o.id,
      payload: { uniqueIdentifier: o.id, data, correlationValue: corr },
    })
    const corr = request.correlationValue
    const init = request.initIndicator === true
    const final = request.finalIndicator === true
    if (o.objectType === ObjectType.PrivateKey && alg === CryptographicAlgorithm.RSA) {
      if (init || corr !== undefined) throw notSupported('RSA decryption cannot be streamed')
      return out(withMaterial(ctx, o, (m) => rsaDecrypt(privateKeyObject(m), rsaParams(p), ct)))
    }
    const spec = cipherSpec(alg, p)
    const tag = request.authenticatedEncryptionTag
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
    const aad = request.authenticatedEncryptionAdditionalData
    const iv = request.ivCounterNonce
    return withMaterial(ctx, o, (k) => {
      if (init && !final) {
        const st = openStream({
          direction: 'dec',
          spec,
          key: k,
          iv,
          aad,
          owner: ctx.identity,
          objectId: o.id,
        })
        const d = st.update(ct)
        return out(d, ctx.runtime.streams.add(st))
      }
      return out(decryptOnce(spec, k, ct, { iv, aad, tag }))
    })
  },
})
