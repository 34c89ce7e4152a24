import { KmsError } from '../errors.js'
import { attrScalar, attrValues, loadObject, targetId } from '../model/object.js'
import { CheckRequest, CheckResponse, Operation, State, optionalValue, Tag } from '@ward/kmip'
import { defineOperation } from './types.js'

/**
 * KMIP 1.4 §4.10 / 2.1 §6.1.4 Check: would the client's intended use of the object be allowed?
 * Cryptographic Usage Mask (every requested bit must be in the object's mask), Usage Limits
 * Count (no more than is left) and Lease Time (no longer than the object's). Read-only: nothing
 * is consumed. Success echoes the Unique Identifier; a failed check answers Operation Failed.
 */
export const check = defineOperation({
  code: Operation.Check,
  privilege: 'check',
  request: CheckRequest,
  response: CheckResponse,
  async handle(ctx, request) {
    const id = targetId(ctx, request.uniqueIdentifier)
    const o = await loadObject(ctx, id, 'check')
    if (o.state === State.Destroyed || o.state === State.DestroyedCompromised)
      throw new KmsError(
        'ERR_KMS_DESTROYED',
        `object ${id} was destroyed; only its attributes remain`,
      )
    const want = request.cryptographicUsageMask
    const mask = attrScalar(o, 'Cryptographic Usage Mask')
    if (want !== undefined && (typeof mask !== 'number' || (want & ~mask) !== 0))
      throw new KmsError(
        'ERR_KMS_USAGE_MASK',
        `Check failed: object ${id}'s Cryptographic Usage Mask does not allow 0x${want.toString(16)}`,
      )
    const count = request.usageLimitsCount
    const ul = attrValues(o, 'Usage Limits')[0]
    const left =
      ul === undefined
        ? undefined
        : (optionalValue(ul, Tag.UsageLimitsCount, 'LongInteger') ??
          optionalValue(ul, Tag.UsageLimitsTotal, 'LongInteger'))
    if (count !== undefined && left !== undefined && count > left)
      throw new KmsError(
        'ERR_KMS_USAGE_LIMIT',
        `Check failed: object ${id} has ${left} of its Usage Limits left`,
      )
    const lease = request.leaseTime
    const ours = attrScalar(o, 'Lease Time')
    if (lease !== undefined && typeof ours === 'number' && lease > ours)
      throw new KmsError(
        'ERR_KMS_LEASE_TIME',
        `Check failed: object ${id}'s Lease Time is ${ours} s`,
      )
    return { objectId: id, payload: { uniqueIdentifier: id } }
  },
})
