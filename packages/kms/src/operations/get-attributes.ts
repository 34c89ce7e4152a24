import { requestedNames } from '../model/attributes.js'
import { loadObject, targetId } from '../model/object.js'
import { Operation } from '../wire/enums.js'
import { opt } from '../wire/items.js'
import { Tag } from '../wire/tags.js'
import { defineOperation } from './types.js'
import { attributesPayload } from './attribute-common.js'

/** KMIP 1.4 §4.12 Get Attributes. */
export const getAttributes = defineOperation({
  code: Operation.GetAttributes,
  privilege: 'get-attributes',
  async run(ctx, payload) {
    const id = targetId(ctx, opt(payload, Tag.UniqueIdentifier, 'TextString'))
    const o = await loadObject(ctx, id, 'get-attributes')
    return { objectId: id, payload: attributesPayload(ctx, o, requestedNames(payload)) }
  },
})
