import { KmipError } from '../errors.js'
import type { TtlvItem } from './item.js'
import { bigIntLayout, writeBigInt, type BigIntLayout } from './bigint.js'
import { padded, typeCode } from './types.js'

const utf8 = new TextEncoder()
const INT64_MIN = -(1n << 63n)
const INT64_MAX = (1n << 63n) - 1n

/**
 * Encodes an item tree to binary TTLV (KMIP 1.4 §9.1, 2.1 §10.1). Values out of their type's
 * range throw ERR_TTLV_ENCODE. Big Integers use the shortest two's complement form padded
 * (sign-extended) to a multiple of 8 bytes.
 */
export function encodeTtlv(item: TtlvItem): Uint8Array {
  // Structure lengths, and the layout of Big Integers beyond 64 bits (computed once)
  const sizes = new Map<TtlvItem, number | BigIntLayout>()
  const total = measure(item, sizes, 0)
  const out = new Uint8Array(total)
  const view = new DataView(out.buffer)
  write(item, out, view, 0, sizes)
  return out
}

function fail(item: TtlvItem, msg: string): never {
  throw new KmipError('ERR_TTLV_ENCODE', `tag 0x${item.tag.toString(16)}: ${msg}`, {
    tag: item.tag,
  })
}

/** Value length (unpadded) of an item, checking ranges; structure sizes are cached. */
function measure(
  item: TtlvItem,
  sizes: Map<TtlvItem, number | BigIntLayout>,
  depth: number,
): number {
  if (!Number.isInteger(item.tag) || item.tag < 0 || item.tag > 0xffffff)
    fail(item, 'tag out of range')
  if (depth > 1000) fail(item, 'tree too deep')
  let len: number
  switch (item.type) {
    case 'Structure': {
      len = 0
      for (const c of item.value) len += measure(c, sizes, depth + 1)
      break
    }
    case 'Integer':
      if (!Number.isInteger(item.value) || item.value < -0x80000000 || item.value > 0x7fffffff)
        fail(item, 'not an int32')
      len = 4
      break
    case 'Enumeration':
    case 'Interval':
      if (!Number.isInteger(item.value) || item.value < 0 || item.value > 0xffffffff)
        fail(item, 'not a uint32')
      len = 4
      break
    case 'LongInteger':
    case 'DateTime':
    case 'DateTimeExtended':
      if (typeof item.value !== 'bigint' || item.value < INT64_MIN || item.value > INT64_MAX)
        fail(item, 'not an int64')
      len = 8
      break
    case 'BigInteger': {
      if (typeof item.value !== 'bigint') fail(item, 'not a bigint')
      if (item.value >= INT64_MIN && item.value <= INT64_MAX) len = 8
      else {
        // linear in the value's size (bigint.ts)
        const l = bigIntLayout(item.value)
        sizes.set(item, l)
        len = l.bytes
      }
      break
    }
    case 'Boolean':
      if (typeof item.value !== 'boolean') fail(item, 'not a boolean')
      len = 8
      break
    case 'TextString':
      if (typeof item.value !== 'string') fail(item, 'not a string')
      len = utf8.encode(item.value).length
      break
    case 'ByteString':
      if (!(item.value instanceof Uint8Array)) fail(item, 'not a Uint8Array')
      len = item.value.length
      break
    default:
      fail(item, 'unknown item type')
  }
  if (item.type === 'Structure') sizes.set(item, len)
  return 8 + padded(len)
}

function write(
  item: TtlvItem,
  out: Uint8Array,
  v: DataView,
  off: number,
  sizes: Map<TtlvItem, number | BigIntLayout>,
): number {
  v.setUint8(off, (item.tag >> 16) & 0xff)
  v.setUint16(off + 1, item.tag & 0xffff)
  v.setUint8(off + 3, typeCode[item.type])
  const p = off + 8
  let len: number
  switch (item.type) {
    case 'Structure': {
      len = (sizes.get(item) as number | undefined) ?? 0
      let q = p
      for (const c of item.value) q = write(c, out, v, q, sizes)
      break
    }
    case 'Integer':
      v.setInt32(p, item.value)
      len = 4
      break
    case 'Enumeration':
    case 'Interval':
      v.setUint32(p, item.value)
      len = 4
      break
    case 'LongInteger':
    case 'DateTime':
    case 'DateTimeExtended':
      v.setBigInt64(p, item.value)
      len = 8
      break
    case 'BigInteger': {
      const l = sizes.get(item) as BigIntLayout | undefined
      if (l === undefined) {
        v.setBigInt64(p, item.value)
        len = 8
      } else {
        writeBigInt(l, out, p)
        len = l.bytes
      }
      break
    }
    case 'Boolean':
      v.setBigUint64(p, item.value ? 1n : 0n)
      len = 8
      break
    case 'TextString': {
      const b = utf8.encode(item.value)
      out.set(b, p)
      len = b.length
      break
    }
    case 'ByteString':
      out.set(item.value, p)
      len = item.value.length
      break
  }
  v.setUint32(off + 4, len)
  return p + padded(len)
}
