import type { TtlvItem } from './item.js'

// Small builders for item trees: `structure(Tag.RequestMessage, [ ... ])`, `text(Tag.Name, 'k1')`...
// Each returns a plain TtlvItem (see item.ts).

/** Structure; `undefined` entries (absent optional fields) are dropped. */
export const structure = (tag: number, value: readonly (TtlvItem | undefined)[]): TtlvItem => ({
  tag,
  type: 'Structure',
  value: value.includes(undefined) ? value.filter((v) => v !== undefined) : (value as TtlvItem[]),
})
/** Integer (int32). */
export const int = (tag: number, value: number): TtlvItem => ({ tag, type: 'Integer', value })
/** Long Integer (int64). */
export const long = (tag: number, value: bigint | number): TtlvItem => ({
  tag,
  type: 'LongInteger',
  value: BigInt(value),
})
/** Big Integer. */
export const big = (tag: number, value: bigint): TtlvItem => ({ tag, type: 'BigInteger', value })
/** Enumeration (uint32). */
export const enumeration = (tag: number, value: number): TtlvItem => ({
  tag,
  type: 'Enumeration',
  value,
})
/** Boolean. */
export const bool = (tag: number, value: boolean): TtlvItem => ({ tag, type: 'Boolean', value })
/** Text String (UTF-8). */
export const text = (tag: number, value: string): TtlvItem => ({ tag, type: 'TextString', value })
/** Byte String. */
export const bytes = (tag: number, value: Uint8Array): TtlvItem => ({
  tag,
  type: 'ByteString',
  value,
})
/** Date-Time from a Date, or seconds since the epoch. */
export const date = (tag: number, value: Date | bigint | number): TtlvItem => ({
  tag,
  type: 'DateTime',
  value: value instanceof Date ? BigInt(Math.floor(value.getTime() / 1000)) : BigInt(value),
})
/** Date-Time Extended (microseconds since the epoch, KMIP 2.0+). */
export const dateExt = (tag: number, micros: bigint): TtlvItem => ({
  tag,
  type: 'DateTimeExtended',
  value: micros,
})
/** Interval (seconds, uint32). */
export const interval = (tag: number, seconds: number): TtlvItem => ({
  tag,
  type: 'Interval',
  value: seconds,
})

/** Drops undefined entries, so optional fields can be written inline: `structure(T, present([a, b && x]))`. */
export function present(items: readonly (TtlvItem | undefined | false)[]): TtlvItem[] {
  return items.filter((i): i is TtlvItem => i !== undefined && i !== false)
}
