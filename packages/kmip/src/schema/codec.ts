/**
 * The one generic decoder and encoder over the payload declarations of schema/dsl.ts. They work on
 * item trees (ttlv/item.ts): the TTLV codec below them bounds lengths, depth and item counts, so
 * a declaration can only narrow what was already decoded. Decoding takes the first child with a
 * member's tag (later duplicates and unknown children are ignored, as KMIP servers do), checks
 * its type (ERR_KMIP_FIELD_TYPE) and presence (ERR_KMIP_MISSING_FIELD); encoding writes the
 * members in declaration order (wire order), leaving out absent optional ones.
 */
import { KmipError } from '../errors.js'
import {
  attributeName,
  attributeTag,
  buildAttributeV1,
  buildAttributeV2,
  buildAttributesFor,
  parseAttributeV1,
  parseAttributeV2,
  parseAttributes,
} from '../message/attributes.js'
import type { KmipAttribute } from '../message/attributes.js'
import { isV2 } from '../message/version.js'
import type { ProtocolVersion } from '../message/version.js'
import { Tag } from '../tables/tags.js'
import { enumeration, structure, text } from '../ttlv/build.js'
import type { TtlvItem } from '../ttlv/item.js'
import { checkType, children, find, findAll, tagLabel } from '../ttlv/read.js'
import type {
  AttributesRole,
  Field,
  Member,
  Members,
  PayloadInput,
  PayloadOf,
  StructField,
} from './dsl.js'

/** Container tags of each attributes role: [1.x, 2.x]. */
const containers: Readonly<Record<Exclude<AttributesRole, 'list'>, readonly [number, number]>> = {
  template: [Tag.TemplateAttribute, Tag.Attributes],
  common: [Tag.CommonTemplateAttribute, Tag.CommonAttributes],
  private: [Tag.PrivateKeyTemplateAttribute, Tag.PrivateKeyAttributes],
  public: [Tag.PublicKeyTemplateAttribute, Tag.PublicKeyAttributes],
}

const inVersion = (m: Member, v2: boolean): boolean =>
  m.only === undefined || (m.only === 'v2') === v2

/** Each declaration's members as [name, member] pairs, computed once (the codec's hot path). */
const entriesOf = new WeakMap<Members, readonly (readonly [string, Member])[]>()
function entries(members: Members): readonly (readonly [string, Member])[] {
  let e = entriesOf.get(members)
  if (e === undefined) {
    e = Object.entries(members)
    entriesOf.set(members, e)
  }
  return e
}

const missing = (parent: TtlvItem | undefined, what: string, tag?: number): KmipError =>
  new KmipError(
    'ERR_KMIP_MISSING_FIELD',
    `${parent === undefined ? 'request payload' : tagLabel(parent.tag)} lacks ${what}`,
    tag !== undefined ? { tag } : {},
  )

/**
 * Decodes a payload (or any declared structure) in the message's version. An absent payload
 * (`undefined`) reads as an empty one: its required members are missing.
 */
export function decodeStructure<S extends StructField>(
  schema: S,
  item: TtlvItem | undefined,
  version: ProtocolVersion,
): PayloadOf<S> {
  if (item !== undefined) checkType(item, 'Structure')
  return decodeMembers(schema.members, item, isV2(version)) as PayloadOf<S>
}

function decodeMembers(
  members: Members,
  parent: TtlvItem | undefined,
  v2: boolean,
): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [name, m] of entries(members)) {
    if (!inVersion(m, v2)) continue
    const v = decodeMember(m, parent, v2)
    if (v !== undefined) out[name] = v
  }
  return out
}

