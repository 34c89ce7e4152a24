import { KmipError } from '../errors.js'
import { enumForTag, maskForTag } from '../tables/enums.js'
import { normalizeName } from '../tables/names.js'
import { Tag, tagByName, tagNameOf } from '../tables/tags.js'
import { bigIntHex } from '../ttlv/bigint.js'
import { defaultLimits, type TtlvItem, type TtlvType } from '../ttlv/item.js'
import { attributeTag } from '../message/attributes.js'

// Text forms of TTLV values shared by the XML and JSON encodings (KMIP Profiles v1.4 §5.4.1,
// KMIP 2.1 "Additional Message Encodings"): enumerations by normalised name, masks as names,
// byte strings in hex, date-times in ISO 8601.

/** Context for values whose meaning depends on a sibling (1.x Attribute Value → Attribute Name). */
export interface ValueContext {
  /** Tag whose enumeration/mask applies (the attribute's tag for an Attribute Value). */
  readonly semanticTag: number
}

/** Tags whose Enumeration values are tag names (KMIP 2.x Attribute Reference, Tag). */
const tagValued = new Set<number>([Tag.AttributeReference, Tag.Tag])

/** The semantic tag for each child of `parent` (Attribute Value takes its Attribute Name's tag). */
export function childContext(
  parentChildren: readonly { tag: number; type: string; value: unknown }[],
): number | undefined {
  const nameItem = parentChildren.find(
    (c) => c.tag === Tag.AttributeName && c.type === 'TextString',
  )
  if (nameItem === undefined || parentChildren.some((c) => c.tag === Tag.VendorIdentification))
    return undefined
  return attributeTag(nameItem.value as string)
}

const enumNames = new WeakMap<Readonly<Record<string, number>>, ReadonlyMap<number, string>>()

/** Name of an enumeration value (the first name, in table order, when several share it). */
function enumNameOf(values: Readonly<Record<string, number>>, v: number): string | undefined {
  let names = enumNames.get(values)
  if (names === undefined) {
    const m = new Map<number, string>()
    for (const [k, x] of Object.entries(values)) if (!m.has(x)) m.set(x, k)
    enumNames.set(values, m)
    names = m
  }
  return names.get(v)
}

/**
 * Longest text form of a number other than a Big Integer (Integer, Long Integer, Interval,
 * Date-Time): far above any valid one, so leading zeros pass, yet decimal parsing (which is not
 * linear in V8) never sees a megabyte of digits.
 */
const MAX_NUMBER_TEXT = 64

/**
 * Longest tag or enumeration name looked up: the longest in the tables is under 80 characters;
 * normalising a megabyte-long name would only cost time.
 */
const MAX_NAME_TEXT = 256

/** Hex digits of the largest Big Integer the text forms accept (as the binary decoder). */
const MAX_BIG_HEX = 2 * defaultLimits.maxBigIntegerBytes

function checkNumberText(s: string, tag: number, what: string): void {
  if (s.length > MAX_NUMBER_TEXT)
    throw new KmipError(
      'ERR_KMIP_INVALID_FIELD',
      `${what} text of ${s.length} characters is too long (at most ${MAX_NUMBER_TEXT})`,
      { tag },
    )
}

const hex8 = (v: number): string => '0x' + (v >>> 0).toString(16).toUpperCase().padStart(8, '0')

/** Hex (no prefix) of bytes. */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}

/** Bytes from hex (even length, hex digits only). */
export function fromHex(s: string, what = 'Byte String'): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) {
    throw new KmipError('ERR_KMIP_INVALID_FIELD', `${what} is not hex`)
  }
  return new Uint8Array(Buffer.from(s, 'hex'))
}

/** ISO 8601 (UTC, seconds) from seconds since the epoch. */
export function isoFromSeconds(sec: bigint): string {
  const ms = Number(sec) * 1000
  const year = Math.abs(ms) <= 8.64e15 ? new Date(ms).getUTCFullYear() : -1
  // ISO 8601 as used by KMIP covers years 0000–9999; other values are written in hex
  if (!Number.isFinite(ms) || year < 0 || year > 9999)
    return '0x' + BigInt.asUintN(64, sec).toString(16).padStart(16, '0')
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00')
}

