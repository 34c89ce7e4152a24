import type { TtlvType } from './item.js'

/** Item type codes (KMIP 1.4 §9.1.1.2, 2.1 §10.1.1.2; 0x0B Date-Time Extended is 2.0+). */
export const typeCode = {
  Structure: 0x01,
  Integer: 0x02,
  LongInteger: 0x03,
  BigInteger: 0x04,
  Enumeration: 0x05,
  Boolean: 0x06,
  TextString: 0x07,
  ByteString: 0x08,
  DateTime: 0x09,
  Interval: 0x0a,
  DateTimeExtended: 0x0b,
} as const satisfies Record<TtlvType, number>

/** Reverse of {@link typeCode}; index = type byte. */
export const typeByCode: readonly (TtlvType | undefined)[] = (() => {
  const out: (TtlvType | undefined)[] = []
  for (const [name, code] of Object.entries(typeCode) as [TtlvType, number][]) out[code] = name
  return out
})()

/** Fixed value lengths (before padding); undefined = variable. */
export const fixedLength: Partial<Record<TtlvType, number>> = {
  Integer: 4,
  LongInteger: 8,
  Enumeration: 4,
  Boolean: 8,
  DateTime: 8,
  Interval: 4,
  DateTimeExtended: 8,
}

/** Every item is padded to a multiple of 8 bytes (KMIP 1.4 §9.1.1.3). */
export function padded(n: number): number {
  return Math.ceil(n / 8) * 8
}
