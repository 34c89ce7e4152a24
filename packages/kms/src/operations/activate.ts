import { loadObject, saveObjects, setAttr, targetId } from '../model/object.js'
import { ActivateRequest, ActivateResponse, Operation, State, date, Tag } from '@ward/kmip'
import { stateError } from './refusals.js'
import { defineOperation } from './types.js'

/** KMIP 1.4 §4.19 Activate. */
export const activate = defineOperation({
  code: Operation.Activate,
  privilege: 'activate',
  mutates: true,
  request: ActivateRequest,
  response: ActivateResponse,
  async handle(ctx, request) {
    const id = targetId(ctx, request.uniqueIdentifier)
    const o = await loadObject(ctx, id, 'activate')
    if (o.state !== State.PreActive)
      throw stateError(`object ${id} is not Pre-Active (state ${o.state})`)
    o.state = State.Active
    setAttr(o, 'Activation Date', date(Tag.ActivationDate, ctx.now()))
    setAttr(o, 'Last Change Date', date(Tag.LastChangeDate, ctx.now()))
    await saveObjects(ctx, [o])
    return { objectId: id, payload: { uniqueIdentifier: id } }
  },
})
