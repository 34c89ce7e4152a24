import { Operation, UsageMask } from '../wire/enums.js'
import { bytes, struct, text } from '../wire/items.js'
import { Tag } from '../wire/tags.js'
import { defineOperation } from './types.js'
import { usable, data, ACTIVE, hmac } from './crypto-common.js'

/** KMIP 1.4 §4.33 MAC. */
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
