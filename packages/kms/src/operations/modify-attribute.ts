import { KmsError } from '../errors.js'
import { is2x, renderAttribute } from '../model/attributes.js'
import { loadObject, saveObjects, targetId } from '../model/object.js'
import { Operation, find, opt, sameItem, s, text, Tag } from '@ward/kmip'
import { defineOperation } from './types.js'
import { attributeArg, checkWritable, touch, required, indexOfValue } from './attribute-common.js'
import { tightenOnly } from './tighten.js'

/** KMIP 1.4 §4.15 Modify Attribute. */
export const modifyAttribute = defineOperation({
  code: Operation.ModifyAttribute,
  privilege: 'modify-attribute',
  mutates: true,
  async run(ctx, payload) {
    const id = targetId(ctx, opt(payload, Tag.UniqueIdentifier, 'TextString'))
    const o = await loadObject(ctx, id, 'modify-attribute')
    const a = required(attributeArg(ctx, payload, Tag.NewAttribute))
    checkWritable(a.name, o)
    let at: number
    if (is2x(ctx)) {
      const cur = attributeArg(ctx, payload, Tag.CurrentAttribute)
      at =
        cur === undefined
          ? indexOfValue(o, a.name, 0)
          : o.attrs.findIndex((x) => x.name === cur.name && sameItem(x.value, cur.value))
    } else {
      const attr = find(payload, Tag.Attribute)
      at = indexOfValue(o, a.name, opt(attr, Tag.AttributeIndex, 'Integer') ?? 0)
    }
    if (at < 0)
      throw new KmsError(
        'ERR_KMS_ATTRIBUTE_NOT_FOUND',
        `object ${id} has no such ${a.name} instance`,
      )
    const value = tightenOnly(o, a.name, o.attrs[at]!.value, a.value) ?? a.value
    o.attrs[at] = value === a.value ? a : { name: a.name, value }
    touch(ctx, o)
    await saveObjects(ctx, [o])
    const index = o.attrs.slice(0, at).filter((x) => x.name === a.name).length
    return {
      objectId: id,
      payload: s(Tag.ResponsePayload, [
        text(Tag.UniqueIdentifier, id),
        is2x(ctx) ? undefined : renderAttribute(ctx, a, index),
      ]),
    }
  },
})
