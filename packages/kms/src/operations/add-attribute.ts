import { KmsError } from '../errors.js'
import { isMultiValued, toAttr, toKmipAttribute } from '../model/attributes.js'
import { attrValues, loadObject, saveObjects, targetId } from '../model/object.js'
import {
  AddAttributeRequest,
  AddAttributeResponse,
  Operation,
  optionalValue,
  Tag,
} from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'
import { defineOperation } from './types.js'
import { checkWritable, touch } from './attribute-rules.js'
import { currentValue, tightenOnly } from './tighten.js'

/** KMIP 1.4 §4.14 Add Attribute. */
export const addAttribute = defineOperation({
  code: Operation.AddAttribute,
  privilege: 'add-attribute',
  mutates: true,
  request: AddAttributeRequest,
  response: AddAttributeResponse,
  async handle(ctx, request) {
    const id = targetId(ctx, request.uniqueIdentifier)
    const o = await loadObject(ctx, id, 'add-attribute')
    // 1.x: the Attribute; 2.x: New Attribute's (the version's member is required)
    const a = toAttr((request.newAttribute?.attribute ?? request.attribute)!)
    checkWritable(a.name, o)
    const existing = attrValues(o, a.name).length
    if (existing > 0 && !isMultiValued(a.name))
      throw new KmsError(
        'ERR_KMS_SINGLE_VALUED',
        `attribute ${a.name} already has a value; use ModifyAttribute`,
      )
    // KMIP 2.1 §4.34: a Name identifies the object; the same Name twice on one object is refused
    // (OASIS BL-M-8) rather than stored as a duplicate instance.
    if (a.name === 'Name') {
      const nameValue = (v: TtlvItem): string | undefined =>
        v.type === 'Structure' ? optionalValue(v, Tag.NameValue, 'TextString') : undefined
      const wanted = nameValue(a.value)
      if (wanted !== undefined && attrValues(o, 'Name').some((v) => nameValue(v) === wanted))
        throw new KmsError(
          'ERR_KMS_DUPLICATE_NAME',
          `object ${id} already has the Name "${wanted}"`,
        )
    }
    const value =
      tightenOnly(o, { name: a.name, current: currentValue(o, a.name), next: a.value }) ?? a.value
    o.attrs.push(value === a.value ? a : { name: a.name, value })
    touch(ctx, o)
    await saveObjects(ctx, [o])
    return {
      objectId: id,
      payload: { uniqueIdentifier: id, attribute: toKmipAttribute(ctx, a, existing) },
    }
  },
})
