import { KmsError } from '../errors.js'
import { is2x, renderAttribute, requestedNames } from '../model/attributes.js'
import { loadObject, saveObjects, targetId } from '../model/object.js'
import { Operation, opt, sameItem, s, text, Tag } from '@ward/kmip'
import { defineOperation } from './types.js'
import { attributeArg, checkWritable, touch, indexOfValue } from './attribute-common.js'
import { tightenOnly } from './tighten.js'

/** KMIP 1.4 §4.16 Delete Attribute. */
export const deleteAttribute = defineOperation({
  code: Operation.DeleteAttribute,
  privilege: 'delete-attribute',
  mutates: true,
  async run(ctx, payload) {
    const id = targetId(ctx, opt(payload, Tag.UniqueIdentifier, 'TextString'))
    const o = await loadObject(ctx, id, 'delete-attribute')
    let at: number
    let name: string
    if (is2x(ctx)) {
      const cur = attributeArg(ctx, payload, Tag.CurrentAttribute)
      if (cur !== undefined) {
        name = cur.name
        at = o.attrs.findIndex((x) => x.name === cur.name && sameItem(x.value, cur.value))
      } else {
        const [n] = requestedNames(payload)
        if (n === undefined)
          throw new KmsError(
            'ERR_KMS_MISSING_DATA',
            'Current Attribute or Attribute Reference is required',
          )
        name = n
        at = indexOfValue(o, n, 0)
      }
    } else {
      const n = opt(payload, Tag.AttributeName, 'TextString')
      if (n === undefined) throw new KmsError('ERR_KMS_MISSING_DATA', 'Attribute Name is required')
      name = n
      at = indexOfValue(o, n, opt(payload, Tag.AttributeIndex, 'Integer') ?? 0)
    }
    checkWritable(name, o)
    if (at < 0)
      throw new KmsError('ERR_KMS_ATTRIBUTE_NOT_FOUND', `object ${id} has no such ${name} instance`)
    tightenOnly(o, name, o.attrs[at]!.value, undefined)
    const index = o.attrs.slice(0, at).filter((x) => x.name === name).length
    const [removed] = o.attrs.splice(at, 1)
    touch(ctx, o)
    await saveObjects(ctx, [o])
    return {
      objectId: id,
      payload: s(Tag.ResponsePayload, [
        text(Tag.UniqueIdentifier, id),
        is2x(ctx) || removed === undefined ? undefined : renderAttribute(ctx, removed, index),
      ]),
    }
  },
})
