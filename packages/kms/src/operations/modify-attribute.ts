import { KmsError } from '../errors.js'
import { toAttr, toKmipAttribute } from '../model/attributes.js'
import { loadObject, saveObjects, targetId } from '../model/object.js'
import {
  ModifyAttributeRequest,
  ModifyAttributeResponse,
  Operation,
  isV2,
  sameItem,
} from '@ward/kmip'
import { defineOperation } from './types.js'
import { checkWritable, touch, indexOfValue } from './attribute-rules.js'
import { tightenOnly } from './tighten.js'

/** KMIP 1.4 §4.15 Modify Attribute. */
export const modifyAttribute = defineOperation({
  code: Operation.ModifyAttribute,
  privilege: 'modify-attribute',
  mutates: true,
  request: ModifyAttributeRequest,
  response: ModifyAttributeResponse,
  async handle(ctx, request) {
    const id = targetId(ctx, request.uniqueIdentifier)
    const o = await loadObject(ctx, id, 'modify-attribute')
    // 1.x: the Attribute (its index names the instance); 2.x: New and Current Attribute
    const given = (request.newAttribute?.attribute ?? request.attribute)!
    const a = toAttr(given)
    checkWritable(a.name, o)
    let at: number
    if (isV2(ctx)) {
      const current = request.currentAttribute
      const cur = current === undefined ? undefined : toAttr(current.attribute)
      at =
        cur === undefined
          ? indexOfValue(o, a.name, 0)
          : o.attrs.findIndex((x) => x.name === cur.name && sameItem(x.value, cur.value))
    } else at = indexOfValue(o, a.name, given.index ?? 0)
    if (at < 0)
      throw new KmsError(
        'ERR_KMS_ATTRIBUTE_NOT_FOUND',
        `object ${id} has no such ${a.name} instance`,
      )
    const value =
      tightenOnly(o, { name: a.name, current: o.attrs[at]!.value, next: a.value }) ?? a.value
    o.attrs[at] = value === a.value ? a : { name: a.name, value }
    touch(ctx, o)
    await saveObjects(ctx, [o])
    const index = o.attrs.slice(0, at).filter((x) => x.name === a.name).length
    return {
      objectId: id,
      payload: { uniqueIdentifier: id, attribute: toKmipAttribute(ctx, a, index) },
    }
  },
})
