/**
 * Field builders for KMIP payloads (KMIP 1.4 §2 and §4, 2.1 §2, §6 and §7): a payload is a plain
 * `as const` value naming its members in wire order, each with its tag, TTLV type and presence.
 * `decodeStructure` / `encodeStructure` in codec.ts read these declarations; `Infer` derives the
 * TypeScript type of a decoded payload, so no payload has hand-written parsing or building code.
 * The 1.x / 2.x differences are declared here too: attribute containers (Template-Attribute vs
 * Attributes), single attributes (Attribute vs tagged value), attribute references (Attribute
 * Name vs Attribute Reference), and members that exist in one major version only.
 */
import type { KmipAttribute } from '../message/attributes.js'
import type { TtlvItem, TtlvType } from '../ttlv/item.js'

/** A TTLV type other than Structure. */
export type ScalarType = Exclude<TtlvType, 'Structure'>

/** A primitive item (Integer, Text String, Byte String...). */
export interface ValueField<T extends ScalarType = ScalarType> {
  readonly kind: 'value'
  readonly tag: number
  readonly type: T
  /** Key material, plaintext: never printed (STYLE.md §3). */
  readonly sensitive: boolean
}
/** A Structure whose members are declared. */
export interface StructField<M extends Members = Members> {
  readonly kind: 'struct'
  readonly tag: number
  readonly members: M
}
/** An item kept as received (an object, an Authentication, an attribute's value...). */
export interface ItemField {
  readonly kind: 'item'
  /** The tags it may carry (the first child with one of them is taken). */
  readonly tags: readonly number[]
  /** The types it may have (any when absent). */
  readonly types?: readonly TtlvType[]
}
/**
 * Attributes of a new object: 1.x Template-Attribute (or Common / Private Key / Public Key
 * Template-Attribute) holding Attribute structures, 2.x Attributes (or Common / Private Key /
 * Public Key Attributes). Decoding accepts either form in any version (as peers send them);
 * encoding writes the form of the message's version.
 */
export interface AttributesField {
  readonly kind: 'attributes'
  readonly role: AttributesRole
}
/**
 * Which container: a new object's (template), a key pair's common / private / public ones, or
 * `list`: 1.x Attribute structures side by side in the payload, 2.x one Attributes structure
 * (Locate, Get Attributes); `list` is read in the message's version only.
 */
export type AttributesRole = 'template' | 'common' | 'private' | 'public' | 'list'
/** One attribute: 1.x Attribute structure; 2.x the value under its own tag, or a vendor Attribute. */
export interface AttributeField {
  readonly kind: 'attribute'
}
/** An attribute named: 1.x Attribute Name; 2.x Attribute Reference (a tag, or vendor and name). */
export interface AttributeReferenceField {
  readonly kind: 'attributeReference'
}

export type Field =
  ValueField | StructField | ItemField | AttributesField | AttributeField | AttributeReferenceField

export type Presence = 'required' | 'optional' | 'repeated'
/** A member of a structure: its field, presence, and the major versions that have it. */
export interface Member<F extends Field = Field, P extends Presence = Presence> {
  readonly field: F
  readonly presence: P
  /** Only in KMIP 1.x, or only in 2.x; both when absent. */
  readonly only?: 'v1' | 'v2'
}
export type Members = Readonly<Record<string, Member>>

const value =
  <T extends ScalarType>(type: T) =>
  (tag: number, o: { sensitive?: boolean } = {}): ValueField<T> => ({
    kind: 'value',
    tag,
    type,
    sensitive: o.sensitive ?? false,
  })

/** Integer (int32). */
export const integer = value('Integer')
/** Long Integer (int64, a bigint). */
export const longInteger = value('LongInteger')
/** Big Integer (a bigint). */
export const bigInteger = value('BigInteger')
/** Enumeration (a number; the tables in tables/enums.ts name the values). */
export const enumerated = value('Enumeration')
/** Boolean. */
export const boolean = value('Boolean')
/** Text String. */
export const textString = value('TextString')
/** Byte String; `sensitive` for key material and plaintext. */
export const byteString = value('ByteString')
/** Date-Time (seconds since the epoch, a bigint). */
export const dateTime = value('DateTime')
/** Interval (seconds). */
export const interval = value('Interval')