function decodeMember(m: Member, parent: TtlvItem | undefined, v2: boolean): unknown {
  const f = m.field
  if (m.presence === 'repeated') {
    const found = matching(f, parent, v2)
    const values = found.map((c) => decodeField(f, c, v2))
    return f.kind === 'attributeReference' ? values.filter((n) => n !== undefined) : values
  }
  if (f.kind === 'attributes') {
    const v = decodeAttributes(f.role, parent, v2)
    if (v === undefined && m.presence === 'required') {
      const tags = containers[f.role === 'list' ? 'template' : f.role]
      throw missing(parent, tagLabel(v2 ? tags[1] : tags[0]))
    }
    return v
  }
  const c = first(f, parent, v2)
  if (c === undefined) {
    if (m.presence === 'required') throw missing(parent, fieldLabel(f), fieldTag(f))
    return undefined
  }
  return decodeField(f, c, v2)
}

/** Does child `c` belong to field `f`? */
function belongs(f: Field, c: TtlvItem, v2: boolean): boolean {
  switch (f.kind) {
    case 'value':
    case 'struct':
      return c.tag === f.tag
    case 'item':
      return f.tags.includes(c.tag)
    case 'attribute':
      // 1.x: an Attribute structure; 2.x: the wrapper's (New/Current Attribute) one child
      return v2 || c.tag === Tag.Attribute
    case 'attributeReference':
      return c.tag === Tag.AttributeName || c.tag === Tag.AttributeReference
    case 'attributes':
      return false
  }
}

/** Every child of `parent` that a field reads. */
function matching(f: Field, parent: TtlvItem | undefined, v2: boolean): readonly TtlvItem[] {
  if (parent === undefined) return []
  const out: TtlvItem[] = []
  for (const c of children(parent)) if (belongs(f, c, v2)) out.push(c)
  return out
}

/** The first child of `parent` that a field reads (later duplicates are not read). */
function first(f: Field, parent: TtlvItem | undefined, v2: boolean): TtlvItem | undefined {
  if (parent === undefined) return undefined
  for (const c of children(parent)) if (belongs(f, c, v2)) return c
  return undefined
}

function decodeField(f: Field, c: TtlvItem, v2: boolean): unknown {
  switch (f.kind) {
    case 'value':
      return checkType(c, f.type).value
    case 'struct':
      return decodeMembers(f.members, checkType(c, 'Structure'), v2)
    case 'item':
      if (f.types !== undefined && !f.types.includes(c.type))
        throw new KmipError(
          'ERR_KMIP_FIELD_TYPE',
          `${tagLabel(c.tag)} must be ${f.types.join(' or ')}, got ${c.type}`,
          { tag: c.tag },
        )
      return c
    case 'attribute':
      return v2 ? parseAttributeV2(c) : parseAttributeV1(c)
    case 'attributeReference':
      return referenceName(c)
    case 'attributes':
      return undefined
  }
}

/**
 * The name an Attribute Name / Attribute Reference gives; undefined for one of another type, which
 * names nothing (peers have sent them; they are skipped rather than refused).
 */
function referenceName(c: TtlvItem): string | undefined {
  if (c.tag === Tag.AttributeName) return c.type === 'TextString' ? c.value : undefined
  if (c.type === 'Enumeration') return attributeName(c.value) ?? `0x${c.value.toString(16)}`
  if (c.type !== 'Structure') return undefined
  const vendor = find(c, Tag.VendorIdentification)
  const name = find(c, Tag.AttributeName)
  if (name === undefined) throw missing(c, tagLabel(Tag.AttributeName), Tag.AttributeName)
  const n = checkType(name, 'TextString').value
  const vid = vendor === undefined ? '' : checkType(vendor, 'TextString').value
  return vid !== '' ? `${vid}-${n}` : n
}

function decodeAttributes(
  role: AttributesRole,
  parent: TtlvItem | undefined,
  v2: boolean,
): KmipAttribute[] | undefined {
  if (role === 'list') {
    if (v2) {
      const c = find(parent, Tag.Attributes)
      return c === undefined ? undefined : parseAttributes(checkType(c, 'Structure'))
    }
    const list = findAll(parent, Tag.Attribute)
    return list.length === 0 ? undefined : list.map(parseAttributeV1)
  }
  // either form in any version: the 1.x container first
  const [t1, t2] = containers[role]
  const c = find(parent, t1) ?? find(parent, t2)
  return c === undefined ? undefined : parseAttributes(checkType(c, 'Structure'))
}

