import { KmsError } from '../errors.js'
import { is2x, isMultiValued, renderAttribute } from '../model/attributes.js'
import { attrValues, loadObject, saveObjects, targetId } from '../model/object.js'
import { Operation, opt, s, text, Tag } from '@ward/kmip'
import { defineOperation } from './types.js'
import { attributeArg, checkWritable, touch, required } from './attribute-common.js'

/** KMIP 1.4 §4.14 Add Attribute. */
export const addAttribute = defineOperation({
  code: Operation.AddAttribute,
  privilege: 'add-attribute',
  async run(ctx, payload) {
    const id = targetId(ctx, opt(payload, Tag.UniqueIdentifier, 'TextString'))
    const o = await loadObject(ctx, id, 'add-attribute')
    const a = required(attributeArg(ctx, payload, Tag.NewAttribute))
    checkWritable(ctx, a.name, o)
    const existing = attrValues(o, a.name).length
    if (existing > 0 && !isMultiValued(a.name))
      throw new KmsError(
        'ERR_KMS_SINGLE_VALUED',
        `attribute ${a.name} already has a value; use ModifyAttribute`,
        is2x(ctx) ? 'AttributeSingleValued' : 'IllegalOperation',
      )
    o.attrs.push(a)
    touch(ctx, o)
    await saveObjects(ctx, [o])
    return {
      objectId: id,
      payload: s(Tag.ResponsePayload, [
        text(Tag.UniqueIdentifier, id),
        is2x(ctx) ? undefined : renderAttribute(ctx, a, existing),
      ]),
    }
  },
})
