import {
  CryptographicUsageMask,
  MACVerifyRequest,
  MACVerifyResponse,
  Operation,
  ValidityIndicator,
  Tag,
} from '@ward/kmip'
import { withMaterial } from '../model/object.js'
import { macVerify as verifyMac } from '../crypto/mac.js'
import { defineOperation } from './types.js'
import { macHashFor, params } from './crypto-params.js'
import { PROCESS, checkDataSize, requiredInput, usable } from './key-usage.js'

/** KMIP 1.4 §4.34 / 2.1 §6.1.29 MAC Verify: checked over the bytes received, in constant time. */
export const macVerify = defineOperation({
  code: Operation.MACVerify,
  privilege: 'mac-verify',
  since: [1, 2],
  request: MACVerifyRequest,
  response: MACVerifyResponse,
  async handle(ctx, request) {
    const o = await usable(ctx, {
      id: request.uniqueIdentifier,
      operation: 'mac-verify',
      usageMask: CryptographicUsageMask.MACVerify,
      states: PROCESS,
      purpose: 'process',
    })
    const hash = macHashFor(o, params(o, request.cryptographicParameters))
    const d = checkDataSize(request.data)
    const given = requiredInput(request.macData, Tag.MACData)
    const ok = withMaterial(ctx, o, (k) => verifyMac(hash, k, d, given))
    return {
      objectId: o.id,
      payload: {
        uniqueIdentifier: o.id,
        validityIndicator: ok ? ValidityIndicator.Valid : ValidityIndicator.Invalid,
      },
    }
  },
})
