/**
 * Attributes in both wire forms. KMIP 1.x: `Attribute { Attribute Name, Attribute Index?,
 * Attribute Value }` (1.4 §2.1.1), vendor attributes named `x-…`. KMIP 2.x: the `Attributes`
 * structure of tagged values (2.1 §2.1.1), vendor attributes as `Attribute { Vendor
 * Identification, Attribute Name, Attribute Value }`. Internally: name (1.x spelling) → value
 * tagged Attribute Value; `x-Name` ↔ vendor "x", name "Name".
 */
import { createHash } from 'node:crypto'
import { KmsError, invalidField } from '../errors.js'
import {
  attributeName,
  children,
  en,
  find,
  opt,
  req,
  retag,
  s,
  text,
  Tag,
  tagSpecName,
  CryptographicAlgorithm,
  KeyFormatType,
  ObjectType,
} from '@ward/kmip'
import type { TagName } from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'
import { AS_REGISTERED, attrScalar, attrValues, effectiveState } from './object.js'
import type { Attr, ManagedObject, OpContext } from './object.js'

/** 1.x Attribute Name (exact spec spelling) → tag, from the @ward/kmip table. */
const tagByName: ReadonlyMap<string, number> = new Map(
  (Object.entries(tagSpecName) as [TagName, string][]).map(([k, n]) => [spaced(n), Tag[k]]),
)

/** Single-spaced spec name (the OASIS registry once spelled "Compromise  Date" with two spaces; peers may too). */
function spaced(n: string): string {
  return n.replace(/\s+/g, ' ')
}

/** The 1.x Attribute Name of a 2.x attribute tag, or undefined. */
function nameOfTag(tag: number): string | undefined {
  const n = attributeName(tag)
  return n === undefined ? undefined : spaced(n)
}

/** Attributes the server sets and clients may not add, modify or delete (KMIP 1.4 §3). */
export const readOnlyAttributes = new Set([
  'Unique Identifier',
  'Object Type',
  'State',
  'Initial Date',
  'Last Change Date',
  'Destroy Date',
  'Compromise Date',
  'Compromise Occurrence Date',
  'Revocation Reason',
  'Cryptographic Algorithm',
  'Cryptographic Length',
  'Digest',
  'Original Creation Date',
  'Key Format Type',
  'Fresh',
  'Certificate Length',
  'Certificate Subject CN',
  'Always Sensitive',
  'Never Extractable',
])

/** Attributes that may have several instances (KMIP 1.4 §3 "Multiple instances permitted"). */
const multiValued = new Set([
  'Name',
  'Link',
  'Object Group',
  'Application Specific Information',
  'Alternative Name',
  'Key Value Location',
  'Digest',
])
export const isMultiValued = (name: string): boolean => multiValued.has(name) || isVendor(name)
export const isVendor = (name: string): boolean => !tagByName.has(name) && /^[^-]+-.+/.test(name)

export const is2x = (ctx: OpContext): boolean => ctx.major >= 2

/** 1.x Attribute structure → Attr. */
export function parseAttribute1(a: TtlvItem): Attr {
  const name = req(a, Tag.AttributeName, 'TextString')
  const value = find(a, Tag.AttributeValue)
  if (value === undefined)
    throw new KmsError('ERR_KMS_MISSING_DATA', `attribute ${name} has no value`)
  checkName(name)
  return { name, value: retag(value, Tag.AttributeValue) }
}

function checkName(name: string): void {
  if (name.length === 0 || name.length > 256)
    throw invalidField('attribute name must be 1-256 characters')
  if (!tagByName.has(name) && !isVendor(name))
    throw new KmsError(
      'ERR_KMS_UNSUPPORTED_ATTRIBUTE',
      `unknown attribute "${name}" (custom attributes must be named x-… or y-…)`,
    )
}

