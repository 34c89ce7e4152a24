import { KmsError } from '../errors.js'
import { isAttributeName, toAttr, toKmipAttribute } from '../model/attributes.js'
import { loadObject, saveObjects, targetId } from '../model/object.js'
import {
  DeleteAttributeRequest,
  DeleteAttributeResponse,
  Operation,
  isV2,
  sameItem,
} from '@ward/kmip'
import { defineOperation } from './types.js'
import { checkWritable, touch, indexOfValue } from './attribute-rules.js'
import { tightenOnly } from './tighten.js'

/** KMIP 1.4 §4.16 Delete Attribute. */
export const deleteAttribute = defineOperation({
  code: Operation.DeleteAttribute,
  privilege: 'delete-attribute',
  mutates: true,
  request: DeleteAttributeRequest,
  response: DeleteAttributeResponse,
  async handle(ctx, request) {
    const id = targetId(ctx, request.uniqueIdentifier)
    const o = await loadObject(ctx, id, 'delete-attribute')
    let at: number
    let name: string
    if (isV2(ctx)) {
      const current = request.currentAttribute
      if (current !== undefined) {
        const cur = toAttr(current.attribute)
        name = cur.name
        at = o.attrs.findIndex((x) => x.name === cur.name && sameItem(x.value, cur.value))
      } else {
        const [n] = (request.attributeReferences ?? []).filter(isAttributeName)
        if (n === undefined)
          throw new KmsError(
            'ERR_KMS_MISSING_DATA',
            'Current Attribute or Attribute Reference is required',
          )
        name = n
        at = indexOfValue(o, n, 0)
      }
    } else {
      name = request.attributeName!
      at = indexOfValue(o, name, request.attributeIndex ?? 0)
    }
    checkWritable(name, o)
    if (at < 0)
      throw new KmsError('ERR_KMS_ATTRIBUTE_NOT_FOUND', `object ${id} has no such ${name} instance`)
    tightenOnly(o, { name, current: o.attrs[at]!.value, next: undefined })
    const index = o.attrs.slice(0, at).filter((x) => x.name === name).length
    const [removed] = o.attrs.splice(at, 1)
    touch(ctx, o)
    await saveObjects(ctx, [o])
    return {
      objectId: id,
      payload: {
        uniqueIdentifier: id,
        attribute: removed === undefined ? undefined : toKmipAttribute(ctx, removed, index),
      },
    }
  },
})
