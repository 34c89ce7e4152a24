import { EnvelopeError } from '../errors.js'

/*
 * The LUKS2 JSON metadata (LUKS2 spec §3; cryptsetup lib/luks2/luks2_json_metadata.c). The parsed
 * object is kept whole (`json`) so that a rewrite preserves what Ward does not interpret (other
 * tokens, flags); the typed views below are validated copies that Ward reads.
 */

/** Bounds: JSON nesting depth and object counts (cryptsetup allows 32 keyslots/tokens/segments). */
export const LUKS2_JSON_MAX_DEPTH = 32
export const LUKS2_OBJECTS_MAX = 32

type Json = Record<string, unknown>

/** spec §3.3: a keyslot (only the fields Ward reads are typed). */
export interface Luks2Keyslot {
  readonly id: string
  readonly type: string
  readonly keySize: number
  readonly json: Json
}
/** spec §3.4: a segment. `size` is null for "dynamic" (up to the end of the device). */
export interface Luks2Segment {
  readonly id: string
  readonly type: string
  readonly offset: number
  readonly size: number | null
  readonly ivTweak: number
  readonly encryption: string
  readonly sectorSize: number
  /** dm-integrity protected (authenticated encryption): not supported by Ward's data path. */
  readonly integrity: boolean
}
/** spec §3.5: a digest binding keyslots to segments. */
export interface Luks2Digest {
  readonly id: string
  readonly type: string
  readonly keyslots: readonly string[]
  readonly segments: readonly string[]
  readonly json: Json
}
/** spec §3.6: a token. */
export interface Luks2Token {
  readonly id: string
  readonly type: string
  readonly keyslots: readonly string[]
  readonly json: Json
}
/** A validated LUKS2 JSON area. */
export interface Luks2Metadata {
  /** The whole parsed object (mutable copy owned by the caller). */
  readonly json: Json
  readonly keyslots: readonly Luks2Keyslot[]
  readonly segments: readonly Luks2Segment[]
  readonly digests: readonly Luks2Digest[]
  readonly tokens: readonly Luks2Token[]
  readonly jsonSize: number
  readonly keyslotsSize: number
  /** config.requirements.mandatory (spec §3.7): unknown ones make the volume unusable. */
  readonly requirements: readonly string[]
}

const bad = (what: string): EnvelopeError =>
  new EnvelopeError('ERR_LUKS2_METADATA', `LUKS2 JSON metadata: ${what}`)

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)

function obj(parent: Json, key: string, where: string): Json {
  const v = parent[key]
  if (!isObj(v)) throw bad(`${where}.${key} must be an object`)
  return v
}
function str(parent: Json, key: string, where: string): string {
  const v = parent[key]
  if (typeof v !== 'string') throw bad(`${where}.${key} must be a string`)
  return v
}
/** An unsigned integer written as a decimal string (spec §3: 64-bit values are strings). */
function ustr(parent: Json, key: string, where: string): number {
  const v = str(parent, key, where)
  if (!/^[0-9]{1,16}$/.test(v) || !Number.isSafeInteger(Number(v)))
    throw bad(`${where}.${key} must be an unsigned integer string below 2^53`)
  return Number(v)
}
/** A JSON integer in [0, 2^32) (cryptsetup validate_json_uint32). */
export function u32(parent: Json, key: string, where: string): number {
  const v = parent[key]
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw bad(`${where}.${key} must be an integer in [0, 2^32)`)
  return v
}
function idList(parent: Json, key: string, where: string, known: ReadonlySet<string>): string[] {
  const v = parent[key]
  if (!Array.isArray(v) || v.length > LUKS2_OBJECTS_MAX)
    throw bad(`${where}.${key} must be an array`)
  return v.map((x) => {
    if (typeof x !== 'string' || !known.has(x)) throw bad(`${where}.${key} names a missing object`)
    return x
  })
}
function numbered(section: Json, where: string): [string, Json][] {
  const entries = Object.entries(section)
  if (entries.length > LUKS2_OBJECTS_MAX) throw bad(`too many ${where} (max ${LUKS2_OBJECTS_MAX})`)
  return entries.map(([k, v]) => {
    if (!/^(0|[1-9][0-9]{0,8})$/.test(k))
      throw bad(`${where} id '${k.slice(0, 16)}' is not a number`)
    if (!isObj(v)) throw bad(`${where}.${k} must be an object`)
    return [k, v]
  })
}

