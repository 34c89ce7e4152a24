import { KmipError } from '../errors.js'
import { defaultLimits, type TtlvItem, type TtlvType } from './item.js'
import { typeCode } from './types.js'

/**
 * Compact JSON form of an item tree, `[tag, type, value]` with 64-bit and big integers as decimal
 * strings and Byte Strings as hex. Used to store non-secret attribute values (it is not the KMIP
 * JSON profile, see encoding/json.ts): small, lossless, and stable across releases. Big Integers
 * above {@link DECIMAL_BIG_BITS} bits are written as `0x…` hex (`-0x…` when negative): decimal
 * conversion is not linear in V8 (an 8 KiB value takes milliseconds each way), and releases that
 * wrote only decimal could not read back more than 400 digits either.
 */
export type JsonItem = [number, TtlvType, unknown]

/** Item tree → compact JSON form. */
export function toJsonItem(item: TtlvItem): JsonItem {
  switch (item.type) {
    case 'Structure':
      return [item.tag, item.type, item.value.map(toJsonItem)]
    case 'BigInteger':
      return [item.tag, item.type, bigText(item.value)]
    case 'LongInteger':
    case 'DateTime':
    case 'DateTimeExtended':
      return [item.tag, item.type, item.value.toString()]
    case 'ByteString':
      return [item.tag, item.type, Buffer.from(item.value).toString('hex')]
    default:
      return [item.tag, item.type, item.value]
  }
}

/** Big Integers up to this many bits (309 decimal digits) keep the decimal form. */
export const DECIMAL_BIG_BITS = 1024
const DECIMAL_BIG_LIMIT = 1n << BigInt(DECIMAL_BIG_BITS)

function bigText(x: bigint): string {
  const m = x < 0n ? -x : x
  if (m < DECIMAL_BIG_LIMIT) return x.toString()
  return (x < 0n ? '-0x' : '0x') + m.toString(16)
}

/** Hex digits of the largest Big Integer read back (as the binary decoder's limit). */
const MAX_BIG_HEX = 2 * defaultLimits.maxBigIntegerBytes

const bad = (why: string): KmipError => new KmipError('ERR_KMIP_JSON', `compact item: ${why}`)

/**
 * Compact JSON form → item tree. Checks shapes and value types (the input may come from a damaged
 * store); nesting is bounded by `maxDepth`.
 */
export function fromJsonItem(j: unknown, maxDepth = 64): TtlvItem {
  if (maxDepth < 0) throw bad('nesting too deep')
  if (!Array.isArray(j) || j.length !== 3) throw bad('not a [tag, type, value] triple')
  const [tag, type, v] = j as [unknown, unknown, unknown]
  if (typeof tag !== 'number' || !Number.isInteger(tag) || tag < 0 || tag > 0xffffff)
    throw bad('bad tag')
  if (typeof type !== 'string') throw bad('bad type')
  if (!Object.hasOwn(typeCode, type)) throw bad(`unknown type ${type}`)
  switch (type as TtlvType) {
    case 'Structure':
      if (!Array.isArray(v)) throw bad('structure value must be an array')
      return { tag, type: 'Structure', value: v.map((c) => fromJsonItem(c, maxDepth - 1)) }
    case 'BigInteger': {
      const h = typeof v === 'string' ? /^(-?)0x([0-9a-f]+)$/.exec(v) : null
      if (h !== null) {
        if (h[2]!.length > MAX_BIG_HEX) throw bad('Big Integer too large')
        const m = BigInt('0x' + h[2]!)
        return { tag, type: 'BigInteger', value: h[1] === '-' ? -m : m }
      }
      if (typeof v !== 'string' || !/^-?[0-9]{1,400}$/.test(v)) throw bad('bad integer')
      return { tag, type: 'BigInteger', value: BigInt(v) }
    }
    case 'LongInteger':
    case 'DateTime':
    case 'DateTimeExtended':
      if (typeof v !== 'string' || !/^-?[0-9]{1,400}$/.test(v)) throw bad('bad integer')
      return { tag, type: type as 'LongInteger', value: BigInt(v) }
    case 'ByteString':
      if (typeof v !== 'string' || !/^(?:[0-9a-f]{2})*$/.test(v)) throw bad('bad hex')
      return { tag, type: 'ByteString', value: new Uint8Array(Buffer.from(v, 'hex')) }
    case 'Integer':
    case 'Enumeration':
    case 'Interval':
      if (typeof v !== 'number' || !Number.isInteger(v)) throw bad('bad number')
      return { tag, type: type as 'Integer', value: v }
    case 'Boolean':
      if (typeof v !== 'boolean') throw bad('bad boolean')
      return { tag, type: 'Boolean', value: v }
    case 'TextString':
      if (typeof v !== 'string') throw bad('bad text')
      return { tag, type: 'TextString', value: v }
  }
}
