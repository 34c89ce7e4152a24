import {
  CryptographicUsageMask,
  Operation,
  ValidityIndicator,
  en,
  req,
  s,
  text,
  Tag,
} from '@ward/kmip'
import { withMaterial } from '../model/object.js'
import { macVerify as verifyMac } from '../crypto/mac.js'
import { defineOperation } from './types.js'
import { PROCESS, data, macHashFor, params, usable } from './crypto-common.js'

/** KMIP 1.4 §4.34 / 2.1 §6.1.29 MAC Verify: checked over the bytes received, in constant time. */
export const macVerify = defineOperation({
  code: Operation.MACVerify,
  privilege: 'mac-verify',
  since: [1, 2],
  async run(ctx, payload) {
    const o = await usable(
      ctx,
      payload,
      'mac-verify',
      CryptographicUsageMask.MACVerify,
      PROCESS,
      'process',
    )
    const hash = macHashFor(o, params(o, payload))
    const d = data(payload)
    const given = req(payload, Tag.MACData, 'ByteString')
    const ok = withMaterial(ctx, o, (k) => verifyMac(hash, k, d, given))
    return {
      objectId: o.id,
      payload: s(Tag.ResponsePayload, [
        text(Tag.UniqueIdentifier, o.id),
        en(Tag.ValidityIndicator, ok ? ValidityIndicator.Valid : ValidityIndicator.Invalid),
      ]),
    }
  },
})