/** 2.x tagged attribute (or vendor Attribute structure) → Attr. */
export function parseAttribute2(a: TtlvItem): Attr {
  if (a.tag === Tag.Attribute) {
    const vendor = opt(a, Tag.VendorIdentification, 'TextString')
    const name = req(a, Tag.AttributeName, 'TextString')
    const value = find(a, Tag.AttributeValue)
    if (value === undefined)
      throw new KmsError('ERR_KMS_MISSING_DATA', `attribute ${name} has no value`)
    const full = vendor !== undefined && vendor !== '' ? `${vendor}-${name}` : name
    checkName(full)
    return { name: full, value: retag(value, Tag.AttributeValue) }
  }
  const name = nameOfTag(a.tag)
  if (name === undefined) throw invalidField(`unknown attribute tag 0x${a.tag.toString(16)}`)
  return { name, value: retag(a, Tag.AttributeValue) }
}

/**
 * Attributes supplied with Create/Register/CreateKeyPair: a 1.x Template-Attribute (or
 * Common/Private/Public Template-Attribute) or a 2.x Attributes structure.
 */
export function parseAttributeContainer(container: TtlvItem | undefined): Attr[] {
  if (container === undefined) return []
  const out: Attr[] = []
  for (const c of children(container)) {
    if (
      container.tag === Tag.Attributes ||
      container.tag === Tag.CommonAttributes ||
      container.tag === Tag.PrivateKeyAttributes ||
      container.tag === Tag.PublicKeyAttributes
    ) {
      out.push(parseAttribute2(c))
    } else if (c.tag === Tag.Attribute) {
      out.push(parseAttribute1(c))
    } else if (c.tag === Tag.Name) {
      // A Template name (1.x templates are deprecated and not stored as objects).
      throw new KmsError(
        'ERR_KMS_NOT_SUPPORTED',
        'named templates are not supported; pass the attributes',
      )
    }
  }
  return out
}

/** Render one attribute for the response in the request's protocol version. */
export function renderAttribute(
  ctx: OpContext,
  a: Attr,
  index: number,
  withIndex = true,
): TtlvItem {
  if (is2x(ctx)) {
    const tag = tagByName.get(a.name)
    if (tag !== undefined) return retag(a.value, tag)
    const m = /^([^-]+)-(.+)$/.exec(a.name)
    return s(Tag.Attribute, [
      text(Tag.VendorIdentification, m?.[1] ?? ''),
      text(Tag.AttributeName, m?.[2] ?? a.name),
      a.value,
    ])
  }
  // KMIP 1.0 §3.17 Digest has no Key Format Type field (added in 1.1)
  const value =
    a.name === 'Digest' && ctx.major === 1 && ctx.minor === 0 && a.value.type === 'Structure'
      ? s(
          a.value.tag,
          a.value.value.filter((c) => c.tag !== Tag.KeyFormatType),
        )
      : a.value
  return s(Tag.Attribute, [
    text(Tag.AttributeName, a.name),
    withIndex && index > 0 ? { tag: Tag.AttributeIndex, type: 'Integer', value: index } : undefined,
    value,
  ])
}

/**
 * Attributes newer than KMIP 1.0, by first version (major*100+minor), as the OASIS/ovh reference
 * responses list them: a client speaking an older version never sees them.
 */
const attributeSince: Readonly<Record<string, number>> = {
  Fresh: 101,
  // 2.0 split the 1.x Certificate Subject structure into per-field attributes
  'Certificate Subject CN': 200,
  'Original Creation Date': 102,
  'Random Number Generator': 103,
  'Key Format Type': 200,
  Sensitive: 104,
  'Always Sensitive': 104,
  Extractable: 104,
  'Never Extractable': 104,
}

/**
 * KMIP 2.1 §4.25 Key Format Type attribute: the format Get returns by default (model/material.ts
 * defaultFormat), derived from the stored form and algorithm; none for objects kept as registered.
 */
