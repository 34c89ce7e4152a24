import { CryptographicUsageMask, MACRequest, MACResponse, Operation } from '@ward/kmip'
import { withMaterial } from '../model/object.js'
import { macCompute } from '../crypto/mac.js'
import { defineOperation } from './types.js'
import { macHashFor, params } from './crypto-params.js'
import { ACTIVE, checkDataSize, consumeUsage, usable } from './key-usage.js'

/** KMIP 1.4 §4.33 / 2.1 §6.1.28 MAC (HMAC; the algorithm from the key or its parameters). */
export const mac = defineOperation({
  code: Operation.MAC,
  privilege: 'mac',
  since: [1, 2],
  request: MACRequest,
  response: MACResponse,
  async handle(ctx, request) {
    const o = await usable(ctx, {
      id: request.uniqueIdentifier,
      operation: 'mac',
      usageMask: CryptographicUsageMask.MACGenerate,
      states: ACTIVE,
      purpose: 'protect',
    })
    const hash = macHashFor(o, params(o, request.cryptographicParameters))
    const d = checkDataSize(request.data)
    await consumeUsage(ctx, o, d.length)
    const m = withMaterial(ctx, o, (k) => macCompute(hash, k, d))
    return { objectId: o.id, payload: { uniqueIdentifier: o.id, macData: m } }
  },
})
