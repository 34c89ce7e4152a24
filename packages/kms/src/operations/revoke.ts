import { KmsError } from '../errors.js'
import { loadObject, saveObjects, setAttr, targetId } from '../model/object.js'
import {
  Operation,
  RevocationReasonCode,
  State,
  date,
  en,
  find,
  opt,
  req,
  s,
  text,
  Tag,
} from '@ward/kmip'
import { idPayload, stateError } from './common.js'
import { defineOperation } from './types.js'

/** KMIP 1.4 §4.20 Revoke. */
export const revoke = defineOperation({
  code: Operation.Revoke,
  privilege: 'revoke',
  mutates: true,
  async run(ctx, payload) {
    const id = targetId(ctx, opt(payload, Tag.UniqueIdentifier, 'TextString'))
    const o = await loadObject(ctx, id, 'revoke')
    const reason = find(payload, Tag.RevocationReason)
    if (reason === undefined)
      throw new KmsError('ERR_KMS_MISSING_DATA', 'Revocation Reason is required')
    const code = req(reason, Tag.RevocationReasonCode, 'Enumeration')
    const compromise =
      code === RevocationReasonCode.KeyCompromise || code === RevocationReasonCode.CACompromise
    const now = ctx.now()
    if (compromise) {
      if (o.state === State.DestroyedCompromised || o.state === State.Compromised) {
        /* already compromised: idempotent */
      } else {
        o.state = o.state === State.Destroyed ? State.DestroyedCompromised : State.Compromised
      }
      const occ = opt(payload, Tag.CompromiseOccurrenceDate, 'DateTime')
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
      s(Tag.AttributeValue, [
        en(Tag.RevocationReasonCode, code),
        ...(opt(reason, Tag.RevocationMessage, 'TextString') !== undefined
          ? [text(Tag.RevocationMessage, opt(reason, Tag.RevocationMessage, 'TextString')!)]
          : []),
      ]),
    )
    setAttr(o, 'Last Change Date', date(Tag.LastChangeDate, now))
    await saveObjects(ctx, [o])
    return { objectId: id, payload: idPayload(id) }
  },
})
