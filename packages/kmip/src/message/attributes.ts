import { KmipError } from '../errors.js'
import { normalizeName } from '../tables/names.js'
import { Tag, tagByName, tagNameOf, tagSpecName } from '../tables/tags.js'
import type { TagName } from '../tables/tags.js'
import { int, present, structure, text } from '../ttlv/build.js'
import type { TtlvItem } from '../ttlv/item.js'
import { checkType, children, find, optionalValue, requiredValue, retag } from '../ttlv/read.js'

/**
 * One attribute in a version-neutral form. `name` is the KMIP 1.x Attribute Name
 * (`"Cryptographic Algorithm"`, `"x-Product_Version"`); `value` is the value item carrying the
 * attribute's own tag (2.x style) for spec attributes, or Attribute Value for custom ones.
 * Structured attributes (Name, Link, Cryptographic Parameters...) keep their children as on the wire.
 */
export interface KmipAttribute {
  readonly name: string
  /** 1.x Attribute Index (multi-instance attributes); absent = 0. */
  readonly index?: number
  readonly value: TtlvItem
}

/** Custom attribute names (KMIP 1.4 §3: names starting with `x-` or `y-`). */
export function isCustomAttributeName(name: string): boolean {
  return /^[xy]-/.test(name)
}

/** Spec attribute names (single-spaced, as peers write them) → tag. */
const tagBySpecName: ReadonlyMap<string, number> = new Map(
  (Object.entries(tagSpecName) as [TagName, string][]).map(([k, n]) => [spaced(n), Tag[k]]),
)

/** Single-spaced name (the OASIS registry once spelled "Compromise  Date" with two spaces). */
function spaced(n: string): string {
  return n.replace(/\s+/g, ' ')
}

/** Is `name` an attribute of the spec, spelled as the spec does? */
export function isSpecAttributeName(name: string): boolean {
  return tagBySpecName.has(name)
}

/**
 * A vendor attribute name: not a spec name, and "vendor-name" (1.x `x-…`/`y-…`, 2.x any Vendor
 * Identification followed by a dash).
 */
export function isVendorAttributeName(name: string): boolean {
  return !tagBySpecName.has(name) && /^[^-]+-.+/.test(name)
}

/**
 * Tag of a spec attribute from its 1.x name, or undefined for custom/unknown names. The spec
 * spelling is looked up first; other spellings are normalised (KMIP Profiles §5.4.1.1) unless they
 * are vendor names.
 */
export function attributeTag(name: string): number | undefined {
  const exact = tagBySpecName.get(name)
  if (exact !== undefined) return exact
  // no spec name is near 256 characters: a longer one is not normalised (linear, but slow)
  if (name.length > 256 || isCustomAttributeName(name) || isVendorAttributeName(name))
    return undefined
  return tagByName(normalizeName(name))
}

/** 1.x Attribute Name for an attribute tag (`Tag.CryptographicAlgorithm` → "Cryptographic Algorithm"). */
export function attributeName(tag: number): string | undefined {
  const n = tagNameOf(tag)
  return n === undefined ? undefined : spaced(tagSpecName[n])
}

/** Parses one 1.x Attribute structure (KMIP 1.4 §2.1.1). */
export function parseAttributeV1(item: TtlvItem): KmipAttribute {
  checkType(item, 'Structure')
  const name = requiredValue(item, Tag.AttributeName, 'TextString')
  const index = optionalValue(item, Tag.AttributeIndex, 'Integer')
  const raw = children(item).find((c) => c.tag === Tag.AttributeValue)
  if (raw === undefined) {
    throw new KmipError('ERR_KMIP_MISSING_FIELD', `attribute ${name} has no Attribute Value`, {
      tag: Tag.AttributeValue,
    })
  }
  const tag = attributeTag(name)
  return {
    name,
    ...(index !== undefined && { index }),
    value: tag === undefined ? raw : retag(raw, tag),
  }
}

/** Builds one 1.x Attribute structure. */
export function buildAttributeV1(attr: KmipAttribute, withValue = true): TtlvItem {
  return structure(
    Tag.Attribute,
    present([
      text(Tag.AttributeName, attr.name),
      attr.index !== undefined && attr.index !== 0 && int(Tag.AttributeIndex, attr.index),
      withValue && retag(attr.value, Tag.AttributeValue),
    ]),
  )
}

