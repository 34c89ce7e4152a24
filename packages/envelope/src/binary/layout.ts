import { EnvelopeError, type EnvelopeErrorCode } from '../errors.js'

/*
 * A tiny table-driven binary codec (STYLE.md §3): a structure is a plain `as const` object of
 * field builders, member order is wire order, and one generic encoder and decoder serve every
 * structure. Integers are big-endian. Every length is bounded by the field's declaration.
 */

export interface MagicField {
  readonly kind: 'magic'
  readonly value: Uint8Array
}
export interface UintField {
  readonly kind: 'uint'
  readonly size: 1 | 2 | 4
  readonly min: number
  readonly max: number
}
export interface EnumField<V extends readonly string[] = readonly string[]> {
  readonly kind: 'enum'
  readonly values: V
}
export interface StrField {
  readonly kind: 'str'
  readonly min: number
  readonly max: number
}
export interface BytesField {
  readonly kind: 'bytes'
  /** 0: fixed length `min === max`; 1/4: length prefix size in bytes. */
  readonly prefix: 0 | 1 | 4
  readonly min: number
  readonly max: number
  readonly sensitive: boolean
}
export type Field = MagicField | UintField | EnumField | StrField | BytesField
export type Layout = Readonly<Record<string, Field>>

/** A constant byte string (a format magic); decoding anything else is `ERR_<AREA>_MAGIC`. */
export const magic = (ascii: string): MagicField => ({
  kind: 'magic',
  value: new TextEncoder().encode(ascii),
})
/** Unsigned big-endian integer of `size` bytes, restricted to [min, max]. */
export const uint = (size: 1 | 2 | 4, min = 0, max = 2 ** (8 * size) - 1): UintField => ({
  kind: 'uint',
  size,
  min,
  max,
})
/** One byte holding the index of a name in `values`; names in TypeScript, numbers on the wire. */
export const enumeration = <const V extends readonly string[]>(values: V): EnumField<V> => ({
  kind: 'enum',
  values,
})
/** UTF-8 text with a 1-byte length prefix, `min..max` bytes. */
export const str8 = (min: number, max: number): StrField => ({
  kind: 'str',
  min,
  max: Math.min(max, 255),
})
/** Bytes with a 1-byte length prefix. */
export const bytes8 = (min: number, max: number, o: { sensitive?: boolean } = {}): BytesField => ({
  kind: 'bytes',
  prefix: 1,
  min,
  max: Math.min(max, 255),
  sensitive: o.sensitive ?? false,
})
/** Bytes with a 4-byte length prefix. */
export const bytes32 = (min: number, max: number, o: { sensitive?: boolean } = {}): BytesField => ({
  kind: 'bytes',
  prefix: 4,
  min,
  max,
  sensitive: o.sensitive ?? false,
})
/** Exactly `n` bytes, no prefix. */
export const fixed = (n: number, o: { sensitive?: boolean } = {}): BytesField => ({
  kind: 'bytes',
  prefix: 0,
  min: n,
  max: n,
  sensitive: o.sensitive ?? false,
})

type ValueOf<F> = F extends MagicField
  ? undefined
  : F extends UintField
    ? number
    : F extends EnumField<infer V>
      ? V[number]
      : F extends StrField
        ? string
        : F extends BytesField
          ? Uint8Array
          : never
