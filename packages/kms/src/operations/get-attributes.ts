import { requestedNames } from '../model/attributes.js'
import { loadObject, targetId } from '../model/object.js'
import { Operation, opt, Tag } from '@ward/kmip'
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
