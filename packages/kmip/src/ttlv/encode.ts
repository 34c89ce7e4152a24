import { KmipError } from '../errors.js'
import type { TtlvItem, TtlvType } from './item.js'
import { bigIntLayout, writeBigInt, type BigIntLayout } from './bigint.js'
import { padded, typeCode } from './types.js'

const INT64_MIN = -(1n << 63n)
const INT64_MAX = (1n << 63n) - 1n

/**
 * Encodes an item tree to binary TTLV (KMIP 1.4 §9.1, 2.1 §10.1). Values out of their type's
 * range throw ERR_TTLV_ENCODE. Big Integers use the shortest two's complement form padded
 * (sign-extended) to a multiple of 8 bytes.
 *
 * Two passes over the tree: `measureItem` checks every value and records, in visiting order,
 * what `writeItem` needs and cannot see at once (each Structure's length, each Text String's
 * UTF-8 length, each large Big Integer's layout); `writeItem` then fills one buffer of the exact
 * size, reading those records in the same order. Text is encoded straight into the output (no
 * per-string copy). The declaration encoder (schema/codec.ts `encodeStructureTtlv`) runs the
 * same passes over a declaration and its values, with no item tree in between.
 */
export function encodeTtlv(item: TtlvItem): Uint8Array {
  const plan: EncodePlan = []
  const w = writer(measureItem(item, plan, 0), plan)
  writeItem(item, w, 0)
  return w.out
}

/**
 * What the measuring pass found, in visiting order, for the writing pass: a Structure's value
 * length, a Text String's UTF-8 length, a Big Integer's layout (one beyond 64 bits), or (for the
 * declaration encoder, schema/codec.ts) items it built while measuring.
 */
export type EncodePlan = (number | BigIntLayout | readonly TtlvItem[])[]

/** The writing pass's state: the output of the measured size, and the next plan record. */
export interface Writer {
  readonly out: Uint8Array
  readonly view: DataView
  /** `out` as a Buffer, to write UTF-8 text in place. */
  readonly text: Buffer
  readonly plan: EncodePlan
  /** The next record of `plan` to read. */
  next: number
}

/** A writer over a new zeroed buffer of `total` bytes (padding is zero). */
export function writer(total: number, plan: EncodePlan): Writer {
  const out = new Uint8Array(total)
  return {
    out,
    view: new DataView(out.buffer),
    text: Buffer.from(out.buffer, out.byteOffset, out.byteLength),
    plan,
    next: 0,
  }
}

function fail(tag: number, msg: string): never {
  throw new KmipError('ERR_TTLV_ENCODE', `tag 0x${tag.toString(16)}: ${msg}`, { tag })
}

/** Encoded length (header and padding included) of an item, checking ranges; see {@link EncodePlan}. */
export function measureItem(item: TtlvItem, plan: EncodePlan, depth: number): number {
  if (!Number.isInteger(item.tag) || item.tag < 0 || item.tag > 0xffffff)
    fail(item.tag, 'tag out of range')
  if (depth > 1000) fail(item.tag, 'tree too deep')
  if (item.type !== 'Structure') return measureValue(item.tag, item.type, item.value, plan)
  // its record is reserved before its children's, and filled in once they are measured
  const at = plan.push(0) - 1
  let len = 0
  for (const c of item.value) len += measureItem(c, plan, depth + 1)
  plan[at] = len
  return 8 + len
}

/** Encoded length of a primitive item, checking its value against its type. */
export function measureValue(
  tag: number,
  type: Exclude<TtlvType, 'Structure'>,
  value: unknown,
  plan: EncodePlan,
): number {
  let len: number
  switch (type) {
    case 'Integer':
      if (
        !Number.isInteger(value) ||
        (value as number) < -0x80000000 ||
        (value as number) > 0x7fffffff
      )
        fail(tag, 'not an int32')
      len = 4
      break
    case 'Enumeration':
    case 'Interval':
      if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 0xffffffff)
        fail(tag, 'not a uint32')
      len = 4
      break
    case 'LongInteger':
    case 'DateTime':
    case 'DateTimeExtended':
      if (typeof value !== 'bigint' || value < INT64_MIN || value > INT64_MAX)
        fail(tag, 'not an int64')
      len = 8
      break
    case 'BigInteger': {
      if (typeof value !== 'bigint') fail(tag, 'not a bigint')
      if (value >= INT64_MIN && value <= INT64_MAX) len = 8
      else {
        // linear in the value's size (bigint.ts)
        const l = bigIntLayout(value)
        plan.push(l)
        len = l.bytes
      }
      break
    }
    case 'Boolean':
      if (typeof value !== 'boolean') fail(tag, 'not a boolean')
      len = 8
      break
    case 'TextString':
      if (typeof value !== 'string') fail(tag, 'not a string')
      // the length of the UTF-8 TextEncoder writes (a lone surrogate as U+FFFD), without encoding
      len = Buffer.byteLength(value, 'utf8')
      plan.push(len)
      break
    case 'ByteString':
      if (!(value instanceof Uint8Array)) fail(tag, 'not a Uint8Array')
      len = value.length
      break
    default:
      fail(tag, 'unknown item type')
  }
  return 8 + padded(len)
}

/** Writes a measured item at `off`; returns the offset after it. */
export function writeItem(item: TtlvItem, w: Writer, off: number): number {
  if (item.type !== 'Structure') return writeValue(item.tag, item.type, item.value, w, off)
  const len = w.plan[w.next++] as number
  let q = writeHeader(w, off, item.tag, 0x01, len)
  for (const c of item.value) q = writeItem(c, w, q)
  return q
}

/** Writes an item header (tag, type code, length); returns the value's offset. */
export function writeHeader(
  w: Writer,
  off: number,
  tag: number,
  code: number,
  len: number,
): number {
  const v = w.view
  v.setUint8(off, (tag >> 16) & 0xff)
  v.setUint16(off + 1, tag & 0xffff)
  v.setUint8(off + 3, code)
  v.setUint32(off + 4, len)
  return off + 8
}

/** Writes a measured primitive item at `off`; returns the offset after it. */
export function writeValue(
  tag: number,
  type: Exclude<TtlvType, 'Structure'>,
  value: unknown,
  w: Writer,
  off: number,
): number {
  const v = w.view
  const p = off + 8
  let len: number
  switch (type) {
    case 'Integer':
      v.setInt32(p, value as number)
      len = 4
      break
    case 'Enumeration':
    case 'Interval':
      v.setUint32(p, value as number)
      len = 4
      break
    case 'LongInteger':
    case 'DateTime':
    case 'DateTimeExtended':
      v.setBigInt64(p, value as bigint)
      len = 8
      break
    case 'BigInteger': {
      const x = value as bigint
      if (x >= INT64_MIN && x <= INT64_MAX) {
        v.setBigInt64(p, x)
        len = 8
      } else {
        const l = w.plan[w.next++] as BigIntLayout
        writeBigInt(l, w.out, p)
        len = l.bytes
      }
      break
    }
    case 'Boolean':
      v.setBigUint64(p, value === true ? 1n : 0n)
      len = 8
      break
    case 'TextString': {
      len = w.plan[w.next++] as number
      if (len > 0) w.text.write(value as string, p, len, 'utf8')
      break
    }
    case 'ByteString':
      w.out.set(value as Uint8Array, p)
      len = (value as Uint8Array).length
      break
  }
  writeHeader(w, off, tag, typeCode[type], len)
  return p + padded(len)
}