/** Parses the children of a 2.x Attributes structure (KMIP 2.1 §7.2) or of a single attribute item. */
export function parseAttributeV2(item: TtlvItem): KmipAttribute {
  if (item.tag === Tag.Attribute) {
    // KMIP 2.x vendor attribute: an Attribute structure with Vendor Identification (2.1 §4.2);
    // without one (or with an empty one) the Attribute Name alone names it
    const vid = optionalValue(item, Tag.VendorIdentification, 'TextString')
    const an = requiredValue(item, Tag.AttributeName, 'TextString')
    const v = children(item).find((c) => c.tag === Tag.AttributeValue)
    if (v === undefined) {
      throw new KmipError(
        'ERR_KMIP_MISSING_FIELD',
        `vendor attribute ${an} has no Attribute Value`,
        {
          tag: Tag.AttributeValue,
        },
      )
    }
    return { name: vid !== undefined && vid !== '' ? `${vid}-${an}` : an, value: v }
  }
  const name = attributeName(item.tag)
  if (name === undefined) {
    throw new KmipError(
      'ERR_KMIP_INVALID_FIELD',
      `unknown attribute tag 0x${item.tag.toString(16)}`,
      { tag: item.tag },
    )
  }
  return { name, value: item }
}

/** Builds the 2.x encoding of one attribute (the value item itself, or a Vendor Attribute). */
export function buildAttributeV2(attr: KmipAttribute): TtlvItem {
  const tag = attributeTag(attr.name)
  if (tag !== undefined) return retag(attr.value, tag)
  const dash = attr.name.indexOf('-')
  const vid = dash > 0 ? attr.name.slice(0, dash) : 'x'
  const an = dash > 0 ? attr.name.slice(dash + 1) : attr.name
  return structure(Tag.Attribute, [
    text(Tag.VendorIdentification, vid),
    text(Tag.AttributeName, an),
    retag(attr.value, Tag.AttributeValue),
  ])
}

/**
 * Attributes from either encoding: a 1.x Template-Attribute (or Common/Private/Public Key
 * Template-Attribute) holding Attribute structures, a bare 1.x Attribute, or a 2.x Attributes
 * (Common/Private/Public Key Attributes) structure.
 */
export function parseAttributes(item: TtlvItem): KmipAttribute[] {
  if (item.tag === Tag.Attribute) {
    return [find(item, Tag.VendorIdentification) ? parseAttributeV2(item) : parseAttributeV1(item)]
  }
  const kids = children(item)
  const v1 =
    item.tag === Tag.TemplateAttribute ||
    item.tag === Tag.CommonTemplateAttribute ||
    item.tag === Tag.PrivateKeyTemplateAttribute ||
    item.tag === Tag.PublicKeyTemplateAttribute
  if (v1) {
    // A 1.x Template-Attribute may name Templates (deprecated since 1.3, not supported here)
    if (kids.some((c) => c.tag === Tag.Name))
      throw new KmipError(
        'ERR_KMIP_NOT_SUPPORTED',
        'named templates are not supported; pass the attributes',
        { tag: Tag.Name },
      )
    return kids.filter((c) => c.tag === Tag.Attribute).map(parseAttributeV1)
  }
  return kids.map(parseAttributeV2)
}

/** 1.x Template-Attribute (or another container tag) from attributes. */
export function buildTemplateAttribute(
  attrs: readonly KmipAttribute[],
  tag: number = Tag.TemplateAttribute,
): TtlvItem {
  return structure(
    tag,
    attrs.map((a) => buildAttributeV1(a)),
  )
}

/** 2.x Attributes (or Common/Private/Public Key Attributes) from attributes; custom `x-Name`
 * attributes become Attribute{Vendor Identification "x", Attribute Name "Name", Attribute Value}. */
export function buildAttributes(
  attrs: readonly KmipAttribute[],
  tag: number = Tag.Attributes,
): TtlvItem {
  return structure(tag, attrs.map(buildAttributeV2))
}

/** Builds the container for the version: 2.x Attributes or 1.x Template-Attribute. */
export function buildAttributesFor(
  v2: boolean,
  attrs: readonly KmipAttribute[],
  kind: 'template' | 'common' | 'private' | 'public' = 'template',
): TtlvItem {
  if (v2) {
    const tag = {
      template: Tag.Attributes,
      common: Tag.CommonAttributes,
      private: Tag.PrivateKeyAttributes,
      public: Tag.PublicKeyAttributes,
    }[kind]
    return buildAttributes(attrs, tag)
  }
  const tag = {
    template: Tag.TemplateAttribute,
    common: Tag.CommonTemplateAttribute,
    private: Tag.PrivateKeyTemplateAttribute,
    public: Tag.PublicKeyTemplateAttribute,
  }[kind]
  return buildTemplateAttribute(attrs, tag)
}

/** Convenience: an attribute from a spec name and a value item of any tag (retagged as needed). */
export function attr(name: string, value: TtlvItem, index?: number): KmipAttribute {
  const tag = attributeTag(name)
  return {
    name,
    ...(index !== undefined && { index }),
    value: retag(value, tag ?? Tag.AttributeValue),
  }
}
