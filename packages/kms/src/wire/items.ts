/** Small helpers to read and build TTLV item trees without per-structure code. */
import { invalidField, missingData } from '../errors.js'
import { tagNames } from './tags.js'
import type { TtlvItem } from './ttlv.js'

interface ValueOf {
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

export const struct = (tag: number, value: readonly (TtlvItem | undefined)[]): TtlvItem => ({
  tag,
  type: 'Structure',
  value: value.filter((v): v is TtlvItem => v !== undefined),
})
export const int = (tag: number, value: number): TtlvItem => ({ tag, type: 'Integer', value })
export const long = (tag: number, value: bigint): TtlvItem => ({ tag, type: 'LongInteger', value })
export const enumv = (tag: number, value: number): TtlvItem => ({ tag, type: 'Enumeration', value })
export const bool = (tag: number, value: boolean): TtlvItem => ({ tag, type: 'Boolean', value })
export const text = (tag: number, value: string): TtlvItem => ({ tag, type: 'TextString', value })
export const bytes = (tag: number, value: Uint8Array): TtlvItem => ({
  tag,
  type: 'ByteString',
  value,
})
export const date = (tag: number, value: bigint): TtlvItem => ({ tag, type: 'DateTime', value })
export const bigint = (tag: number, value: bigint): TtlvItem => ({ tag, type: 'BigInteger', value })

const name = (tag: number): string => tagNames.get(tag) ?? `0x${tag.toString(16)}`

/** Children of a structure (an error if `item` is not one). */
export function children(item: TtlvItem): readonly TtlvItem[] {
  if (item.type !== 'Structure') throw invalidField(`${name(item.tag)} must be a Structure`)
  return item.value
}

/** First child with `tag`, or undefined. */
export function find(s: TtlvItem | undefined, tag: number): TtlvItem | undefined {
  if (s === undefined) return undefined
  return children(s).find((c) => c.tag === tag)
}

export function findAll(s: TtlvItem | undefined, tag: number): TtlvItem[] {
  if (s === undefined) return []
  return children(s).filter((c) => c.tag === tag)
}

/** First child with `tag` and the expected type, or undefined; a wrong type is Invalid Field. */
export function opt<T extends TtlvItem['type']>(
  s: TtlvItem | undefined,
  tag: number,
  type: T,
): ValueOf[T] | undefined {
  const c = find(s, tag)
  if (c === undefined) return undefined
  if (c.type !== type) throw invalidField(`${name(tag)} must be ${type}, got ${c.type}`)
  return c.value as unknown as ValueOf[T]
}

export function req<T extends TtlvItem['type']>(
  s: TtlvItem | undefined,
  tag: number,
  type: T,
): ValueOf[T] {
  const v = opt(s, tag, type)
  if (v === undefined) throw missingData(`${name(tag)} is required`)
  return v
}

/** Re-tag an item (2.x tagged attributes ↔ 1.x Attribute Value). */
export const retag = (item: TtlvItem, tag: number): TtlvItem => ({ ...item, tag }) as TtlvItem

/** JSON form for storage of non-secret attribute values. */
export type JsonItem = [number, TtlvItem['type'], unknown]

export function toJsonItem(item: TtlvItem): JsonItem {
  switch (item.type) {
    case 'Structure':
      return [item.tag, item.type, item.value.map(toJsonItem)]
    case 'LongInteger':
    case 'BigInteger':
    case 'DateTime':
    case 'DateTimeExtended':
      return [item.tag, item.type, item.value.toString()]
    case 'ByteString':
      return [item.tag, item.type, Buffer.from(item.value).toString('hex')]
    default:
      return [item.tag, item.type, item.value]
  }
}

export function fromJsonItem(j: JsonItem): TtlvItem {
  const [tag, type, v] = j
  switch (type) {
    case 'Structure':
      return { tag, type, value: (v as JsonItem[]).map(fromJsonItem) }
    case 'LongInteger':
    case 'BigInteger':
    case 'DateTime':
    case 'DateTimeExtended':
      return { tag, type, value: BigInt(v as string) }
    case 'ByteString':
      return { tag, type, value: Buffer.from(v as string, 'hex') }
    case 'Integer':
    case 'Enumeration':
    case 'Interval':
      return { tag, type, value: v as number }
    case 'Boolean':
      return { tag, type, value: v as boolean }
    case 'TextString':
      return { tag, type, value: v as string }
  }
}

/** Structural equality of two items (Locate matching). */
export function sameItem(a: TtlvItem, b: TtlvItem): boolean {
  if (a.type !== b.type) return false
  if (a.type === 'Structure' && b.type === 'Structure') {
    return (
      a.value.length === b.value.length &&
      a.value.every((c, i) => c.tag === b.value[i]!.tag && sameItem(c, b.value[i]!))
    )
  }
  if (a.type === 'ByteString' && b.type === 'ByteString')
    return Buffer.from(a.value).equals(Buffer.from(b.value))
  return a.value === b.value
}
