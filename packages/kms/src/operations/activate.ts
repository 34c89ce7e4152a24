import { loadObject, saveObjects, setAttr, targetId } from '../model/object.js'
import { Operation, State, date, opt, Tag } from '@ward/kmip'
import { idPayload, stateError } from './common.js'
import { defineOperation } from './types.js'

/** KMIP 1.4 §4.19 Activate. */
export const activate = defineOperation({
  code: Operation.Activate,
  privilege: 'activate',
  mutates: true,
  async run(ctx, payload) {
    const id = targetId(ctx, opt(payload, Tag.UniqueIdentifier, 'TextString'))
    const o = await loadObject(ctx, id, 'activate')
    if (o.state !== State.PreActive)
      throw stateError(`object ${id} is not Pre-Active (state ${o.state})`)
    o.state = State.Active
    setAttr(o, 'Activation Date', date(Tag.ActivationDate, ctx.now()))
    setAttr(o, 'Last Change Date', date(Tag.LastChangeDate, ctx.now()))
    await saveObjects(ctx, [o])
    return { objectId: id, payload: idPayload(id) }
  },
})
