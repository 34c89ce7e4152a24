import { NbdError } from '../errors.js'

/**
 * Fixed-layout NBD messages, declared as plain values (STYLE §3): member order is wire order, all
 * fields big-endian. One generic encoder and one generic decoder serve every message.
 */

export type Field =
  | { readonly kind: 'u16' }
  | { readonly kind: 'u32' }
  /** 64-bit opaque value (the cookie), as bigint. */
  | { readonly kind: 'u64' }
  /**
   * 64-bit size or offset, as a number. Values above 2^53 lose precision but stay above 2^53, so
   * they are still out of range of any export (export sizes are at most 2^53 - 1).
   */
  | { readonly kind: 'u64n' }
  /** A constant (magic number, info type): encoded from the declaration, checked on decode. */
  | { readonly kind: 'const'; readonly width: 2 | 4 | 8; readonly value: number | bigint }

export const u16 = { kind: 'u16' } as const
export const u32 = { kind: 'u32' } as const
export const u64 = { kind: 'u64' } as const
export const u64n = { kind: 'u64n' } as const
export const const16 = (value: number) => ({ kind: 'const', width: 2, value }) as const
export const const32 = (value: number) => ({ kind: 'const', width: 4, value }) as const
export const const64 = (value: bigint) => ({ kind: 'const', width: 8, value }) as const

type Fields = Readonly<Record<string, Field>>

export interface Layout<F extends Fields = Fields> {
  /** Spec name of the message, for errors. */
  readonly name: string
  readonly fields: F
  /** Encoded size in bytes. */
  readonly size: number
  /** Precomputed [name, field, byte offset] in wire order. */
  readonly plan: readonly (readonly [string, Field, number])[]
}

type ValueOf<F> = F extends { kind: 'u64' } ? bigint : number
type DataKeys<F extends Fields> = {
  [K in keyof F]: F[K] extends { kind: 'const' } ? never : K
}[keyof F]
/** The decoded value of a layout: every non-constant field. */
export type Infer<L extends Layout> = {
  -readonly [K in DataKeys<L['fields']>]: ValueOf<L['fields'][K]>
}

const width = (f: Field): number =>
  f.kind === 'u16' ? 2 : f.kind === 'u32' ? 4 : f.kind === 'const' ? f.width : 8

export function layout<const F extends Fields>(name: string, fields: F): Layout<F> {
  const plan: [string, Field, number][] = []
  let at = 0
  for (const [k, f] of Object.entries(fields)) {
    plan.push([k, f, at])
    at += width(f)
  }
  return { name, fields, size: at, plan }
}

const TWO32 = 2 ** 32
const TWO64 = 2 ** 64

function put(v: DataView, at: number, w: number, value: number | bigint): void {
  if (w === 2) v.setUint16(at, Number(value))
  else if (w === 4) v.setUint32(at, Number(value))
  else if (typeof value === 'bigint') v.setBigUint64(at, value)
  else {
    if (!(value >= 0 && value < TWO64))
      throw new NbdError('ERR_NBD_ARG', `${value} does not fit 64 bits`)
    v.setUint32(at, Math.floor(value / TWO32))
    v.setUint32(at + 4, value >>> 0)
  }
}

/**
 * Encode `value` into `target` at `at` (a new buffer of `l.size` bytes when no target is given).
 * Values are the caller's (this server's) own, so they are trusted to fit their fields.
 */
export function encode<L extends Layout>(
  l: L,
  value: Infer<L>,
  target: Uint8Array = new Uint8Array(l.size),
  at = 0,
): Uint8Array {
  const v = new DataView(target.buffer, target.byteOffset + at, l.size)
  const rec = value as Record<string, number | bigint>
  for (const [k, f, off] of l.plan) {
    if (f.kind === 'const') put(v, off, f.width, f.value)
    else put(v, off, width(f), rec[k]!)
  }
  return target
}

/**
 * Decode one `l` from `bytes` at `at`. Throws ERR_NBD_TRUNCATED when fewer than `l.size` bytes are
 * there and ERR_NBD_BAD_MAGIC when a constant differs (the stream cannot be trusted after that).
 */
export function decode<L extends Layout>(l: L, bytes: Uint8Array, at = 0): Infer<L> {
  if (at < 0 || bytes.length - at < l.size)
    throw new NbdError('ERR_NBD_TRUNCATED', `${l.name}: needs ${l.size} bytes`, {
      details: { have: Math.max(0, bytes.length - at) },
    })
  const v = new DataView(bytes.buffer, bytes.byteOffset + at, l.size)
  const out: Record<string, number | bigint> = {}
  for (const [k, f, off] of l.plan) {
    switch (f.kind) {
      case 'u16':
        out[k] = v.getUint16(off)
        break
      case 'u32':
        out[k] = v.getUint32(off)
        break
      case 'u64':
        out[k] = v.getBigUint64(off)
        break
      case 'u64n':
        out[k] = v.getUint32(off) * TWO32 + v.getUint32(off + 4)
        break
      case 'const': {
        const got =
          f.width === 2 ? v.getUint16(off) : f.width === 4 ? v.getUint32(off) : v.getBigUint64(off)
        if (got !== f.value)
          throw new NbdError('ERR_NBD_BAD_MAGIC', `${l.name}: bad ${k}`, {
            details: { field: k, got: `0x${got.toString(16)}` },
          })
      }
    }
  }
  return out as Infer<L>
}
