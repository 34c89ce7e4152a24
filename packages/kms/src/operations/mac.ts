import { Operation, CryptographicUsageMask, bytes, s, text, Tag } from '@ward/kmip'
import { defineOperation } from './types.js'
import { usable, data, ACTIVE, hmac } from './crypto-common.js'

/** KMIP 1.4 §4.33 MAC. */
export const mac = defineOperation({
  code: Operation.MAC,
  privilege: 'mac',
  since: [1, 2],
  async run(ctx, payload) {
    const o = await usable(ctx, payload, 'mac', CryptographicUsageMask.MACGenerate, ACTIVE)
    const m = hmac(ctx, o, data(payload))
    return {
      objectId: o.id,
      payload: s(Tag.ResponsePayload, [text(Tag.UniqueIdentifier, o.id), bytes(Tag.MACData, m)]),
    }
  },
})
