/**
 * Binary TTLV codec (KMIP 1.4 §9.1.1, 2.1 §10.1): 3-byte tag, 1-byte type, 4-byte length, value
 * padded to a multiple of 8. Server-local until @ward/kmip exports its codec; same item shape.
 */
import { KmsError } from '../errors.js'
import { tagNames } from './tags.js'

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

/** Same contract as packages/kmip/src/ttlv/item.ts. */
export type TtlvItem =
  | { readonly tag: number; readonly type: 'Structure'; readonly value: readonly TtlvItem[] }
  | { readonly tag: number; readonly type: 'Integer'; readonly value: number }
  | { readonly tag: number; readonly type: 'LongInteger'; readonly value: bigint }
  | { readonly tag: number; readonly type: 'BigInteger'; readonly value: bigint }
  | { readonly tag: number; readonly type: 'Enumeration'; readonly value: number }
  | { readonly tag: number; readonly type: 'Boolean'; readonly value: boolean }
  | { readonly tag: number; readonly type: 'TextString'; readonly value: string }
  | { readonly tag: number; readonly type: 'ByteString'; readonly value: Uint8Array }
  | { readonly tag: number; readonly type: 'DateTime'; readonly value: bigint }
  | { readonly tag: number; readonly type: 'Interval'; readonly value: number }
  | { readonly tag: number; readonly type: 'DateTimeExtended'; readonly value: bigint }

export interface Limits {
  readonly maxDepth: number
  readonly maxItemBytes: number
  readonly maxMessageBytes: number
  readonly maxItems: number
}

export const defaultLimits: Limits = {
  maxDepth: 64,
  maxItemBytes: 1 << 20,
  maxMessageBytes: 16 << 20,
  maxItems: 100_000,
}

/** KMIP 1.4 §9.1.1.2 Item Type codes. */
const typeCodes: Record<TtlvType, number> = {
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
}
const typeByCode = new Map<number, TtlvType>(
  Object.entries(typeCodes).map(([k, v]) => [v, k as TtlvType]),
)

const decodeError = (msg: string, offset: number): KmsError =>
  new KmsError('ERR_KMS_TTLV_DECODE', `${msg} at offset ${offset}`, 'InvalidMessage')

const pad8 = (n: number): number => (n + 7) & ~7

/** Decode exactly one TTLV item spanning the whole buffer; trailing bytes are an error. */
export function decodeTtlv(buf: Uint8Array, limits: Limits = defaultLimits): TtlvItem {
  if (buf.length > limits.maxMessageBytes) throw decodeError('message too large', 0)
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  const state = { items: 0 }
  const [item, end] = decodeAt(buf, view, 0, buf.length, 0, limits, state)
  if (end !== buf.length) throw decodeError('trailing bytes', end)
  return item
}

function decodeAt(
  buf: Uint8Array,
  view: DataView,
  off: number,
  limit: number,
  depth: number,
  limits: Limits,
  state: { items: number },
): [TtlvItem, number] {
  if (depth > limits.maxDepth) throw decodeError('nesting too deep', off)
  if (++state.items > limits.maxItems) throw decodeError('too many items', off)
  if (off + 8 > limit) throw decodeError('truncated header', off)
  const tag = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!
  // Strict mode (STYLE.md §3): only tags of the KMIP table or the 0x54xxxx extension range.
  if (buf[off] !== 0x54 && !tagNames.has(tag))
    throw decodeError(`unknown tag 0x${tag.toString(16)}`, off)
  const type = typeByCode.get(buf[off + 3]!)
  if (type === undefined)
    throw decodeError(`unknown item type 0x${buf[off + 3]!.toString(16)}`, off)
  const len = view.getUint32(off + 4)
  const start = off + 8
  if (len > limits.maxItemBytes && type !== 'Structure') throw decodeError('item too long', off)
  const padded = pad8(len)
  if (start + padded > limit) throw decodeError('length beyond enclosing item', off)
  const end = start + padded
  for (let i = start + len; i < end; i++) if (buf[i] !== 0) throw decodeError('non-zero padding', i)
  const fixed = (n: number): void => {
    if (len !== n) throw decodeError(`${type} length must be ${n}`, off)
  }
  switch (type) {
    case 'Structure': {
      const children: TtlvItem[] = []
      let p = start
      while (p < start + len) {
        const [child, next] = decodeAt(buf, view, p, start + len, depth + 1, limits, state)
        children.push(child)
        p = next
      }
      if (p !== start + len) throw decodeError('structure length mismatch', off)
      return [{ tag, type, value: children }, end]
    }
    case 'Integer':
    case 'Enumeration':
    case 'Interval':
      fixed(4)
      return [
        type === 'Integer'
          ? { tag, type, value: view.getInt32(start) }
          : { tag, type, value: view.getUint32(start) },
        end,
      ]
    case 'LongInteger':
      fixed(8)
      return [{ tag, type, value: view.getBigInt64(start) }, end]
    case 'DateTime':
    case 'DateTimeExtended':
      fixed(8)
      return [{ tag, type, value: view.getBigInt64(start) }, end]
    case 'Boolean': {
      fixed(8)
      const v = view.getBigUint64(start)
      if (v > 1n) throw decodeError('boolean must be 0 or 1', off)
      return [{ tag, type, value: v === 1n }, end]
    }
    case 'BigInteger': {
      if (len === 0 || len % 8 !== 0)
        throw decodeError('big integer length must be a multiple of 8', off)
      let v = 0n
      for (let i = 0; i < len; i++) v = (v << 8n) | BigInt(buf[start + i]!)
      if (buf[start]! & 0x80) v -= 1n << BigInt(len * 8)
      return [{ tag, type, value: v }, end]
    }
    case 'TextString': {
      let s: string
      try {
        s = new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(start, start + len))
      } catch {
        throw decodeError('text string is not UTF-8', off)
      }
      return [{ tag, type, value: s }, end]
    }
    case 'ByteString':
      return [{ tag, type, value: new Uint8Array(buf.subarray(start, start + len)) }, end]
  }
}

