/**
 * SP 800-57 lifecycle (KMIP 1.4 §3.22 State): Activate (§4.19), Revoke (§4.20), Destroy
 * (§4.21). Destroy keeps a tombstone: state Destroyed / Destroyed Compromised, material erased.
 */
import { KmsError } from '../errors.js'
import { loadObject, saveObjects, setAttr, targetId } from '../model/object.js'
import { Operation, RevocationReasonCode, State } from '../wire/enums.js'
import { date, enumv, find, opt, req, struct, text } from '../wire/items.js'
import { Tag } from '../wire/tags.js'
import { idPayload, stateError } from './common.js'
import { defineOperation } from './types.js'

export const activate = defineOperation({
  code: Operation.Activate,
  privilege: 'activate',
  async run(ctx, payload) {
    const id = targetId(ctx, opt(payload, Tag.UniqueIdentifier, 'TextString'))
    const o = await loadObject(ctx, id, 'activate')
    if (o.state !== State.PreActive)
      throw stateError(ctx, `object ${id} is not Pre-Active (state ${o.state})`)
    o.state = State.Active
    setAttr(o, 'Activation Date', date(Tag.ActivationDate, ctx.now()))
    setAttr(o, 'Last Change Date', date(Tag.LastChangeDate, ctx.now()))
    await saveObjects(ctx, [o])
    return { objectId: id, payload: idPayload(id) }
  },
})

export const revoke = defineOperation({
  code: Operation.Revoke,
  privilege: 'revoke',
  async run(ctx, payload) {
    const id = targetId(ctx, opt(payload, Tag.UniqueIdentifier, 'TextString'))
    const o = await loadObject(ctx, id, 'revoke')
    const reason = find(payload, Tag.RevocationReason)
    if (reason === undefined)
      throw new KmsError('ERR_KMS_MISSING_DATA', 'Revocation Reason is required', 'MissingData')
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
          ctx,
          `object ${id} is Pre-Active; only a compromise revocation applies (or Destroy it)`,
        )
      else if (o.state !== State.Deactivated)
        throw stateError(ctx, `object ${id} cannot be revoked in state ${o.state}`)
      setAttr(o, 'Deactivation Date', date(Tag.DeactivationDate, now))
    }
    setAttr(
      o,
      'Revocation Reason',
      struct(Tag.AttributeValue, [
        enumv(Tag.RevocationReasonCode, code),
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

export const destroy = defineOperation({
  code: Operation.Destroy,
  privilege: 'destroy',
  async run(ctx, payload) {
    const id = targetId(ctx, opt(payload, Tag.UniqueIdentifier, 'TextString'))
    const o = await loadObject(ctx, id, 'destroy')
    if (o.state === State.Active)
      throw stateError(
        ctx,
        `object ${id} is Active; Revoke it first (SP 800-57: Active → Destroyed is not allowed)`,
      )
    if (o.state === State.Destroyed || o.state === State.DestroyedCompromised)
      throw stateError(ctx, `object ${id} is already destroyed`)
    o.state = o.state === State.Compromised ? State.DestroyedCompromised : State.Destroyed
    // SECURITY: the sealed material is dropped from the row; only the tombstone remains.
    o.sealed = null
    setAttr(o, 'Destroy Date', date(Tag.DestroyDate, ctx.now()))
    setAttr(o, 'Last Change Date', date(Tag.LastChangeDate, ctx.now()))
    await saveObjects(ctx, [o])
    return { objectId: id, payload: idPayload(id) }
  },
})
