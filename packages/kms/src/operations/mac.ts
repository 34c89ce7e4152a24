import { bytes, CryptographicUsageMask, Operation, s, Tag, text } from '@ward/kmip'
import { withMaterial } from '../model/object.js'
import { macCompute } from '../crypto/mac.js'
import { defineOperation } from './types.js'
import { ACTIVE, data, macHashFor, params, usable, consumeUsage } from './crypto-common.js'

/** KMIP 1.4 §4.33 / 2.1 §6.1.28 MAC (HMAC; the algorithm from the key or its parameters). */
export const mac = defineOperation({
  code: Operation.MAC,
  privilege: 'mac',
  since: [1, 2],
  async run(ctx, payload) {
    const o = await usable(
      ctx,
      payload,
      'mac',
      CryptographicUsageMask.MACGenerate,
      ACTIVE,
      'protect',
    )
    const hash = macHashFor(o, params(o, payload))
    const d = data(payload)
    await consumeUsage(ctx, o, d.length)
    const m = withMaterial(ctx, o, (k) => macCompute(hash, k, d))
    return {
      objectId: o.id,
      payload: s(Tag.ResponsePayload, [text(Tag.UniqueIdentifier, o.id), bytes(Tag.MACData, m)]),
    }
  },
})