function secondsFromIso(s: string, tag: number): bigint {
  checkNumberText(s, tag, 'Date-Time')
  if (/^0x[0-9a-fA-F]{1,16}$/.test(s)) return BigInt.asIntN(64, BigInt(s))
  const ms = Date.parse(s)
  if (!/^\d{4}-\d{2}-\d{2}T/.test(s) || Number.isNaN(ms)) {
    throw new KmipError('ERR_KMIP_INVALID_FIELD', `bad Date-Time "${s}"`, { tag })
  }
  return BigInt(Math.floor(ms / 1000))
}

/** Text form of an Enumeration value. */
export function enumToText(tag: number, v: number, ctx?: ValueContext): string {
  const sem = ctx?.semanticTag ?? tag
  if (tagValued.has(sem)) return tagNameOf(v) ?? hex8(v)
  const values = enumForTag.get(sem)
  return (values && enumNameOf(values, v)) ?? hex8(v)
}

/** Text form of an Integer value (masks as names joined by `sep`, when every bit is named). */
export function intToText(
  tag: number,
  v: number,
  sep: string,
  ctx?: ValueContext,
): string | number {
  const mask = maskForTag.get(ctx?.semanticTag ?? tag)
  if (mask === undefined || v <= 0) return v
  const names: string[] = []
  let rest = v
  for (const [k, bit] of Object.entries(mask)) {
    if ((v & bit) !== 0) {
      names.push(k)
      rest &= ~bit
    }
  }
  return rest === 0 ? names.join(sep) : hex8(v)
}

function parseInt32(s: string, tag: number): number {
  checkNumberText(s, tag, 'Integer')
  const v = /^0x[0-9a-fA-F]{1,8}$/.test(s)
    ? Number.parseInt(s.slice(2), 16) | 0
    : /^-?\d+$/.test(s)
      ? Number(s)
      : NaN
  if (!Number.isInteger(v) || v < -0x80000000 || v > 0xffffffff) {
    throw new KmipError('ERR_KMIP_INVALID_FIELD', `bad Integer "${s}"`, { tag })
  }
  return v > 0x7fffffff ? v | 0 : v
}

/** Parses an Enumeration from its name or hex form. */
export function enumFromText(tag: number, s: string, ctx?: ValueContext): number {
  if (/^0x[0-9a-fA-F]{1,8}$/.test(s)) return Number.parseInt(s.slice(2), 16)
  const sem = ctx?.semanticTag ?? tag
  if (s.length > MAX_NAME_TEXT)
    throw new KmipError(
      'ERR_KMIP_ENUM',
      `enumeration value of ${s.length} characters for ${tagNameOf(sem) ?? sem} (no name is that long)`,
      { tag },
    )
  if (tagValued.has(sem)) {
    const t = tagByName(s)
    if (t !== undefined) return t
  }
  const values = enumForTag.get(sem)
  if (values !== undefined) {
    const key = Object.hasOwn(values, s) ? s : normalizeName(s)
    if (Object.hasOwn(values, key)) return values[key]!
  }
  throw new KmipError(
    'ERR_KMIP_ENUM',
    `unknown value "${s}" for enumeration ${tagNameOf(sem) ?? sem}`,
    { tag },
  )
}

/** Parses an Integer (decimal, hex, or mask names separated by spaces or `|`). */
export function intFromText(tag: number, s: string, ctx?: ValueContext): number {
  const t = s.trim()
  if (/^(-?\d+|0x[0-9a-fA-F]{1,8})$/.test(t)) return parseInt32(t, tag)
  const mask = maskForTag.get(ctx?.semanticTag ?? tag)
  if (mask === undefined)
    throw new KmipError('ERR_KMIP_INVALID_FIELD', `bad Integer "${s}"`, { tag })
  let v = 0
  for (const part of t.split(/[\s|]+/).filter((p) => p.length > 0)) {
    const bit = Object.hasOwn(mask, part) ? mask[part] : undefined
    if (bit === undefined)
      throw new KmipError('ERR_KMIP_ENUM', `unknown mask bit "${part}"`, { tag })
    v |= bit
  }
  return v
}

function parseBig(s: string, tag: number, what: string): bigint {
  checkNumberText(s, tag, what)
  if (/^-?\d+$/.test(s) || /^0x[0-9a-fA-F]+$/.test(s)) return BigInt(s)
  throw new KmipError('ERR_KMIP_INVALID_FIELD', `bad ${what} "${s}"`, { tag })
}

