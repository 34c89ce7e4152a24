/**
 * Attribute operations: Get Attributes (§4.12), Get Attribute List (§4.13), Add (§4.14),
 * Modify (§4.15), Delete (§4.16) in KMIP 1.4, and Set Attribute (2.1 §6.1.49). Vendor `x-`
 * attributes work exactly as vCenter uses them (Text String values).
 */
import { KmsError } from '../errors.js'
import {
  allAttributes,
  is2x,
  isMultiValued,
  parseAttribute1,
  parseAttribute2,
  readOnlyAttributes,
  renderAttribute,
  renderName,
  requestedNames,
} from '../model/attributes.js'
import { attrValues, loadObject, saveObjects, setAttr, targetId } from '../model/object.js'
import type { Attr, ManagedObject, OpContext } from '../model/object.js'
import { Operation } from '../wire/enums.js'
import { children, date, find, opt, sameItem, struct, text } from '../wire/items.js'
import { Tag } from '../wire/tags.js'
import type { TtlvItem } from '../wire/ttlv.js'
import { defineOperation } from './types.js'

function attributesPayload(ctx: OpContext, o: ManagedObject, names: readonly string[]): TtlvItem {
  const all = allAttributes(ctx, o)
  const chosen = names.length === 0 ? all : all.filter(({ attr }) => names.includes(attr.name))
  const rendered = chosen.map(({ attr, index }) => renderAttribute(ctx, attr, index))
  return struct(Tag.ResponsePayload, [
    text(Tag.UniqueIdentifier, o.id),
    ...(is2x(ctx) ? [struct(Tag.Attributes, rendered)] : rendered),
  ])
}

export const getAttributes = defineOperation({
  code: Operation.GetAttributes,
  privilege: 'get-attributes',
  async run(ctx, payload) {
    const id = targetId(ctx, opt(payload, Tag.UniqueIdentifier, 'TextString'))
    const o = await loadObject(ctx, id, 'get-attributes')
    return { objectId: id, payload: attributesPayload(ctx, o, requestedNames(payload)) }
  },
})

export const getAttributeList = defineOperation({
  code: Operation.GetAttributeList,
  privilege: 'get-attribute-list',
  async run(ctx, payload) {
    const id = targetId(ctx, opt(payload, Tag.UniqueIdentifier, 'TextString'))
    const o = await loadObject(ctx, id, 'get-attribute-list')
    const names = [...new Set(allAttributes(ctx, o).map(({ attr }) => attr.name))]
    return {
      objectId: id,
      payload: struct(Tag.ResponsePayload, [
        text(Tag.UniqueIdentifier, id),
        ...names.map((n) => renderName(ctx, n)),
      ]),
    }
  },
})

const parseOne = (ctx: OpContext, item: TtlvItem): Attr =>
  is2x(ctx) ? parseAttribute2(item) : parseAttribute1(item)

/** The single attribute argument: 1.x `Attribute`, 2.x `New Attribute { <attr> }`. */
function attributeArg(
  ctx: OpContext,
  payload: TtlvItem | undefined,
  tag2: number,
): Attr | undefined {
  if (is2x(ctx)) {
    const w = find(payload, tag2)
    if (w === undefined) return undefined
    const [inner] = children(w)
    if (inner === undefined)
      throw new KmsError('ERR_KMS_MISSING_DATA', 'empty attribute wrapper', 'MissingData')
    return parseOne(ctx, inner)
  }
  const a = find(payload, Tag.Attribute)
  return a === undefined ? undefined : parseOne(ctx, a)
}

function checkWritable(ctx: OpContext, name: string): void {
  if (readOnlyAttributes.has(name))
    throw new KmsError(
      'ERR_KMS_READ_ONLY_ATTRIBUTE',
      `attribute ${name} is set by the server`,
      is2x(ctx) ? 'PermissionDenied' : 'PermissionDenied',
    )
}

function touch(ctx: OpContext, o: ManagedObject): void {
  setAttr(o, 'Last Change Date', date(Tag.LastChangeDate, ctx.now()))
}

const required = (a: Attr | undefined): Attr => {
  if (a === undefined)
    throw new KmsError('ERR_KMS_MISSING_DATA', 'the attribute is missing', 'MissingData')
  return a
}

