import { KmipError } from '../errors.js'
import { tagNameOf } from '../tables/tags.js'
import type { TtlvItem, TtlvType } from './item.js'

type Of<T extends TtlvType> = Extract<TtlvItem, { type: T }>

/** JS value type carried by each item type. */
export interface TtlvValueMap {
  Structure: readonly TtlvItem[]
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
type V<T extends TtlvType> = TtlvValueMap[T]

/** Human name for a tag in error messages. */
export function tagLabel(tag: number): string {
  return tagNameOf(tag) ?? `0x${tag.toString(16).toUpperCase().padStart(6, '0')}`
}

/** Children of a structure (ERR_KMIP_FIELD_TYPE if `item` is not one). */
export function children(item: TtlvItem): readonly TtlvItem[] {
  if (item.type !== 'Structure') {
    throw new KmipError('ERR_KMIP_FIELD_TYPE', `${tagLabel(item.tag)} must be a Structure`, {
      tag: item.tag,
    })
  }
  return item.value
}

/** First child with `tag`, or undefined (also when `item` itself is absent: optional parents). */
export function find(item: TtlvItem | undefined, tag: number): TtlvItem | undefined {
  return item === undefined ? undefined : children(item).find((c) => c.tag === tag)
}

/** Every child with `tag`, in order ([] when `item` is absent). */
export function findAll(item: TtlvItem | undefined, tag: number): TtlvItem[] {
  return item === undefined ? [] : children(item).filter((c) => c.tag === tag)
}

/** Checks the type of an item (ERR_KMIP_FIELD_TYPE otherwise). */
export function checkType<T extends TtlvType>(item: TtlvItem, type: T): Of<T> {
  if (item.type !== type) {
    throw new KmipError(
      'ERR_KMIP_FIELD_TYPE',
      `${tagLabel(item.tag)} must be ${type}, got ${item.type}`,
      {
        tag: item.tag,
      },
    )
  }
  return item as Of<T>
}

/** Optional child of a given type: undefined if absent, ERR_KMIP_FIELD_TYPE if of another type. */
export function optionalValue<T extends TtlvType>(
  parent: TtlvItem | undefined,
  tag: number,
  type: T,
): V<T> | undefined {
  const c = find(parent, tag)
  return c === undefined ? undefined : (checkType(c, type).value as V<T>)
}

/** Required child of a given type: ERR_KMIP_MISSING_FIELD if absent (or if `parent` is). */
export function requiredValue<T extends TtlvType>(
  parent: TtlvItem | undefined,
  tag: number,
  type: T,
): V<T> {
  const c = find(parent, tag)
  if (c === undefined) {
    const where = parent === undefined ? 'request payload' : tagLabel(parent.tag)
    throw new KmipError('ERR_KMIP_MISSING_FIELD', `${where} lacks ${tagLabel(tag)}`, { tag })
  }
  return checkType(c, type).value as V<T>
}

/** Required child structure. */
export function requiredStructure(parent: TtlvItem, tag: number): TtlvItem {
  const c = find(parent, tag)
  if (c === undefined) {
    throw new KmipError(
      'ERR_KMIP_MISSING_FIELD',
      `${tagLabel(parent.tag)} lacks ${tagLabel(tag)}`,
      { tag },
    )
  }
  checkType(c, 'Structure')
  return c
}

/** Optional child structure. */
export function optionalStructure(parent: TtlvItem, tag: number): TtlvItem | undefined {
  const c = find(parent, tag)
  if (c !== undefined) checkType(c, 'Structure')
  return c
}

/** Every child with `tag`, each checked for `type`, as values. */
export function allValues<T extends TtlvType>(parent: TtlvItem, tag: number, type: T): V<T>[] {
  return findAll(parent, tag).map((c) => checkType(c, type).value as V<T>)
}

/** The same item under another tag (2.x tagged attribute values ↔ 1.x Attribute Value). */
export function retag(item: TtlvItem, tag: number): TtlvItem {
  return item.tag === tag ? item : ({ ...item, tag } as TtlvItem)
}

/**
 * Equality of two values (Locate matching, attribute edits): same type and value, structures with
 * the same children (tags included) in order, Byte Strings by content. The two top-level tags are
 * not compared, since the same value travels as Attribute Value in 1.x and under its own tag in 2.x.
 */
export function sameItem(a: TtlvItem, b: TtlvItem): boolean {
  if (a.type !== b.type) return false
  if (a.type === 'Structure' && b.type === 'Structure') {
    return (
      a.value.length === b.value.length &&
      a.value.every((c, i) => c.tag === b.value[i]!.tag && sameItem(c, b.value[i]!))
    )
  }
  if (a.type === 'ByteString' && b.type === 'ByteString') {
    return a.value.length === b.value.length && a.value.every((x, i) => x === b.value[i])
  }
  return a.value === b.value
}
