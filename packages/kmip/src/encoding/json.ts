import { KmipError } from '../errors.js'
import { Tag, tagNameOf } from '../tables/tags.js'
import type { TtlvItem, TtlvType } from '../ttlv/item.js'
import { typeCode } from '../ttlv/types.js'
import {
  bigToHex,
  childContext,
  enumToText,
  intToText,
  isoFromMicros,
  isoFromSeconds,
  itemFromText,
  tagFromName,
  toHex,
  type ValueContext,
} from './values.js'

/**
 * KMIP JSON encoding (KMIP 2.1 Additional Message Encodings / Profiles §5.5):
 * `{ "tag": "Name", "type": "TextString", "value": … }`, type omitted for Structures whose value is
 * an array of items; enumerations by name, masks as `"Encrypt|Decrypt"`, bytes in hex,
 * Long/Big Integers as `"0x…"` strings, dates in ISO 8601.
 */
export interface JsonTtlv {
  readonly tag: string
  readonly type?: string
  readonly value: string | number | boolean | readonly JsonTtlv[]
}

function toJson(item: TtlvItem, ctx: ValueContext | undefined): JsonTtlv {
  const tag = tagNameOf(item.tag) ?? `0x${item.tag.toString(16).toUpperCase().padStart(6, '0')}`
  switch (item.type) {
    case 'Structure': {
      const sem = childContext(item.value)
      return {
        tag,
        value: item.value.map((c) =>
          toJson(
            c,
            sem !== undefined && c.tag === Tag.AttributeValue ? { semanticTag: sem } : undefined,
          ),
        ),
      }
    }
    case 'Integer':
      return { tag, type: item.type, value: intToText(item.tag, item.value, '|', ctx) }
    case 'Enumeration':
      return { tag, type: item.type, value: enumToText(item.tag, item.value, ctx) }
    case 'Interval':
      return { tag, type: item.type, value: item.value }
    case 'LongInteger':
      return {
        tag,
        type: item.type,
        value: '0x' + BigInt.asUintN(64, item.value).toString(16).padStart(16, '0'),
      }
    case 'BigInteger':
      return { tag, type: item.type, value: bigToHex(item.value) }
    case 'Boolean':
      return { tag, type: item.type, value: item.value }
    case 'TextString':
      return { tag, type: item.type, value: item.value }
    case 'ByteString':
      return { tag, type: item.type, value: toHex(item.value) }
    case 'DateTime':
      return { tag, type: item.type, value: isoFromSeconds(item.value) }
    case 'DateTimeExtended':
      return { tag, type: item.type, value: isoFromMicros(item.value) }
  }
}

/** Serialises an item to the KMIP JSON form (a plain object; JSON.stringify it to send). */
export function ttlvToJson(item: TtlvItem): JsonTtlv {
  return toJson(item, undefined)
}

/** Bounds for {@link ttlvFromJson}. */
export interface JsonLimits {
  /** Longest JSON text accepted (default 16 MiB, as a binary message). */
  readonly maxBytes?: number
  readonly maxDepth?: number
  readonly maxItems?: number
}

const isType = (t: string): t is TtlvType => Object.hasOwn(typeCode, t)

/** Parses the KMIP JSON form (an object, or a JSON string) into an item. */
export function ttlvFromJson(input: unknown, limits: JsonLimits = {}): TtlvItem {
  const maxDepth = limits.maxDepth ?? 64
  const maxItems = limits.maxItems ?? 100_000
  const maxBytes = limits.maxBytes ?? 16 << 20
  let count = 0
  let root: unknown = input
  if (typeof input === 'string') {
    if (input.length > maxBytes)
      throw new KmipError('ERR_KMIP_JSON', `document larger than ${maxBytes}`)
    try {
      root = JSON.parse(input)
    } catch (cause) {
      throw new KmipError('ERR_KMIP_JSON', 'not JSON', { cause })
    }
  }
  function conv(o: unknown, depth: number, ctx: ValueContext | undefined): TtlvItem {
    if (depth > maxDepth) throw new KmipError('ERR_KMIP_JSON', `nesting deeper than ${maxDepth}`)
    if (++count > maxItems) throw new KmipError('ERR_KMIP_JSON', `more than ${maxItems} items`)
    if (typeof o !== 'object' || o === null || Array.isArray(o))
      throw new KmipError('ERR_KMIP_JSON', 'item must be an object')
    const rec = o as Record<string, unknown>
    if (typeof rec['tag'] !== 'string')
      throw new KmipError('ERR_KMIP_JSON', 'item lacks a string "tag"')
    const tag = tagFromName(rec['tag'])
    if (tag === undefined) throw new KmipError('ERR_KMIP_JSON', `unknown tag "${rec['tag']}"`)
    const typeName = rec['type'] === undefined ? 'Structure' : rec['type']
    if (typeof typeName !== 'string' || !isType(typeName))
      throw new KmipError('ERR_KMIP_JSON', `bad type on ${rec['tag']}`, { tag })
    const v = rec['value']
    if (typeName === 'Structure') {
      if (!Array.isArray(v))
        throw new KmipError('ERR_KMIP_JSON', `Structure ${rec['tag']} needs an array value`, {
          tag,
        })
      const pre = v.map((c: unknown) => {
        const r = (typeof c === 'object' && c !== null ? c : {}) as Record<string, unknown>
        return {
          tag: typeof r['tag'] === 'string' ? (tagFromName(r['tag']) ?? -1) : -1,
          type: String(r['type'] ?? 'Structure'),
          value: r['value'],
        }
      })
      const sem = childContext(pre)
      return {
        tag,
        type: 'Structure',
        value: v.map((c: unknown, i) =>
          conv(
            c,
            depth + 1,
            sem !== undefined && pre[i]!.tag === Tag.AttributeValue
              ? { semanticTag: sem }
              : undefined,
          ),
        ),
      }
    }
    if (typeName === 'Boolean' && typeof v === 'boolean') return { tag, type: 'Boolean', value: v }
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v))
        throw new KmipError('ERR_KMIP_JSON', `bad number on ${rec['tag']}`, { tag })
      if (typeName === 'BigInteger') return { tag, type: 'BigInteger', value: BigInt(v) }
      return itemFromText(tag, typeName, String(v), ctx)
    }
    if (typeof v !== 'string')
      throw new KmipError('ERR_KMIP_JSON', `bad value on ${rec['tag']}`, { tag })
    return itemFromText(tag, typeName, v, ctx)
  }
  return conv(root, 1, undefined)
}