/** A Structure with declared members, in wire order. */
export const struct = <const M extends Members>(tag: number, members: M): StructField<M> => ({
  kind: 'struct',
  tag,
  members,
})
/** An item kept as a TtlvItem: one of `tags`, optionally of one of `types`. */
export const item = (
  tags: number | readonly number[],
  types?: TtlvType | readonly TtlvType[],
): ItemField => ({
  kind: 'item',
  tags: typeof tags === 'number' ? [tags] : tags,
  ...(types !== undefined && { types: typeof types === 'string' ? [types] : types }),
})
/** Attributes of a new object in the version's container (see AttributesField). */
export const attributes = (role: AttributesRole = 'template'): AttributesField => ({
  kind: 'attributes',
  role,
})
/** One attribute in the version's form. */
export const attribute = (): AttributeField => ({ kind: 'attribute' })
/** An attribute's name in the version's form. */
export const attributeReference = (): AttributeReferenceField => ({ kind: 'attributeReference' })

/** A member that must be present (decoding without it fails with ERR_KMIP_MISSING_FIELD). */
export const required = <const F extends Field>(field: F): Member<F, 'required'> => ({
  field,
  presence: 'required',
})
/** A member that may be absent. */
export const optional = <const F extends Field>(field: F): Member<F, 'optional'> => ({
  field,
  presence: 'optional',
})
/** A member that may occur any number of times (an array, [] when absent). */
export const repeated = <const F extends Field>(field: F): Member<F, 'repeated'> => ({
  field,
  presence: 'repeated',
})
/** The member exists in KMIP 1.x only: 2.x messages neither carry nor read it. */
export const v1Only = <const M extends Member>(m: M): M & { readonly only: 'v1' } => ({
  ...m,
  only: 'v1',
})
/** The member exists in KMIP 2.x only. */
export const v2Only = <const M extends Member>(m: M): M & { readonly only: 'v2' } => ({
  ...m,
  only: 'v2',
})

/** JS value of each scalar type. */
export interface ScalarValue {
  Integer: number
  LongInteger: bigint
  BigInteger: bigint
  Enumeration: number
  Boolean: boolean
  TextString: string
  ByteString: Uint8Array
  DateTime: bigint
  Interval: number
  DateTimeExtended: bigint
}

type Simplify<T> = { [K in keyof T]: T[K] } & {}

/** Decoded value of a field. */
export type FieldValue<F> =
  F extends ValueField<infer T>
    ? ScalarValue[T]
    : F extends StructField<infer M>
      ? Infer<M>
      : F extends ItemField
        ? TtlvItem
        : F extends AttributesField
          ? KmipAttribute[]
          : F extends AttributeField
            ? KmipAttribute
            : F extends AttributeReferenceField
              ? string
              : never

/** Members of one major version only are absent in the other: optional in the types. */
type VersionOnly = { readonly only: 'v1' | 'v2' }
type RequiredKeys<M extends Members> = {
  [K in keyof M]: M[K] extends { presence: 'optional' } | VersionOnly ? never : K
}[keyof M]
type OptionalKeys<M extends Members> = Exclude<keyof M, RequiredKeys<M>>
type MemberValue<X> =
  X extends Member<infer F, infer P>
    ? P extends 'repeated'
      ? FieldValue<F>[]
      : FieldValue<F>
    : never

/**
 * The decoded form of a structure's members (what `decodeStructure` returns and `encodeStructure`
 * takes): required and repeated members as keys, optional ones as `?:` keys.
 */
export type Infer<M extends Members> = Simplify<
  { -readonly [K in RequiredKeys<M>]: MemberValue<M[K]> } & {
    -readonly [K in OptionalKeys<M>]?: MemberValue<M[K]> | undefined
  }
>
/** The decoded form of a payload declaration. */
export type PayloadOf<S extends StructField> = Infer<S['members']>
/** Value accepted by the encoder for a field (nested structures in their input form). */
export type FieldInput<F> =
  F extends StructField<infer M>
    ? InputOf<M>
    : F extends AttributesField
      ? readonly KmipAttribute[]
      : FieldValue<F>
type InputValue<X> =
  X extends Member<infer F, infer P>
    ? P extends 'repeated'
      ? readonly FieldInput<F>[]
      : FieldInput<F>
    : never
type MandatoryKeys<M extends Members> = {
  [K in keyof M]: M[K] extends VersionOnly
    ? never
    : M[K] extends { presence: 'required' }
      ? K
      : never
}[keyof M]
type OmittableKeys<M extends Members> = Exclude<keyof M, MandatoryKeys<M>>
/**
 * What `encodeStructure` takes: required members as keys; optional and repeated ones may be
 * omitted (or undefined).
 */
export type InputOf<M extends Members> = Simplify<
  { -readonly [K in MandatoryKeys<M>]: InputValue<M[K]> } & {
    -readonly [K in OmittableKeys<M>]?: InputValue<M[K]> | undefined
  }
>
/** The input form of a payload declaration. */
export type PayloadInput<S extends StructField> = InputOf<S['members']>
