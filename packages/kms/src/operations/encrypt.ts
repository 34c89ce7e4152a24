import {
  CryptographicAlgorithm,
  CryptographicUsageMask,
  EncryptRequest,
  EncryptResponse,
  ObjectType,
  Operation,
} from '@ward/kmip'
import { attrScalar, withMaterial } from '../model/object.js'
import { publicKeyObject } from '../model/material.js'
import { notSupported } from '../errors.js'
import { encryptOnce, freshIv } from '../crypto/symmetric.js'
import { openStream } from '../crypto/streams.js'
import { rsaEncrypt } from '../crypto/rsa.js'
import { defineOperation } from './types.js'
import { cipherSpec, params, rsaParams } from './crypto-params.js'
import { ACTIVE, checkDataSize, consumeUsage, usable } from './key-usage.js'

/**
 * KMIP 1.4 §4.29 / 2.1 §6.1.18 Encrypt. One-shot, or streamed: Init Indicator opens a context and
 * returns a Correlation Value, later requests carry it, Final Indicator closes it (and returns
 * the AEAD tag). Response order per §4.29: Unique Identifier, Data, IV/Counter/Nonce, Correlation
 * Value, Authenticated Encryption Tag.
 */
export const encrypt = defineOperation({
  code: Operation.Encrypt,
  privilege: 'encrypt',
  since: [1, 2],
  request: EncryptRequest,
  response: EncryptResponse,
  async handle(ctx, request) {
    const o = await usable(ctx, {
      id: request.uniqueIdentifier,
      operation: 'encrypt',
      usageMask: CryptographicUsageMask.Encrypt,
      states: ACTIVE,
      purpose: 'protect',
    })
    const p = params(o, request.cryptographicParameters)
    const pt = checkDataSize(request.data)
    const alg = Number(attrScalar(o, 'Cryptographic Algorithm'))
    await consumeUsage(ctx, o, pt.length)
    const out = (
      data: Uint8Array,
      extra: {
        iv?: Uint8Array | undefined
        corr?: Uint8Array | undefined
        tag?: Uint8Array | undefined
      } = {},
    ) => ({
      objectId: o.id,
      payload: {
        uniqueIdentifier: o.id,
        data,
        ivCounterNonce: extra.iv,
        correlationValue: extra.corr,
        authenticatedEncryptionTag: extra.tag,
      },
    })
    const corr = request.correlationValue
    const init = request.initIndicator === true
    const final = request.finalIndicator === true
    if (o.objectType === ObjectType.PublicKey && alg === CryptographicAlgorithm.RSA) {
      if (init || corr !== undefined) throw notSupported('RSA encryption cannot be streamed')
      return out(withMaterial(ctx, o, (m) => rsaEncrypt(publicKeyObject(m), rsaParams(p), pt)))
    }
    const spec = cipherSpec(alg, p)
    if (corr !== undefined) {
      const st = ctx.runtime.streams.get(corr, ctx.identity, o.id, 'enc')
      try {
        if (!final) return out(st.update(pt), { corr })
        const r = st.final(pt)
        return out(r.data, { tag: r.tag })
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
        const generated =
          iv === undefined ? freshIv(spec, k.length, ctx.runtime.random.bytes) : undefined
        const st = openStream({
          direction: 'enc',
          spec,
          key: k,
          iv: iv ?? generated,
          aad,
          owner: ctx.identity,
          objectId: o.id,
        })
        const d = st.update(pt)
        return out(d, { iv: generated, corr: ctx.runtime.streams.add(st) })
      }
      const r = encryptOnce(spec, k, pt, { iv, aad, random: ctx.runtime.random.bytes })
      return out(r.data, { iv: r.generatedIv, tag: r.tag })
    })
  },
})