function fieldTag(f: Field): number | undefined {
  switch (f.kind) {
    case 'value':
    case 'struct':
      return f.tag
    case 'item':
      return f.tags[0]
    case 'attribute':
      return Tag.Attribute
    case 'attributeReference':
      return Tag.AttributeReference
    case 'attributes':
      return undefined
  }
}

function fieldLabel(f: Field): string {
  if (f.kind === 'item' && f.tags.length > 1) return 'the object'
  if (f.kind === 'attribute') return 'the attribute'
  const t = fieldTag(f)
  return t === undefined ? 'a field' : tagLabel(t)
}

/**
 * Encodes a payload (or any declared structure) in the message's version. Absent optional
 * members are left out; a required one that is absent is a programming error (ERR_TTLV_ENCODE).
 */
export function encodeStructure<S extends StructField>(
  schema: S,
  value: PayloadInput<S>,
  version: ProtocolVersion,
): TtlvItem {
  return encodeStruct(schema.tag, schema.members, value as Record<string, unknown>, isV2(version))
}

function encodeStruct(
  tag: number,
  members: Members,
  value: Record<string, unknown>,
  v2: boolean,
): TtlvItem {
  const items: TtlvItem[] = []
  for (const [name, m] of entries(members)) {
    if (!inVersion(m, v2)) continue
    const v = value[name]
    if (v === undefined) {
      if (m.presence === 'required')
        throw new KmipError('ERR_TTLV_ENCODE', `${tagLabel(tag)}: ${name} is required`)
      continue
    }
    if (m.field.kind === 'attributes') {
      items.push(...encodeAttributes(m.field.role, v as readonly KmipAttribute[], v2))
      continue
    }
    if (m.presence === 'repeated')
      for (const x of v as readonly unknown[]) items.push(encodeField(m.field, x, v2))
    else items.push(encodeField(m.field, v, v2))
  }
  return structure(tag, items)
}

function encodeField(f: Field, v: unknown, v2: boolean): TtlvItem {
  switch (f.kind) {
    case 'value':
      return { tag: f.tag, type: f.type, value: v } as TtlvItem
    case 'struct':
      return encodeStruct(f.tag, f.members, v as Record<string, unknown>, v2)
    case 'item':
      return v as TtlvItem
    case 'attribute':
      return v2 ? buildAttributeV2(v as KmipAttribute) : buildAttributeV1(v as KmipAttribute)
    case 'attributeReference':
      return referenceItem(v as string, v2)
    case 'attributes':
      throw new KmipError('ERR_TTLV_ENCODE', 'attributes are encoded by their container')
  }
}

function encodeAttributes(
  role: AttributesRole,
  attrs: readonly KmipAttribute[],
  v2: boolean,
): TtlvItem[] {
  if (role === 'list')
    return v2 ? [buildAttributesFor(true, attrs)] : attrs.map((a) => buildAttributeV1(a))
  return [buildAttributesFor(v2, attrs, role)]
}

/** 1.x Attribute Name, or 2.x Attribute Reference (the tag, or vendor and name). */
function referenceItem(name: string, v2: boolean): TtlvItem {
  if (!v2) return text(Tag.AttributeName, name)
  const tag = attributeTag(name)
  if (tag !== undefined) return enumeration(Tag.AttributeReference, tag)
  const dash = name.indexOf('-')
  return structure(Tag.AttributeReference, [
    text(Tag.VendorIdentification, dash > 0 ? name.slice(0, dash) : 'x'),
    text(Tag.AttributeName, dash > 0 ? name.slice(dash + 1) : name),
  ])
}
