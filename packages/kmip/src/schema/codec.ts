/**
 * The one generic decoder and encoder over the payload declarations of schema/dsl.ts. They work on
 * item trees (ttlv/item.ts): the TTLV codec below them bounds lengths, depth and item counts, so
 * a declaration can only narrow what was already decoded. Decoding takes the first child with a
 * member's tag (later duplicates and unknown children are ignored, as KMIP servers do), checks
 * its type (ERR_KMIP_FIELD_TYPE) and presence (ERR_KMIP_MISSING_FIELD); encoding writes the
 * members in declaration order (wire order), leaving out absent optional ones, to an item tree
 * (encodeStructure) or straight to bytes (encodeStructureTtlv). Each declaration is compiled once
 * per major version into a plan (planOf), so no message pays for reading its declaration.
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
import {
  measureItem,
  measureValue,
  writeHeader,
  writeItem,
  writeValue,
  writer,
} from '../ttlv/encode.js'
import type { EncodePlan, Writer } from '../ttlv/encode.js'
import type { TtlvItem } from '../ttlv/item.js'
import { checkType, children, find, findAll, tagLabel } from '../ttlv/read.js'
import type { AttributesRole, Field, Members, PayloadInput, PayloadOf, StructField } from './dsl.js'

/** Container tags of each attributes role: [1.x, 2.x]. */
const containers: Readonly<Record<Exclude<AttributesRole, 'list'>, readonly [number, number]>> = {
  template: [Tag.TemplateAttribute, Tag.Attributes],
  common: [Tag.CommonTemplateAttribute, Tag.CommonAttributes],
  private: [Tag.PrivateKeyTemplateAttribute, Tag.PrivateKeyAttributes],
  public: [Tag.PublicKeyTemplateAttribute, Tag.PublicKeyAttributes],
}

/**
 * A member as the codec runs it in one major version, compiled once per declaration (see
 * {@link planOf}): what it reads, whether it must be there, and for a nested structure the plan
 * of its members (compiled on first use).
 */
interface Slot {
  readonly name: string
  readonly field: Field
  readonly repeated: boolean
  readonly required: boolean
  /** The members' plan of a `struct` field, once compiled. */
  nested: Plan | undefined
}

/**
 * A declaration's members in one major version: its slots in declaration (wire) order, and which
 * slots read a child of each tag, so that decoding walks a structure's children once.
 */
interface Plan {
  readonly slots: readonly Slot[]
  /** Child tag → the slots that read children with it, in declaration order. */
  readonly byTag: ReadonlyMap<number, readonly number[]>
  /** Slots that read children of any tag (a 2.x single attribute: the wrapper's child). */
  readonly anyTag: readonly number[]
  /** Does any slot read children (not only attribute containers)? */
  readonly readsChildren: boolean
}

/** The tags of the children a field reads; undefined: any; [] none (attribute containers). */
function tagsRead(f: Field, v2: boolean): readonly number[] | undefined {
  switch (f.kind) {
    case 'value':
    case 'struct':
      return [f.tag]
    case 'item':
      return f.tags
    case 'attribute':
      // 1.x: an Attribute structure; 2.x: the wrapper's (New/Current Attribute) one child
      return v2 ? undefined : [Tag.Attribute]
    case 'attributeReference':
      return [Tag.AttributeName, Tag.AttributeReference]
    case 'attributes':
      return []
  }
}

function compile(members: Members, v2: boolean): Plan {
  const slots: Slot[] = []
  const byTag = new Map<number, number[]>()
  const anyTag: number[] = []
  for (const [name, m] of Object.entries(members)) {
    if (m.only !== undefined && (m.only === 'v2') !== v2) continue
    const at = slots.length
    slots.push({
      name,
      field: m.field,
      repeated: m.presence === 'repeated',
      required: m.presence === 'required',
      nested: undefined,
    })
    const tags = tagsRead(m.field, v2)
    if (tags === undefined) anyTag.push(at)
    else
      for (const t of new Set(tags)) {
        const list = byTag.get(t)
        if (list === undefined) byTag.set(t, [at])
        else list.push(at)
      }
  }
  return { slots, byTag, anyTag, readsChildren: byTag.size > 0 || anyTag.length > 0 }
}

