import { allAttributes, renderName } from '../model/attributes.js'
import { loadObject, targetId } from '../model/object.js'
import { Operation, opt, s, text, Tag } from '@ward/kmip'
import { defineOperation } from './types.js'

/** KMIP 1.4 §4.13 Get Attribute List. */
export const getAttributeList = defineOperation({
  code: Operation.GetAttributeList,
  privilege: 'get-attribute-list',
  async run(ctx, payload) {
    const id = targetId(ctx, opt(payload, Tag.UniqueIdentifier, 'TextString'))
    const o = await loadObject(ctx, id, 'get-attribute-list')
    const names = [...new Set(allAttributes(ctx, o).map(({ attr }) => attr.name))]
    return {
      objectId: id,
      payload: s(Tag.ResponsePayload, [
        text(Tag.UniqueIdentifier, id),
        ...names.map((n) => renderName(ctx, n)),
      ]),
    }
  },
})
