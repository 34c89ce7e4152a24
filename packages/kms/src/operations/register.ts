import { KmsError } from '../errors.js'
import { parseAttributeContainer } from '../model/attributes.js'
import { AS_REGISTERED, newObject, saveObjects, sealMaterial, setAttr } from '../model/object.js'
import { objectTag, parseObject } from '../model/material.js'
import { Operation, en, find, int, opt, req, s, text, Tag } from '@ward/kmip'
import { applyInitialAttributes } from './common.js'
import { defineOperation } from './types.js'

/** KMIP 1.4 §4.3 Register: every object type; keys are normalised so crypto operations work. */
export const register = defineOperation({
  code: Operation.Register,
  privilege: 'register',
  async run(ctx, payload) {
    const type = req(payload, Tag.ObjectType, 'Enumeration')
    const tag = objectTag[type]
    if (tag === undefined)
      throw new KmsError('ERR_KMS_INVALID_FIELD', `unknown object type ${type}`, 'InvalidField')
    const obj = find(payload, tag)
    if (obj === undefined)
      throw new KmsError('ERR_KMS_MISSING_DATA', 'the object to register is missing', 'MissingData')
    const attrs = parseAttributeContainer(
      find(payload, Tag.TemplateAttribute) ?? find(payload, Tag.Attributes),
    )
    const parsed = parseObject(type, obj)
    const o = newObject(ctx, type)
    // KMIP 2.1 §4.24: Fresh may be set by the client at Register (e.g. a key it never exported)
    applyInitialAttributes(
      o,
      attrs,
      new Set(['Cryptographic Algorithm', 'Cryptographic Length', 'Fresh']),
    )
    if (parsed.algorithm !== undefined)
      setAttr(o, 'Cryptographic Algorithm', en(Tag.AttributeValue, parsed.algorithm))
    if (parsed.length !== undefined)
      setAttr(o, 'Cryptographic Length', int(Tag.AttributeValue, parsed.length))
    sealMaterial(ctx, o, parsed.material, parsed.format)
    parsed.material.fill(0)
    // Get without a Key Format Type returns the key as it was registered (BL-M-3-21); the stored
    // form stays canonical. Objects kept as registered carry their own Key Block.
    const registered = opt(find(obj, Tag.KeyBlock), Tag.KeyFormatType, 'Enumeration')
    if (parsed.format !== AS_REGISTERED && registered !== undefined)
      setAttr(o, 'Key Format Type', en(Tag.AttributeValue, registered))
    await saveObjects(ctx, [o])
    return {
      objectId: o.id,
      payload: s(Tag.ResponsePayload, [text(Tag.UniqueIdentifier, o.id)]),
    }
  },
})