/** Each declaration's plan, [1.x, 2.x], compiled on first use (the codec's hot path). */
const plans = new WeakMap<Members, [Plan | undefined, Plan | undefined]>()
function planOf(members: Members, v2: boolean): Plan {
  let both = plans.get(members)
  if (both === undefined) {
    both = [undefined, undefined]
    plans.set(members, both)
  }
  const i = v2 ? 1 : 0
  return (both[i] ??= compile(members, v2))
}

/** The plan of a `struct` slot's members, cached on the slot. */
const nestedPlan = (s: Slot, f: StructField, v2: boolean): Plan =>
  (s.nested ??= planOf(f.members, v2))

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
  const v2 = isV2(version)
  return decodeMembers(planOf(schema.members, v2), item, v2) as PayloadOf<S>
}

/** What one slot found among the children: its first child, or all of them when repeated. */
type Found = TtlvItem | TtlvItem[] | undefined

function take(found: Found[], s: Slot, i: number, c: TtlvItem): void {
  const f = found[i]
  if (s.repeated) {
    if (f === undefined) found[i] = [c]
    else (f as TtlvItem[]).push(c)
  } else if (f === undefined) found[i] = c // later duplicates are not read
}

function decodeMembers(
  plan: Plan,
  parent: TtlvItem | undefined,
  v2: boolean,
): Record<string, unknown> {
  const slots = plan.slots
  // one walk over the children: each slot's first child (all of them for a repeated one)
  const found: Found[] = new Array<Found>(slots.length)
  if (parent !== undefined && plan.readsChildren) {
    const { byTag, anyTag } = plan
    for (const c of children(parent)) {
      const at = byTag.get(c.tag)
      if (at !== undefined) for (const i of at) take(found, slots[i]!, i, c)
      for (const i of anyTag) take(found, slots[i]!, i, c)
    }
  }
  // then the members in declaration order (the order their errors are reported in)
  const out: Record<string, unknown> = {}
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i]!
    const f = s.field
    let v: unknown
    if (f.kind === 'attributes') {
      v = decodeAttributes(f.role, parent, v2)
      if (v === undefined && s.required) {
        const tags = containers[f.role === 'list' ? 'template' : f.role]
        throw missing(parent, tagLabel(v2 ? tags[1] : tags[0]))
      }
    } else if (s.repeated) {
      const list = (found[i] as TtlvItem[] | undefined) ?? []
      const values: unknown[] = []
      for (const c of list) {
        const x = decodeField(s, f, c, v2)
        // an Attribute Name / Reference of another type names nothing: skipped
        if (x !== undefined || f.kind !== 'attributeReference') values.push(x)
      }
      v = values
    } else {
      const c = found[i] as TtlvItem | undefined
      if (c === undefined) {
        if (s.required) throw missing(parent, fieldLabel(f), fieldTag(f))
        continue
      }
      v = decodeField(s, f, c, v2)
    }
    if (v !== undefined) out[s.name] = v
  }
  return out
}

