import { loadObject, saveObjects, setAttr, targetId } from '../model/object.js'
import { DestroyRequest, DestroyResponse, Operation, State, date, Tag } from '@ward/kmip'
import { stateError } from './refusals.js'
import { defineOperation } from './types.js'

/** KMIP 1.4 §4.21 Destroy (keeps a tombstone). */
export const destroy = defineOperation({
  code: Operation.Destroy,
  privilege: 'destroy',
  mutates: true,
  request: DestroyRequest,
  response: DestroyResponse,
  async handle(ctx, request) {
    const id = targetId(ctx, request.uniqueIdentifier)
    const o = await loadObject(ctx, id, 'destroy')
    if (o.state === State.Active)
      throw stateError(
        `object ${id} is Active; Revoke it first (SP 800-57: Active → Destroyed is not allowed)`,
      )
    if (o.state === State.Destroyed || o.state === State.DestroyedCompromised)
      throw stateError(`object ${id} is already destroyed`)
    o.state = o.state === State.Compromised ? State.DestroyedCompromised : State.Destroyed
    // SECURITY: the sealed material is dropped from the row; only the tombstone remains, and the
    // store overwrites the old copies in its files before the Destroy is answered (ObjectRow.scrub).
    o.sealed = null
    o.dropsMaterial = true
    setAttr(o, 'Destroy Date', date(Tag.DestroyDate, ctx.now()))
    setAttr(o, 'Last Change Date', date(Tag.LastChangeDate, ctx.now()))
    await saveObjects(ctx, [o])
    return { objectId: id, payload: { uniqueIdentifier: id } }
  },
})
