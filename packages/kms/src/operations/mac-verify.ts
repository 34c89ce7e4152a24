import { timingSafeEqual } from 'node:crypto'
import {
  Operation,
  CryptographicUsageMask,
  ValidityIndicator,
  en,
  req,
  s,
  text,
  Tag,
} from '@ward/kmip'
import { defineOperation } from './types.js'
import { usable, data, PROCESS, hmac } from './crypto-common.js'

/** KMIP 1.4 §4.34 MAC Verify. */
export const macVerify = defineOperation({
  code: Operation.MACVerify,
  privilege: 'mac-verify',
  since: [1, 2],
  async run(ctx, payload) {
    const o = await usable(ctx, payload, 'mac-verify', CryptographicUsageMask.MACVerify, PROCESS)
    const m = hmac(ctx, o, data(payload))
    const given = Buffer.from(req(payload, Tag.MACData, 'ByteString'))
    const ok = given.length === m.length && timingSafeEqual(given, m)
    return {
      objectId: o.id,
      payload: s(Tag.ResponsePayload, [
        text(Tag.UniqueIdentifier, o.id),
        en(Tag.ValidityIndicator, ok ? ValidityIndicator.Valid : ValidityIndicator.Invalid),
      ]),
    }
  },
})