function decodeField(s: Slot, f: Field, c: TtlvItem, v2: boolean): unknown {
  switch (f.kind) {
    case 'value':
      return checkType(c, f.type).value
    case 'struct':
      return decodeMembers(nestedPlan(s, f, v2), checkType(c, 'Structure'), v2)
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
  const v2 = isV2(version)
  return encodeStruct(schema.tag, planOf(schema.members, v2), value as Record<string, unknown>, v2)
}

function encodeStruct(
  tag: number,
  plan: Plan,
  value: Record<string, unknown>,
  v2: boolean,
): TtlvItem {
  const items: TtlvItem[] = []
  for (const s of plan.slots) {
    const v = value[s.name]
    if (v === undefined) {
      if (s.required)
        throw new KmipError('ERR_TTLV_ENCODE', `${tagLabel(tag)}: ${s.name} is required`)
      continue
    }
    const f = s.field
    if (f.kind === 'attributes') {
      encodeAttributes(items, f.role, v as readonly KmipAttribute[], v2)
      continue
    }
    if (s.repeated) for (const x of v as readonly unknown[]) items.push(encodeField(s, f, x, v2))
    else items.push(encodeField(s, f, v, v2))
  }
  return { tag, type: 'Structure', value: items }
}

function encodeField(s: Slot, f: Field, v: unknown, v2: boolean): TtlvItem {
  switch (f.kind) {
    case 'value':
      return { tag: f.tag, type: f.type, value: v } as TtlvItem
    case 'struct':
      return encodeStruct(f.tag, nestedPlan(s, f, v2), v as Record<string, unknown>, v2)
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

/**
 * Encodes a payload or message (any declared structure) straight to binary TTLV in the message's
 * version: the bytes of `encodeTtlv(encodeStructure(schema, value, version))`, without the item
 * tree in between. Two passes over the declaration and the values, as encodeTtlv's over a tree
 * (ttlv/encode.ts): measuring checks every value and sizes the output once, writing fills it.
 */
export function encodeStructureTtlv<S extends StructField>(
  schema: S,
  value: PayloadInput<S>,
  version: ProtocolVersion,
): Uint8Array {
  const v2 = isV2(version)
  const plan = planOf(schema.members, v2)
  const records: EncodePlan = []
  const w = writer(
    measureStruct(schema.tag, plan, value as Record<string, unknown>, v2, records, 0),
    records,
  )
  writeStruct(schema.tag, plan, value as Record<string, unknown>, v2, w, 0)
  return w.out
}

function measureStruct(
  tag: number,
  plan: Plan,
  value: Record<string, unknown>,
  v2: boolean,
  records: EncodePlan,
  depth: number,
): number {
  const at = records.push(0) - 1
  let len = 0
  for (const s of plan.slots) {
    const v = value[s.name]
    if (v === undefined) {
      if (s.required)
        throw new KmipError('ERR_TTLV_ENCODE', `${tagLabel(tag)}: ${s.name} is required`)
      continue
    }
    if (s.repeated)
      for (const x of v as readonly unknown[]) len += measureMember(s, x, v2, records, depth)
    else len += measureMember(s, v, v2, records, depth)
  }
  records[at] = len
  return 8 + len
}

function measureMember(
  s: Slot,
  v: unknown,
  v2: boolean,
  records: EncodePlan,
  depth: number,
): number {
  const f = s.field
  switch (f.kind) {
    case 'value':
      return measureValue(f.tag, f.type, v, records)
    case 'struct':
      return measureStruct(
        f.tag,
        nestedPlan(s, f, v2),
        v as Record<string, unknown>,
        v2,
        records,
        depth + 1,
      )
    case 'item':
      return measureItem(v as TtlvItem, records, depth + 1)
    default: {
      // attributes and attribute names: their items, as encodeStructure builds them, kept for
      // the writing pass
      const items: TtlvItem[] = []
      if (f.kind === 'attributes')
        encodeAttributes(items, f.role, v as readonly KmipAttribute[], v2)
      else items.push(encodeField(s, f, v, v2))
      records.push(items)
      let n = 0
      for (const i of items) n += measureItem(i, records, depth + 1)
      return n
    }
  }
}

function writeStruct(
  tag: number,
  plan: Plan,
  value: Record<string, unknown>,
  v2: boolean,
  w: Writer,
  off: number,
): number {
  let q = writeHeader(w, off, tag, 0x01, w.plan[w.next++] as number)
  for (const s of plan.slots) {
    const v = value[s.name]
    if (v === undefined) continue
    if (s.repeated) for (const x of v as readonly unknown[]) q = writeMember(s, x, v2, w, q)
    else q = writeMember(s, v, v2, w, q)
  }
  return q
}

function writeMember(s: Slot, v: unknown, v2: boolean, w: Writer, at: number): number {
  const f = s.field
  switch (f.kind) {
    case 'value':
      return writeValue(f.tag, f.type, v, w, at)
    case 'struct':
      return writeStruct(f.tag, nestedPlan(s, f, v2), v as Record<string, unknown>, v2, w, at)
    case 'item':
      return writeItem(v as TtlvItem, w, at)
    default: {
      let p = at
      for (const i of w.plan[w.next++] as readonly TtlvItem[]) p = writeItem(i, w, p)
      return p
    }
  }
}

/** Appends the attributes in the version's container (or side by side: 1.x `list`). */
function encodeAttributes(
  items: TtlvItem[],
  role: AttributesRole,
  attrs: readonly KmipAttribute[],
  v2: boolean,
): void {
  if (role === 'list' && !v2) for (const a of attrs) items.push(buildAttributeV1(a))
  else items.push(buildAttributesFor(v2, attrs, role === 'list' ? 'template' : role))
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
