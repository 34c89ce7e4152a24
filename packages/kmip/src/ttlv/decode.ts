import { KmipError } from '../errors.js'
import { isKnownTag } from '../tables/tags.js'
import { defaultLimits, type Limits, type TtlvItem, type TtlvType } from './item.js'
import { bigIntFromBytes } from './bigint.js'
import { fixedLength, padded, typeByCode } from './types.js'

/** Options for {@link decodeTtlv}: any subset of the {@link Limits}, plus strictness. */
export interface DecodeOptions extends Partial<Limits> {
  /**
   * Strict (default): unknown tags outside the 0x54xxxx extension range are an error. Padding,
   * lengths, Booleans and UTF-8 are always checked; only unknown tags are relaxed by `false`.
   */
  readonly strict?: boolean
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** True for the vendor extension tag range 0x540000–0x54FFFF (KMIP 1.4 §9.1.3.1). */
export function isExtensionTag(tag: number): boolean {
  return tag >= 0x540000 && tag <= 0x54ffff
}

interface State {
  readonly view: DataView
  readonly bytes: Uint8Array
  readonly limits: Limits
  readonly strict: boolean
  items: number
  /** Where the item `readItem` read last ends (no [item, end] pair allocated per item). */
  end: number
}

/**
 * Decodes one complete TTLV message (KMIP 1.4 §9.1, 2.1 §10.1). The input must hold exactly one
 * top-level item: trailing bytes are an error. Every length is bounded by `limits` before it is
 * used; every failure is a {@link KmipError} with an `ERR_TTLV_*` code and the byte offset.
 */
export function decodeTtlv(bytes: Uint8Array, options: DecodeOptions = {}): TtlvItem {
  const limits: Limits = {
    maxDepth: options.maxDepth ?? defaultLimits.maxDepth,
    maxItemBytes: options.maxItemBytes ?? defaultLimits.maxItemBytes,
    maxMessageBytes: options.maxMessageBytes ?? defaultLimits.maxMessageBytes,
    maxItems: options.maxItems ?? defaultLimits.maxItems,
    maxBigIntegerBytes: options.maxBigIntegerBytes ?? defaultLimits.maxBigIntegerBytes,
  }
  if (bytes.length > limits.maxMessageBytes) {
    throw new KmipError(
      'ERR_TTLV_TOO_LARGE',
      `message of ${bytes.length} bytes exceeds ${limits.maxMessageBytes}`,
      {
        offset: 0,
      },
    )
  }
  const st: State = {
    view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    bytes,
    limits,
    strict: options.strict ?? true,
    items: 0,
    end: 0,
  }
  const item = readItem(st, 0, bytes.length, 1)
  const end = st.end
  if (end !== bytes.length) {
    throw new KmipError(
      'ERR_TTLV_TRAILING',
      `${bytes.length - end} trailing bytes after the message`,
      { offset: end },
    )
  }
  return item
}

/** Reads the item at `off`; `st.end` is then where it ends. */
function readItem(st: State, off: number, limit: number, depth: number): TtlvItem {
  if (depth > st.limits.maxDepth) {
    throw new KmipError('ERR_TTLV_DEPTH', `nesting deeper than ${st.limits.maxDepth}`, {
      offset: off,
    })
  }
  if (++st.items > st.limits.maxItems) {
    throw new KmipError('ERR_TTLV_TOO_MANY_ITEMS', `more than ${st.limits.maxItems} items`, {
      offset: off,
    })
  }
  if (limit - off < 8)
    throw new KmipError('ERR_TTLV_TRUNCATED', 'truncated item header', { offset: off })
  const v = st.view
  const tag = (v.getUint8(off) << 16) | (v.getUint8(off + 1) << 8) | v.getUint8(off + 2)
  const typeByte = v.getUint8(off + 3)
  const len = v.getUint32(off + 4)
  const type = typeByCode[typeByte]
  if (type === undefined) {
    throw new KmipError('ERR_TTLV_TYPE', `unknown item type 0x${typeByte.toString(16)}`, {
      offset: off + 3,
      tag,
    })
  }
  if (st.strict && !isKnownTag(tag) && !isExtensionTag(tag)) {
    throw new KmipError('ERR_TTLV_UNKNOWN_TAG', `unknown tag 0x${tag.toString(16)}`, {
      offset: off,
      tag,
    })
  }
  const start = off + 8
  if (type !== 'Structure' && len > st.limits.maxItemBytes) {
    throw new KmipError(
      'ERR_TTLV_TOO_LARGE',
      `item of ${len} bytes exceeds ${st.limits.maxItemBytes}`,
      { offset: off, tag },
    )
  }
  const fixed = fixedLength[type]
  if (fixed !== undefined && len !== fixed) {
    throw new KmipError('ERR_TTLV_LENGTH', `${type} with length ${len} (must be ${fixed})`, {
      offset: off + 4,
      tag,
    })
  }
  if (type === 'BigInteger') {
    if (len === 0 || len % 8 !== 0) {
      throw new KmipError(
        'ERR_TTLV_LENGTH',
        `Big Integer length ${len} is not a positive multiple of 8`,
        {
          offset: off + 4,
          tag,
        },
      )
    }
    if (len > st.limits.maxBigIntegerBytes) {
      throw new KmipError(
        'ERR_TTLV_TOO_LARGE',
        `Big Integer of ${len} bytes exceeds ${st.limits.maxBigIntegerBytes} (maxBigIntegerBytes)`,
        { offset: off, tag },
      )
    }
  }
  const total = padded(len)
  if (total > limit - start) {
    throw new KmipError('ERR_TTLV_TRUNCATED', `item of ${len} bytes runs past its container`, {
      offset: off,
      tag,
    })
  }
  const end = start + total
  for (let i = start + len; i < end; i++) {
    if (st.bytes[i] !== 0)
      throw new KmipError('ERR_TTLV_PADDING', 'non-zero padding', { offset: i, tag })
  }
  const item = readValue(st, tag, type, start, len, depth)
  st.end = end
  return item
}

function readValue(
  st: State,
  tag: number,
  type: TtlvType,
  start: number,
  len: number,
  depth: number,
): TtlvItem {
  const v = st.view
  switch (type) {
    case 'Structure': {
      const children: TtlvItem[] = []
      let p = start
      const stop = start + len
      while (p < stop) {
        children.push(readItem(st, p, stop, depth + 1))
        p = st.end
      }
      return { tag, type, value: children }
    }
    case 'Integer':
      return { tag, type, value: v.getInt32(start) }
    case 'Enumeration':
      return { tag, type, value: v.getUint32(start) }
    case 'Interval':
      return { tag, type, value: v.getUint32(start) }
    case 'LongInteger':
      return { tag, type, value: v.getBigInt64(start) }
    case 'DateTime':
      return { tag, type, value: v.getBigInt64(start) }
    case 'DateTimeExtended':
      return { tag, type, value: v.getBigInt64(start) }
    case 'BigInteger':
      // Two's complement, big-endian, sign-extended to a multiple of 8 bytes (KMIP 1.4 §9.1.1.4);
      // linear in len (bigint.ts), and len is at most maxBigIntegerBytes (checked in readItem).
      return {
        tag,
        type,
        value: len === 8 ? v.getBigInt64(start) : bigIntFromBytes(st.bytes, start, len),
      }
    case 'Boolean': {
      const b = v.getBigUint64(start)
      if (b > 1n)
        throw new KmipError('ERR_TTLV_BOOLEAN', 'Boolean value other than 0 or 1', {
          offset: start,
          tag,
        })
      return { tag, type, value: b === 1n }
    }
    case 'TextString': {
      let s: string
      try {
        s = utf8.decode(st.bytes.subarray(start, start + len))
      } catch (cause) {
        throw new KmipError('ERR_TTLV_UTF8', 'Text String is not valid UTF-8', {
          offset: start,
          tag,
          cause,
        })
      }
      return { tag, type, value: s }
    }
    case 'ByteString':
      // A copy, never a view: callers zero key material, and a Buffer input's slice() would alias it.
      return { tag, type, value: new Uint8Array(st.bytes.subarray(start, start + len)) }
  }
}
