import { randomBytes } from 'node:crypto'
import { invalidField } from '../errors.js'
import { Operation, RNGRetrieveRequest, RNGRetrieveResponse } from '@ward/kmip'
import { defineOperation } from './types.js'

/** KMIP 1.4 §4.35 RNG Retrieve. */
export const rngRetrieve = defineOperation({
  code: Operation.RNGRetrieve,
  privilege: 'rng-retrieve',
  since: [1, 3],
  request: RNGRetrieveRequest,
  response: RNGRetrieveResponse,
  async handle(_ctx, request) {
    const n = request.dataLength
    if (n < 1 || n > 65536) throw invalidField('Data Length must be 1-65536 bytes')
    return { payload: { data: randomBytes(n) } }
  },
})
