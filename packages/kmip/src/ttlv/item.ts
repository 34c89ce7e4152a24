/**
 * The generic TTLV item tree (KMIP 1.4 §9.1, 2.1 §10.1): what the codec decodes to and encodes
 * from, and what the XML and JSON encodings map to. Operation schemas read and build these.
 * (Contract shared by the codec, the server and the client; keep it stable.)
 */
export type TtlvType =
  | 'Structure'
  | 'Integer'
  | 'LongInteger'
  | 'BigInteger'
  | 'Enumeration'
  | 'Boolean'
  | 'TextString'
  | 'ByteString'
  | 'DateTime'
  | 'Interval'
  | 'DateTimeExtended'

export type TtlvItem =
  | { readonly tag: number; readonly type: 'Structure'; readonly value: readonly TtlvItem[] }
  | { readonly tag: number; readonly type: 'Integer'; readonly value: number }
  | { readonly tag: number; readonly type: 'LongInteger'; readonly value: bigint }
  | { readonly tag: number; readonly type: 'BigInteger'; readonly value: bigint }
  | { readonly tag: number; readonly type: 'Enumeration'; readonly value: number }
  | { readonly tag: number; readonly type: 'Boolean'; readonly value: boolean }
  | { readonly tag: number; readonly type: 'TextString'; readonly value: string }
  | { readonly tag: number; readonly type: 'ByteString'; readonly value: Uint8Array }
  /** Seconds since the epoch (KMIP Date-Time is a 64-bit count of seconds). */
  | { readonly tag: number; readonly type: 'DateTime'; readonly value: bigint }
  | { readonly tag: number; readonly type: 'Interval'; readonly value: number }
  /** Microseconds since the epoch (KMIP 2.x). */
  | { readonly tag: number; readonly type: 'DateTimeExtended'; readonly value: bigint }

/**
 * Decoder bounds (STYLE.md §3): defaults depth 64, item 1 MiB, message 16 MiB, 100,000 items,
 * Big Integer 8 KiB.
 */
export interface Limits {
  readonly maxDepth: number
  readonly maxItemBytes: number
  readonly maxMessageBytes: number
  /** Maximum number of items in one message. */
  readonly maxItems: number
  /**
   * Largest Big Integer value, in bytes. KMIP carries Big Integers only as key components
   * (Transparent RSA/DSA/DH/EC keys, KMIP 1.4 §2.1.7): the largest any operation needs is an
   * RSA-16384 modulus (2,056 bytes with its sign byte) or an 8192-bit DH prime (1,032 bytes).
   * The default, 8 KiB (65,536 bits), is four times that; larger values are refused before any
   * work is done on them.
   */
  readonly maxBigIntegerBytes: number
}

export const defaultLimits: Limits = {
  maxDepth: 64,
  maxItemBytes: 1 << 20,
  maxMessageBytes: 16 << 20,
  maxItems: 100_000,
  maxBigIntegerBytes: 8 << 10,
}
