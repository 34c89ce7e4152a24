/**
 * The server's attribute rules over @ward/kmip's attribute codec (message/attributes.ts): which
 * attributes exist (spec names and vendor `x-…` names), which are server-owned or multi-valued,
 * the derived ones every read shows, and the conversion between the codec's version-neutral
 * KmipAttribute and the stored Attr (value tagged Attribute Value, KMIP 1.x form).
 */
import { createHash } from 'node:crypto'
import { KmsError, invalidField } from '../errors.js'
import {
  enumeration,
  isSpecAttributeName,
  isVendorAttributeName,
  isV2,
  retag,
  structure,
  text,
  Tag,
  CryptographicAlgorithm,
  KeyFormatType,
  ObjectType,
} from '@ward/kmip'
import type { KmipAttribute } from '@ward/kmip'
import { AS_REGISTERED, attrScalar, attrValues, effectiveState } from './object.js'
import type { Attr, ManagedObject, OpContext } from './object.js'

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
export const isMultiValued = (name: string): boolean =>
  multiValued.has(name) || isVendorAttributeName(name)

/** Refuses names that are neither spec attributes nor vendor (`x-…`) ones. */
function checkName(name: string): void {
  if (name.length === 0 || name.length > 256)
    throw invalidField('attribute name must be 1-256 characters')
  if (!isSpecAttributeName(name) && !isVendorAttributeName(name))
    throw new KmsError(
      'ERR_KMS_UNSUPPORTED_ATTRIBUTE',
      `unknown attribute "${name}" (custom attributes must be named x-… or y-…)`,
    )
}

/** A decoded attribute (either wire form) as the server keeps it; unknown names are refused. */
export function toAttr(a: KmipAttribute): Attr {
  checkName(a.name)
  return { name: a.name, value: retag(a.value, Tag.AttributeValue) }
}

/** Decoded attributes (absent: none) as the server keeps them. */
export const toAttrs = (list: readonly KmipAttribute[] | undefined): Attr[] =>
  list === undefined ? [] : list.map(toAttr)

/**
 * A stored attribute for a response in the request's version (the codec writes the 1.x
 * Attribute or the 2.x tagged value); `index` is its 1.x Attribute Index, left out when 0.
 */
export function toKmipAttribute(ctx: OpContext, a: Attr, index = 0): KmipAttribute {
  // KMIP 1.0 §3.17 Digest has no Key Format Type field (added in 1.1)
  const value =
    a.name === 'Digest' && ctx.major === 1 && ctx.minor === 0 && a.value.type === 'Structure'
      ? structure(
          a.value.tag,
          a.value.value.filter((c) => c.tag !== Tag.KeyFormatType),
        )
      : a.value
  return { name: a.name, ...(index > 0 && { index }), value }
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
    { name: 'Object Type', value: enumeration(Tag.AttributeValue, o.objectType) },
    { name: 'State', value: enumeration(Tag.AttributeValue, effectiveState(o, ctx.now())) },
  ]
  if (isV2(ctx)) {
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
  const kft = isV2(ctx) ? keyFormatType(o) : undefined
  if (kft !== undefined)
    derived.push({ name: 'Key Format Type', value: enumeration(Tag.AttributeValue, kft) })
  const counts = new Map<string, number>()
  const v = ctx.major * 100 + ctx.minor
  return [...derived, ...o.attrs.filter((a) => v >= (attributeSince[a.name] ?? 0))].map((attr) => {
    const index = counts.get(attr.name) ?? 0
    counts.set(attr.name, index + 1)
    return { attr, index }
  })
}

export const hasAttr = (o: ManagedObject, name: string): boolean => attrValues(o, name).length > 0

/** Names a request may ask for: spec and vendor names (a reference to an unknown tag names none). */
export const isAttributeName = (name: string): boolean =>
  isSpecAttributeName(name) || isVendorAttributeName(name)
