import { allAttributes } from '../model/attributes.js'
import { loadObject, targetId } from '../model/object.js'
import { GetAttributeListRequest, GetAttributeListResponse, Operation } from '@ward/kmip'
import { defineOperation } from './types.js'

/** KMIP 1.4 §4.13 Get Attribute List. */
export const getAttributeList = defineOperation({
  code: Operation.GetAttributeList,
  privilege: 'get-attribute-list',
  request: GetAttributeListRequest,
  response: GetAttributeListResponse,
  async handle(ctx, request) {
    const id = targetId(ctx, request.uniqueIdentifier)
    const o = await loadObject(ctx, id, 'get-attribute-list')
    const names = [...new Set(allAttributes(ctx, o).map(({ attr }) => attr.name))]
    return { objectId: id, payload: { uniqueIdentifier: id, attributeNames: names } }
  },
})