type MagicKeys<L extends Layout> = { [K in keyof L]: L[K] extends MagicField ? K : never }[keyof L]
/** The value type of a layout: magic fields are implicit. */
export type Infer<L extends Layout> = {
  -readonly [K in Exclude<keyof L, MagicKeys<L>>]: ValueOf<L[K]>
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Errors raised by the codec carry the caller's area, e.g. `ERR_VMFILE_HEADER`. */
export interface CodecErrors {
  readonly format: EnvelopeErrorCode
  readonly magic: EnvelopeErrorCode
}

/** Encode `value` per `layout`. Values out of the declared bounds are the `format` error. */
export function encodeLayout<L extends Layout>(
  layout: L,
  value: Infer<L>,
  errs: CodecErrors,
): Uint8Array {
  const parts: Uint8Array[] = []
  const v = value as Record<string, unknown>
  const bad = (name: string, why: string): EnvelopeError =>
    new EnvelopeError(errs.format, `field ${name}: ${why}`)
  for (const [name, f] of Object.entries(layout)) {
    const x = v[name]
    switch (f.kind) {
      case 'magic':
        parts.push(f.value)
        break
      case 'uint': {
        if (typeof x !== 'number' || !Number.isInteger(x) || x < f.min || x > f.max)
          throw bad(name, `must be an integer in ${f.min}..${f.max}`)
        const b = new Uint8Array(f.size)
        const dv = new DataView(b.buffer)
        if (f.size === 1) dv.setUint8(0, x)
        else if (f.size === 2) dv.setUint16(0, x)
        else dv.setUint32(0, x)
        parts.push(b)
        break
      }
      case 'enum': {
        const i = f.values.indexOf(x as string)
        if (i < 0) throw bad(name, `must be one of ${f.values.join(', ')}`)
        parts.push(Uint8Array.of(i))
        break
      }
      case 'str': {
        if (typeof x !== 'string') throw bad(name, 'must be a string')
        const b = new TextEncoder().encode(x)
        if (b.length < f.min || b.length > f.max)
          throw bad(name, `must be ${f.min}..${f.max} UTF-8 bytes`)
        parts.push(Uint8Array.of(b.length), b)
        break
      }
      case 'bytes': {
        if (!(x instanceof Uint8Array)) throw bad(name, 'must be bytes')
        if (x.length < f.min || x.length > f.max)
          throw bad(name, `must be ${f.min}..${f.max} bytes`)
        if (f.prefix === 1) parts.push(Uint8Array.of(x.length))
        else if (f.prefix === 4) {
          const b = new Uint8Array(4)
          new DataView(b.buffer).setUint32(0, x.length)
          parts.push(b)
        }
        parts.push(x)
        break
      }
    }
  }
  return concatBytes(parts)
}

/**
 * Decode a prefix of `bytes` per `layout`. Returns the value and the number of bytes consumed
 * (callers that own the whole buffer must check there are no trailing bytes).
 */
export function decodeLayout<L extends Layout>(
  layout: L,
  bytes: Uint8Array,
  errs: CodecErrors,
): { value: Infer<L>; length: number } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out: Record<string, unknown> = {}
  let off = 0
  const need = (name: string, n: number): void => {
    if (off + n > bytes.length)
      throw new EnvelopeError(errs.format, `truncated at field ${name} (offset ${off})`)
  }
  const bad = (name: string, why: string): EnvelopeError =>
    new EnvelopeError(errs.format, `field ${name} at offset ${off}: ${why}`)
  for (const [name, f] of Object.entries(layout)) {
    switch (f.kind) {
      case 'magic': {
        if (off + f.value.length > bytes.length || !f.value.every((b, i) => bytes[off + i] === b))
          throw new EnvelopeError(errs.magic, 'not this format: magic bytes do not match')
        off += f.value.length
        break
      }
      case 'uint': {
        need(name, f.size)
        const x =
          f.size === 1 ? dv.getUint8(off) : f.size === 2 ? dv.getUint16(off) : dv.getUint32(off)
        if (x < f.min || x > f.max) throw bad(name, `${x} outside ${f.min}..${f.max}`)
        out[name] = x
        off += f.size
        break
      }
      case 'enum': {
        need(name, 1)
        const x = dv.getUint8(off)
        const s = f.values[x]
        if (s === undefined) throw bad(name, `unknown value ${x}`)
        out[name] = s
        off += 1
        break
      }
      case 'str': {
        need(name, 1)
        const n = dv.getUint8(off)
        if (n < f.min || n > f.max) throw bad(name, `length ${n} outside ${f.min}..${f.max}`)
        off += 1
        need(name, n)
        try {
          out[name] = utf8.decode(bytes.subarray(off, off + n))
        } catch {
          throw bad(name, 'not valid UTF-8')
        }
        off += n
        break
      }
      case 'bytes': {
        let n = f.min
        if (f.prefix === 1) {
          need(name, 1)
          n = dv.getUint8(off)
          off += 1
        } else if (f.prefix === 4) {
          need(name, 4)
          n = dv.getUint32(off)
          off += 4
        }
        if (n < f.min || n > f.max) throw bad(name, `length ${n} outside ${f.min}..${f.max}`)
        need(name, n)
        out[name] = bytes.slice(off, off + n)
        off += n
        break
      }
    }
  }
  return { value: out as Infer<L>, length: off }
}

/** Concatenate byte arrays into one new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let off = 0
  for (const p of parts) {
    out.set(p, off)
    off += p.length
  }
  return out
}
