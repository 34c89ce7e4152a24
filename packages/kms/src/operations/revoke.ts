import { loadObject, saveObjects, setAttr, targetId } from '../model/object.js'
import {
  Operation,
  RevocationReason,
  RevocationReasonCode,
  RevokeRequest,
  RevokeResponse,
  State,
  date,
  encodeStructure,
  Tag,
} from '@ward/kmip'
import { stateError } from './refusals.js'
import { defineOperation } from './types.js'

/** KMIP 1.4 §4.20 Revoke. */
export const revoke = defineOperation({
  code: Operation.Revoke,
  privilege: 'revoke',
  mutates: true,
  request: RevokeRequest,
  response: RevokeResponse,
  async handle(ctx, request) {
    const id = targetId(ctx, request.uniqueIdentifier)
    const o = await loadObject(ctx, id, 'revoke')
    const reason = request.revocationReason
    const code = reason.code
    const compromise =
      code === RevocationReasonCode.KeyCompromise || code === RevocationReasonCode.CACompromise
    const now = ctx.now()
    if (compromise) {
      if (o.state === State.DestroyedCompromised || o.state === State.Compromised) {
        /* already compromised: idempotent */
      } else {
        o.state = o.state === State.Destroyed ? State.DestroyedCompromised : State.Compromised
      }
      const occ = request.compromiseOccurrenceDate
      setAttr(o, 'Compromise Occurrence Date', date(Tag.CompromiseOccurrenceDate, occ ?? now))
      setAttr(o, 'Compromise Date', date(Tag.CompromiseDate, now))
    } else {
      if (o.state === State.Active) o.state = State.Deactivated
      else if (o.state === State.PreActive)
        throw stateError(
          `object ${id} is Pre-Active; only a compromise revocation applies (or Destroy it)`,
        )
      else if (o.state !== State.Deactivated)
        throw stateError(`object ${id} cannot be revoked in state ${o.state}`)
      setAttr(o, 'Deactivation Date', date(Tag.DeactivationDate, now))
    }
    setAttr(
      o,
      'Revocation Reason',
      encodeStructure(RevocationReason, { code, message: reason.message }, ctx),
    )
    setAttr(o, 'Last Change Date', date(Tag.LastChangeDate, now))
    await saveObjects(ctx, [o])
    return { objectId: id, payload: { uniqueIdentifier: id } }
  },
})