function indexOfValue(o: ManagedObject, name: string, nth: number): number {
  let seen = -1
  return o.attrs.findIndex((a) => a.name === name && ++seen === nth)
}

export const addAttribute = defineOperation({
  code: Operation.AddAttribute,
  privilege: 'add-attribute',
  async run(ctx, payload) {
    const id = targetId(ctx, opt(payload, Tag.UniqueIdentifier, 'TextString'))
    const o = await loadObject(ctx, id, 'add-attribute')
    const a = required(attributeArg(ctx, payload, Tag.NewAttribute))
    checkWritable(ctx, a.name)
    const existing = attrValues(o, a.name).length
    if (existing > 0 && !isMultiValued(a.name))
      throw new KmsError(
        'ERR_KMS_SINGLE_VALUED',
        `attribute ${a.name} already has a value; use ModifyAttribute`,
        'IllegalOperation',
      )
    o.attrs.push(a)
    touch(ctx, o)
    await saveObjects(ctx, [o])
    return {
      objectId: id,
      payload: struct(Tag.ResponsePayload, [
        text(Tag.UniqueIdentifier, id),
        is2x(ctx) ? undefined : renderAttribute(ctx, a, existing),
      ]),
    }
  },
})

export const setAttribute = defineOperation({
  code: Operation.SetAttribute,
  privilege: 'set-attribute',
  since: [2, 0],
  async run(ctx, payload) {
    const id = targetId(ctx, opt(payload, Tag.UniqueIdentifier, 'TextString'))
    const o = await loadObject(ctx, id, 'set-attribute')
    const a = required(attributeArg(ctx, payload, Tag.NewAttribute))
    checkWritable(ctx, a.name)
    o.attrs = o.attrs.filter((x) => x.name !== a.name)
    o.attrs.push(a)
    touch(ctx, o)
    await saveObjects(ctx, [o])
    return { objectId: id, payload: struct(Tag.ResponsePayload, [text(Tag.UniqueIdentifier, id)]) }
  },
})

export const modifyAttribute = defineOperation({
  code: Operation.ModifyAttribute,
  privilege: 'modify-attribute',
  async run(ctx, payload) {
    const id = targetId(ctx, opt(payload, Tag.UniqueIdentifier, 'TextString'))
    const o = await loadObject(ctx, id, 'modify-attribute')
    const a = required(attributeArg(ctx, payload, Tag.NewAttribute))
    checkWritable(ctx, a.name)
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
        is2x(ctx) ? 'AttributeNotFound' : 'ItemNotFound',
      )
    o.attrs[at] = a
    touch(ctx, o)
    await saveObjects(ctx, [o])
    const index = o.attrs.slice(0, at).filter((x) => x.name === a.name).length
    return {
      objectId: id,
      payload: struct(Tag.ResponsePayload, [
        text(Tag.UniqueIdentifier, id),
        is2x(ctx) ? undefined : renderAttribute(ctx, a, index),
      ]),
    }
  },
})

export const deleteAttribute = defineOperation({
  code: Operation.DeleteAttribute,
  privilege: 'delete-attribute',
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
            'MissingData',
          )
        name = n
        at = indexOfValue(o, n, 0)
      }
    } else {
      const n = opt(payload, Tag.AttributeName, 'TextString')
      if (n === undefined)
        throw new KmsError('ERR_KMS_MISSING_DATA', 'Attribute Name is required', 'MissingData')
      name = n
      at = indexOfValue(o, n, opt(payload, Tag.AttributeIndex, 'Integer') ?? 0)
    }
    checkWritable(ctx, name)
    if (at < 0)
      throw new KmsError(
        'ERR_KMS_ATTRIBUTE_NOT_FOUND',
        `object ${id} has no such ${name} instance`,
        is2x(ctx) ? 'AttributeNotFound' : 'ItemNotFound',
      )
    const index = o.attrs.slice(0, at).filter((x) => x.name === name).length
    const [removed] = o.attrs.splice(at, 1)
    touch(ctx, o)
    await saveObjects(ctx, [o])
    return {
      objectId: id,
      payload: struct(Tag.ResponsePayload, [
        text(Tag.UniqueIdentifier, id),
        is2x(ctx) || removed === undefined ? undefined : renderAttribute(ctx, removed, index),
      ]),
    }
  },
})
