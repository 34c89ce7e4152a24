import { loadObject, saveObjects, targetId } from '../model/object.js'
import { Operation, opt, s, text, Tag } from '@ward/kmip'
import { defineOperation } from './types.js'
import { attributeArg, checkWritable, touch, required } from './attribute-common.js'
import { currentValue, tightenOnly } from './tighten.js'

/** KMIP 2.1 §6.1.49 Set Attribute. */
export const setAttribute = defineOperation({
  code: Operation.SetAttribute,
  privilege: 'set-attribute',
  mutates: true,
  since: [2, 0],
  async run(ctx, payload) {
    const id = targetId(ctx, opt(payload, Tag.UniqueIdentifier, 'TextString'))
    const o = await loadObject(ctx, id, 'set-attribute')
    const a = required(attributeArg(ctx, payload, Tag.NewAttribute))
    checkWritable(a.name, o)
    const value = tightenOnly(o, a.name, currentValue(o, a.name), a.value) ?? a.value
    o.attrs = o.attrs.filter((x) => x.name !== a.name)
    o.attrs.push(value === a.value ? a : { name: a.name, value })
    touch(ctx, o)
    await saveObjects(ctx, [o])
    return { objectId: id, payload: s(Tag.ResponsePayload, [text(Tag.UniqueIdentifier, id)]) }
  },
})