/** Builds an item of `type` from its text form. */
export function itemFromText(
  tag: number,
  type: Exclude<TtlvType, 'Structure'>,
  s: string,
  ctx?: ValueContext,
): TtlvItem {
  switch (type) {
    case 'Integer':
      return { tag, type, value: intFromText(tag, s, ctx) }
    case 'Enumeration':
      return { tag, type, value: enumFromText(tag, s, ctx) }
    case 'Interval': {
      const v = parseBig(s, tag, 'Interval')
      if (v < 0n || v > 0xffffffffn)
        throw new KmipError('ERR_KMIP_INVALID_FIELD', 'Interval out of range', { tag })
      return { tag, type, value: Number(v) }
    }
    case 'LongInteger': {
      const v = s.startsWith('0x')
        ? BigInt.asIntN(64, parseBig(s, tag, 'Long Integer'))
        : parseBig(s, tag, 'Long Integer')
      if (v !== BigInt.asIntN(64, v))
        throw new KmipError('ERR_KMIP_INVALID_FIELD', 'Long Integer out of range', { tag })
      return { tag, type, value: v }
    }
    case 'BigInteger': {
      if (/^(0x)?[0-9a-fA-F]+$/.test(s)) {
        // XML Big Integers are hex (with or without 0x), two's complement of their byte length
        // (KMIP Profiles v1.4 §5.4.1.6); hex converts in linear time
        const digits = s.startsWith('0x') ? s.slice(2) : s
        if (digits.length > MAX_BIG_HEX)
          throw new KmipError(
            'ERR_TTLV_TOO_LARGE',
            `Big Integer of ${Math.ceil(digits.length / 2)} bytes exceeds ${defaultLimits.maxBigIntegerBytes} (maxBigIntegerBytes)`,
            { tag },
          )
        const bits = Math.ceil(digits.length / 2) * 8
        return { tag, type, value: BigInt.asIntN(bits, BigInt('0x' + digits)) }
      }
      throw new KmipError(
        'ERR_KMIP_INVALID_FIELD',
        `bad Big Integer "${s.slice(0, 40)}" (hex expected)`,
        { tag },
      )
    }
    case 'Boolean':
      if (s === 'true' || s === '1' || s === '0x1') return { tag, type, value: true }
      if (s === 'false' || s === '0' || s === '0x0') return { tag, type, value: false }
      throw new KmipError('ERR_KMIP_INVALID_FIELD', `bad Boolean "${s}"`, { tag })
    case 'TextString':
      return { tag, type, value: s }
    case 'ByteString':
      return { tag, type, value: fromHex(s) }
    case 'DateTime':
      return { tag, type, value: secondsFromIso(s, tag) }
    case 'DateTimeExtended': {
      checkNumberText(s, tag, 'Date-Time Extended')
      if (/^0x[0-9a-fA-F]{1,16}$/.test(s)) return { tag, type, value: BigInt.asIntN(64, BigInt(s)) }
      const m = /\.(\d{1,6})/.exec(s)
      const micros = m ? BigInt(m[1]!.padEnd(6, '0')) : 0n
      return { tag, type, value: secondsFromIso(s.replace(/\.\d+/, ''), tag) * 1_000_000n + micros }
    }
  }
}

/** Text form of a Big Integer: hex of its two's complement bytes (linear time, ttlv/bigint.ts). */
export function bigToHex(v: bigint): string {
  return '0x' + bigIntHex(v)
}

/** Text form of a Date-Time Extended (ISO 8601 with microseconds). */
export function isoFromMicros(us: bigint): string {
  const sec = us / 1_000_000n - (us % 1_000_000n < 0n ? 1n : 0n)
  const frac = us - sec * 1_000_000n
  const base = isoFromSeconds(sec)
  return base.startsWith('0x')
    ? '0x' + BigInt.asUintN(64, us).toString(16)
    : base.replace('+00:00', `.${frac.toString().padStart(6, '0')}+00:00`)
}

/** Resolves an element/JSON tag name: a normalised spec name or `0x42XXXX` hex. */
export function tagFromName(name: string): number | undefined {
  if (name.length > MAX_NAME_TEXT) return undefined
  if (/^0x[0-9a-fA-F]{6}$/.test(name)) return Number.parseInt(name.slice(2), 16)
  return tagByName(name) ?? tagByName(normalizeName(name))
}
