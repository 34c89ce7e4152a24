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
import { publicKeyObject } from '../model/material.js'
import { notSupported } from '../errors.js'
import { encryptOnce, freshIv } from '../crypto/symmetric.js'
import { openStream } from '../crypto/streams.js'
import { rsaEncrypt } from '../crypto/rsa.js'
import { defineOperation } from './types.js'
import {
  ACTIVE,
  consumeUsage,
  cipherSpec,
  data,
  params,
  rsaParams,
  usable,
} from './crypto-common.js'

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
  async run(ctx, payload) {
    const o = await usable(
      ctx,
      payload,
      'encrypt',
      CryptographicUsageMask.Encrypt,
      ACTIVE,
      'protect',
    )
    const p = params(o, payload)
    const pt = data(payload)
    const alg = Number(attrScalar(o, 'Cryptographic Algorithm'))
    await consumeUsage(ctx, o, pt.length)
    const out = (
      d: Uint8Array,
      extra: {
        iv?: Uint8Array | undefined
        corr?: Uint8Array | undefined
        tag?: Uint8Array | undefined
      } = {},
    ) => ({
      objectId: o.id,
      payload: s(Tag.ResponsePayload, [
        text(Tag.UniqueIdentifier, o.id),
        bytes(Tag.Data, d),
        extra.iv !== undefined ? bytes(Tag.IVCounterNonce, extra.iv) : undefined,
        extra.corr !== undefined ? bytes(Tag.CorrelationValue, extra.corr) : undefined,
        extra.tag !== undefined ? bytes(Tag.AuthenticatedEncryptionTag, extra.tag) : undefined,
      ] as (TtlvItem | undefined)[]),
    })
    const corr = opt(payload, Tag.CorrelationValue, 'ByteString')
    const init = opt(payload, Tag.InitIndicator, 'Boolean') === true
    const final = opt(payload, Tag.FinalIndicator, 'Boolean') === true
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
    const aad = opt(payload, Tag.AuthenticatedEncryptionAdditionalData, 'ByteString')
    const iv = opt(payload, Tag.IVCounterNonce, 'ByteString')
    return withMaterial(ctx, o, (k) => {
      if (init && !final) {
        const generated =
          iv === undefined ? freshIv(spec, k.length, ctx.runtime.random.bytes) : undefined
        const st = openStream('enc', spec, k, iv ?? generated, aad, ctx.identity, o.id)
        const d = st.update(pt)
        return out(d, { iv: generated, corr: ctx.runtime.streams.add(st) })
      }
      const r = encryptOnce(spec, k, pt, { iv, aad, random: ctx.runtime.random.bytes })
      return out(r.data, { iv: r.generatedIv, tag: r.tag })
    })
  },
})