/** Reject nesting deeper than `LUKS2_JSON_MAX_DEPTH` before handing text to JSON.parse. */
function checkDepth(text: string): void {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > LUKS2_JSON_MAX_DEPTH) throw bad(`nesting deeper than ${LUKS2_JSON_MAX_DEPTH}`)
    } else if (c === 0x7d || c === 0x5d) depth--
  }
}

/**
 * Parse a JSON area (spec §3.1): JSON text starting with '{', then at least one NUL, and nothing
 * but NULs up to the end of the area (cryptsetup validate_json_area).
 */
export function parseJsonArea(area: Uint8Array): Luks2Metadata {
  const end = area.indexOf(0)
  if (end < 0) throw bad('JSON text is not NUL-terminated inside its area')
  if (area[0] !== 0x7b) throw bad("JSON text must start with '{'")
  for (let i = end; i < area.length; i++)
    if (area[i] !== 0) throw bad(`non-zero byte after the JSON text at ${i}`)
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(area.subarray(0, end))
  } catch (e) {
    throw new EnvelopeError('ERR_LUKS2_METADATA', 'LUKS2 JSON metadata is not UTF-8', { cause: e })
  }
  checkDepth(text)
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    throw new EnvelopeError('ERR_LUKS2_METADATA', 'LUKS2 JSON metadata does not parse', {
      cause: e,
    })
  }
  if (!isObj(json)) throw bad('top level must be an object')
  return validateMetadata(json, area.length)
}

