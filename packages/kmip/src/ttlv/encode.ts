import { KmipError } from '../errors.js'
import type { TtlvItem } from './item.js'
import { bigIntLayout, writeBigInt, type BigIntLayout } from './bigint.js'
import { padded, typeCode } from './types.js'

const INT64_MIN = -(1n << 63n)
const INT64_MAX = (1n << 63n) - 1n

/**
 * Encodes an item tree to binary TTLV (KMIP 1.4 §9.1, 2.1 §10.1). Values out of their type's
 * range throw ERR_TTLV_ENCODE. Big Integers use the shortest two's complement form padded
 * (sign-extended) to a multiple of 8 bytes.
 *
 * Two passes over the tree: `measure` checks every value and records, in visiting order, what
 * `write` needs and cannot see at once (each Structure's length, each Text String's UTF-8 length,
 * each large Big Integer's layout); `write` then fills one buffer of the exact size, reading those
 * records in the same order. Text is encoded straight into the output (no per-string copy).
 */
export function encodeTtlv(item: TtlvItem): Uint8Array {
  const plan: Plan = []
  const total = measure(item, plan, 0)
  const out = new Uint8Array(total)
  const w: Writer = {
    out,
    view: new DataView(out.buffer),
    text: Buffer.from(out.buffer, out.byteOffset, out.byteLength),
    plan,
    next: 0,
  }
  write(item, w, 0)
  return out
}

/**
 * What `measure` found, in visiting order: a Structure's value length, a Text String's UTF-8
 * length, a Big Integer's layout (one beyond 64 bits).
 */
type Plan = (number | BigIntLayout)[]

interface Writer {
  readonly out: Uint8Array
  readonly view: DataView
  /** `out` as a Buffer, to write UTF-8 text in place. */
  readonly text: Buffer
  readonly plan: Plan
  /** The next record of `plan` to read. */
  next: number
}

function fail(item: TtlvItem, msg: string): never {
  throw new KmipError('ERR_TTLV_ENCODE', `tag 0x${item.tag.toString(16)}: ${msg}`, {
    tag: item.tag,
  })
}

/** Encoded length (header and padding included) of an item, checking ranges; see {@link Plan}. */
function measure(item: TtlvItem, plan: Plan, depth: number): number {
  if (!Number.isInteger(item.tag) || item.tag < 0 || item.tag > 0xffffff)
    fail(item, 'tag out of range')
  if (depth > 1000) fail(item, 'tree too deep')
  let len: number
  switch (item.type) {
    case 'Structure': {
      // its record is reserved before its children's, and filled in once they are measured
      const at = plan.push(0) - 1
      len = 0
      for (const c of item.value) len += measure(c, plan, depth + 1)
      plan[at] = len
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
        plan.push(l)
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
      // the length of the UTF-8 TextEncoder writes (a lone surrogate as U+FFFD), without encoding
      len = Buffer.byteLength(item.value, 'utf8')
      plan.push(len)
      break
    case 'ByteString':
      if (!(item.value instanceof Uint8Array)) fail(item, 'not a Uint8Array')
      len = item.value.length
      break
    default:
      fail(item, 'unknown item type')
  }
  return 8 + padded(len)
}

function write(item: TtlvItem, w: Writer, off: number): number {
  const v = w.view
  v.setUint8(off, (item.tag >> 16) & 0xff)
  v.setUint16(off + 1, item.tag & 0xffff)
  v.setUint8(off + 3, typeCode[item.type])
  const p = off + 8
  let len: number
  switch (item.type) {
    case 'Structure': {
      len = w.plan[w.next++] as number
      let q = p
      for (const c of item.value) q = write(c, w, q)
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
      if (item.value >= INT64_MIN && item.value <= INT64_MAX) {
        v.setBigInt64(p, item.value)
        len = 8
      } else {
        const l = w.plan[w.next++] as BigIntLayout
        writeBigInt(l, w.out, p)
        len = l.bytes
      }
      break
    }
    case 'Boolean':
      v.setBigUint64(p, item.value ? 1n : 0n)
      len = 8
      break
    case 'TextString': {
      len = w.plan[w.next++] as number
      if (len > 0) w.text.write(item.value, p, len, 'utf8')
      break
    }
    case 'ByteString':
      w.out.set(item.value, p)
      len = item.value.length
      break
  }
  v.setUint32(off + 4, len)
  return p + padded(len)
}
