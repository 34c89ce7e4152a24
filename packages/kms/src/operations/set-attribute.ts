import { toAttr } from '../model/attributes.js'
import { loadObject, saveObjects, targetId } from '../model/object.js'
import { Operation, SetAttributeRequest, SetAttributeResponse } from '@ward/kmip'
import { defineOperation } from './types.js'
import { checkWritable, touch } from './attribute-rules.js'
import { currentValue, tightenOnly } from './tighten.js'

/** KMIP 2.1 §6.1.49 Set Attribute. */
export const setAttribute = defineOperation({
  code: Operation.SetAttribute,
  privilege: 'set-attribute',
  mutates: true,
  since: [2, 0],
  request: SetAttributeRequest,
  response: SetAttributeResponse,
  async handle(ctx, request) {
    const id = targetId(ctx, request.uniqueIdentifier)
    const o = await loadObject(ctx, id, 'set-attribute')
    const a = toAttr(request.newAttribute.attribute)
    checkWritable(a.name, o)
    const value =
      tightenOnly(o, { name: a.name, current: currentValue(o, a.name), next: a.value }) ?? a.value
    o.attrs = o.attrs.filter((x) => x.name !== a.name)
    o.attrs.push(value === a.value ? a : { name: a.name, value })
    touch(ctx, o)
    await saveObjects(ctx, [o])
    return { objectId: id, payload: { uniqueIdentifier: id } }
  },
})