/** Validate a parsed metadata object the way cryptsetup's LUKS2_hdr_validate does (plus bounds). */
export function validateMetadata(json: Json, jsonAreaSize: number): Luks2Metadata {
  const config = obj(json, 'config', '')
  const jsonSize = ustr(config, 'json_size', 'config')
  const keyslotsSize = ustr(config, 'keyslots_size', 'config')
  if (jsonSize !== jsonAreaSize) throw bad('config.json_size differs from the binary header')
  if (keyslotsSize % 4096 !== 0 || keyslotsSize > 128 * 1048576)
    throw bad('config.keyslots_size must be a multiple of 4096 up to 128 MiB')
  const requirements: string[] = []
  if (config.requirements !== undefined) {
    const reqs = config.requirements
    if (!isObj(reqs)) throw bad('config.requirements must be an object')
    if (reqs.mandatory !== undefined) {
      if (!Array.isArray(reqs.mandatory) || reqs.mandatory.length > LUKS2_OBJECTS_MAX)
        throw bad('config.requirements.mandatory must be an array')
      for (const r of reqs.mandatory) {
        if (typeof r !== 'string') throw bad('config.requirements.mandatory holds a non-string')
        requirements.push(r)
      }
    }
  }
  if (
    config.flags !== undefined &&
    (!Array.isArray(config.flags) || config.flags.some((f) => typeof f !== 'string'))
  )
    throw bad('config.flags must be an array of strings')

  const metadataSize = jsonSize + 4096
  const areasEnd = 2 * metadataSize + keyslotsSize

  const keyslots: Luks2Keyslot[] = numbered(obj(json, 'keyslots', ''), 'keyslots').map(
    ([id, k]) => {
      const where = `keyslots.${id}`
      const type = str(k, 'type', where)
      const keySize = u32(k, 'key_size', where)
      const area = obj(k, 'area', where)
      str(area, 'type', `${where}.area`)
      const offset = ustr(area, 'offset', `${where}.area`)
      const size = ustr(area, 'size', `${where}.area`)
      // cryptsetup validate_intervals: every area lies in [2 * metadata size, end of keyslots area)
      if (offset < 2 * metadataSize || offset + size > areasEnd || offset % 4096 !== 0)
        throw bad(`${where}.area lies outside the keyslots area`)
      return { id, type, keySize, json: k }
    },
  )
  const sortedAreas = keyslots
    .map((k) => {
      const a = k.json.area as Json
      return [Number(a.offset), Number(a.offset) + Number(a.size)] as const
    })
    .sort((a, b) => a[0] - b[0])
  for (let i = 1; i < sortedAreas.length; i++)
    if ((sortedAreas[i]?.[0] ?? 0) < (sortedAreas[i - 1]?.[1] ?? 0))
      throw bad('keyslot areas overlap')

  const segments: Luks2Segment[] = numbered(obj(json, 'segments', ''), 'segments').map(
    ([id, s]) => {
      const where = `segments.${id}`
      const type = str(s, 'type', where)
      const offset = ustr(s, 'offset', where)
      const sizeText = str(s, 'size', where)
      const size = sizeText === 'dynamic' ? null : ustr(s, 'size', where)
      if (type !== 'crypt')
        return {
          id,
          type,
          offset,
          size,
          ivTweak: 0,
          encryption: '',
          sectorSize: 512,
          integrity: false,
        }
      const ivTweak = ustr(s, 'iv_tweak', where)
      const encryption = str(s, 'encryption', where)
      const sectorSize = u32(s, 'sector_size', where)
      if (![512, 1024, 2048, 4096].includes(sectorSize))
        throw bad(`${where}.sector_size must be 512..4096, a power of two`)
      if (size !== null && size % sectorSize !== 0)
        throw bad(`${where}.size is not a whole number of sectors`)
      if (offset % 512 !== 0) throw bad(`${where}.offset is not aligned`)
      return {
        id,
        type,
        offset,
        size,
        ivTweak,
        encryption,
        sectorSize,
        integrity: s.integrity !== undefined,
      }
    },
  )
  for (const s of segments)
    // Detached headers (offset 0) are not supported: the data would overlap the header.
    if (s.offset < areasEnd) throw bad(`segments.${s.id} overlaps the header and keyslots areas`)
  const keyslotIds = new Set(keyslots.map((k) => k.id))
  const segmentIds = new Set(segments.map((s) => s.id))

  const digests: Luks2Digest[] = numbered(obj(json, 'digests', ''), 'digests').map(([id, d]) => ({
    id,
    type: str(d, 'type', `digests.${id}`),
    keyslots: idList(d, 'keyslots', `digests.${id}`, keyslotIds),
    segments: idList(d, 'segments', `digests.${id}`, segmentIds),
    json: d,
  }))
  for (const s of segments)
    if (s.type === 'crypt' && !digests.some((d) => d.segments.includes(s.id)))
      throw bad(`segments.${s.id} has no digest`)

  const tokens: Luks2Token[] = numbered(obj(json, 'tokens', ''), 'tokens').map(([id, t]) => ({
    id,
    type: str(t, 'type', `tokens.${id}`),
    keyslots: idList(t, 'keyslots', `tokens.${id}`, keyslotIds),
    json: t,
  }))
  return { json, keyslots, segments, digests, tokens, jsonSize, keyslotsSize, requirements }
}

/** Serialise metadata into a JSON area of `areaSize` bytes (text, then NUL padding). */
export function encodeJsonArea(json: Json, areaSize: number): Uint8Array {
  const text = new TextEncoder().encode(JSON.stringify(json))
  if (text.length >= areaSize)
    throw new EnvelopeError(
      'ERR_LUKS2_METADATA',
      `LUKS2 JSON metadata (${text.length} bytes) does not fit in its ${areaSize}-byte area`,
    )
  const area = new Uint8Array(areaSize)
  area.set(text)
  return area
}

/** Base64 field of a JSON object, decoded; `len` bounds (exact or range). */
export function b64(parent: Json, key: string, where: string, min: number, max = min): Uint8Array {
  const v = str(parent, key, where)
  if (v.length > 4 * Math.ceil(max / 3) || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0)
    throw bad(`${where}.${key} is not base64 of ${min === max ? min : `${min}..${max}`} bytes`)
  const out = new Uint8Array(Buffer.from(v, 'base64'))
  if (out.length < min || out.length > max)
    throw bad(`${where}.${key} must decode to ${min === max ? min : `${min}..${max}`} bytes`)
  return out
}

export { obj as jsonObject, str as jsonString, ustr as jsonUintString, isObj as isJsonObject }
