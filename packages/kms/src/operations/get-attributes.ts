import { allAttributes, isAttributeName, toKmipAttribute } from '../model/attributes.js'
import { loadObject, targetId } from '../model/object.js'
import { GetAttributesRequest, GetAttributesResponse, Operation } from '@ward/kmip'
import { defineOperation } from './types.js'

/** KMIP 1.4 §4.12 Get Attributes: the named attributes (all when none is named). */
export const getAttributes = defineOperation({
  code: Operation.GetAttributes,
  privilege: 'get-attributes',
  request: GetAttributesRequest,
  response: GetAttributesResponse,
  async handle(ctx, request) {
    const id = targetId(ctx, request.uniqueIdentifier)
    const o = await loadObject(ctx, id, 'get-attributes')
    const names = request.attributeNames.filter(isAttributeName)
    const all = allAttributes(ctx, o)
    const wanted = new Set(names) // a Set: names × attributes scans were quadratic (issue 10)
    const chosen = names.length === 0 ? all : all.filter(({ attr }) => wanted.has(attr.name))
    return {
      objectId: id,
      payload: {
        uniqueIdentifier: o.id,
        attributes: chosen.map(({ attr, index }) => toKmipAttribute(ctx, attr, index)),
      },
    }
  },
})
