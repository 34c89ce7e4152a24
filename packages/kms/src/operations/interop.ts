import { invalidField } from '../errors.js'
import { InteropFunction, InteropRequest, InteropResponse, Operation } from '@ward/kmip'
import { defineOperation } from './types.js'

const functions = new Set<number>(Object.values(InteropFunction))

/**
 * KMIP 2.1 §6.1.26 Interop: a test harness announces that the test case named by Interop
 * Identifier Begins, Ends or is Reset. Ward keeps no per-test state, so after checking the request
 * there is nothing to do; the audit stream records the call with the caller's identity.
 */
export const interop = defineOperation({
  code: Operation.Interop,
  privilege: 'interop',
  since: [2, 0],
  request: InteropRequest,
  response: InteropResponse,
  async handle(_ctx, request) {
    const fn = request.interopFunction
    if (!functions.has(fn)) throw invalidField(`Interop Function ${fn} is not Begin, End or Reset`)
    const id = request.interopIdentifier
    if (id.length === 0 || id.length > 256)
      throw invalidField('Interop Identifier must be 1-256 characters')
    return { payload: {} }
  },
})