function keyFormatType(o: ManagedObject): number | undefined {
  if (o.format === AS_REGISTERED || o.format === 0) return undefined
  if (attrValues(o, 'Key Format Type').length > 0) return undefined // recorded at Register
  const rsa = attrScalar(o, 'Cryptographic Algorithm') === CryptographicAlgorithm.RSA
  switch (o.objectType) {
    case ObjectType.SymmetricKey:
      return KeyFormatType.Raw
    case ObjectType.PrivateKey:
      return rsa ? KeyFormatType.PKCS_1 : KeyFormatType.PKCS_8
    case ObjectType.PublicKey:
      return rsa ? KeyFormatType.PKCS_1 : KeyFormatType.X_509
    default:
      return undefined
  }
}

/** KMIP 2.1 §11.x Protection Storage Mask bit Software (0x00000001). */
const PROTECTION_STORAGE_SOFTWARE = 0x00000001

/** Every attribute of `o` (derived ones first) with its index among same-named instances. */
export function allAttributes(ctx: OpContext, o: ManagedObject): { attr: Attr; index: number }[] {
  const derived: Attr[] = [
    { name: 'Unique Identifier', value: text(Tag.AttributeValue, o.id) },
    { name: 'Object Type', value: en(Tag.AttributeValue, o.objectType) },
    { name: 'State', value: en(Tag.AttributeValue, effectiveState(o, ctx.now())) },
  ]
  if (is2x(ctx)) {
    // KMIP 2.1 §4.51 Short Unique Identifier: SHA-256 of the Unique Identifier, so it needs no
    // storage and is the same on every read.
    derived.splice(1, 0, {
      name: 'Short Unique Identifier',
      value: {
        tag: Tag.AttributeValue,
        type: 'ByteString',
        value: createHash('sha256').update(o.id, 'utf8').digest(),
      },
    })
    // KMIP 2.1 §4.39 Protection Storage Mask: where the object is protected. Ward seals key
    // material in software (the barrier's AES-GCM key), never in an HSM.
    derived.push({
      name: 'Protection Storage Mask',
      value: { tag: Tag.AttributeValue, type: 'Integer', value: PROTECTION_STORAGE_SOFTWARE },
    })
  }
  const kft = is2x(ctx) ? keyFormatType(o) : undefined
  if (kft !== undefined)
    derived.push({ name: 'Key Format Type', value: en(Tag.AttributeValue, kft) })
  const counts = new Map<string, number>()
  const v = ctx.major * 100 + ctx.minor
  return [...derived, ...o.attrs.filter((a) => v >= (attributeSince[a.name] ?? 0))].map((attr) => {
    const index = counts.get(attr.name) ?? 0
    counts.set(attr.name, index + 1)
    return { attr, index }
  })
}

/** Names requested by GetAttributes: 1.x Attribute Name strings, 2.x Attribute References. */
export function requestedNames(payload: TtlvItem | undefined): string[] {
  if (payload === undefined) return []
  const names: string[] = []
  for (const c of children(payload)) {
    if (c.tag === Tag.AttributeName && c.type === 'TextString') names.push(c.value)
    else if (c.tag === Tag.AttributeReference) {
      if (c.type === 'Enumeration') {
        const n = nameOfTag(c.value)
        if (n !== undefined) names.push(n)
      } else if (c.type === 'Structure') {
        const vendor = opt(c, Tag.VendorIdentification, 'TextString')
        const name = req(c, Tag.AttributeName, 'TextString')
        names.push(vendor !== undefined && vendor !== '' ? `${vendor}-${name}` : name)
      }
    }
  }
  return names
}

/** Names usable in a 2.x Attribute Reference or a 1.x Attribute Name list. */
export function renderName(ctx: OpContext, name: string): TtlvItem {
  if (is2x(ctx)) {
    const tag = tagByName.get(name)
    if (tag !== undefined) return en(Tag.AttributeReference, tag)
    const m = /^([^-]+)-(.+)$/.exec(name)
    return s(Tag.AttributeReference, [
      text(Tag.VendorIdentification, m?.[1] ?? ''),
      text(Tag.AttributeName, m?.[2] ?? name),
    ])
  }
  return text(Tag.AttributeName, name)
}

export const hasAttr = (o: ManagedObject, name: string): boolean => attrValues(o, name).length > 0
export { tagByName }