const enc = new TextEncoder()

/** Encode one item tree into binary TTLV. */
export function encodeTtlv(item: TtlvItem): Uint8Array {
  const out = new Uint8Array(sizeOf(item))
  const view = new DataView(out.buffer)
  writeAt(item, out, view, 0)
  return out
}

function valueLen(item: TtlvItem): number {
  switch (item.type) {
    case 'Structure':
      return item.value.reduce((n, c) => n + sizeOf(c), 0)
    case 'Integer':
    case 'Enumeration':
    case 'Interval':
      return 4
    case 'TextString':
      return enc.encode(item.value).length
    case 'ByteString':
      return item.value.length
    case 'BigInteger':
      return bigIntBytes(item.value).length
    default:
      return 8
  }
}

const sizeOf = (item: TtlvItem): number => 8 + pad8(valueLen(item))

function bigIntBytes(v: bigint): Uint8Array {
  let n = 8
  while (v >= 1n << BigInt(n * 8 - 1) || v < -(1n << BigInt(n * 8 - 1))) n += 8
  const out = new Uint8Array(n)
  let x = v < 0n ? (1n << BigInt(n * 8)) + v : v
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(x & 0xffn)
    x >>= 8n
  }
  return out
}

function writeAt(item: TtlvItem, out: Uint8Array, view: DataView, off: number): number {
  out[off] = (item.tag >> 16) & 0xff
  out[off + 1] = (item.tag >> 8) & 0xff
  out[off + 2] = item.tag & 0xff
  out[off + 3] = typeCodes[item.type]
  const s = off + 8
  switch (item.type) {
    case 'Structure': {
      let p = s
      for (const c of item.value) p = writeAt(c, out, view, p)
      view.setUint32(off + 4, p - s)
      return p
    }
    case 'Integer':
      view.setUint32(off + 4, 4)
      view.setInt32(s, item.value)
      return s + 8
    case 'Enumeration':
    case 'Interval':
      view.setUint32(off + 4, 4)
      view.setUint32(s, item.value >>> 0)
      return s + 8
    case 'LongInteger':
    case 'DateTime':
    case 'DateTimeExtended':
      view.setUint32(off + 4, 8)
      view.setBigInt64(s, item.value)
      return s + 8
    case 'Boolean':
      view.setUint32(off + 4, 8)
      view.setBigUint64(s, item.value ? 1n : 0n)
      return s + 8
    case 'BigInteger': {
      const b = bigIntBytes(item.value)
      view.setUint32(off + 4, b.length)
      out.set(b, s)
      return s + pad8(b.length)
    }
    case 'TextString': {
      const b = enc.encode(item.value)
      view.setUint32(off + 4, b.length)
      out.set(b, s)
      return s + pad8(b.length)
    }
    case 'ByteString':
      view.setUint32(off + 4, item.value.length)
      out.set(item.value, s)
      return s + pad8(item.value.length)
  }
}
