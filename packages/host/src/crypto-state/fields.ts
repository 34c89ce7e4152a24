/**
 * The field kinds of the host's small binary headers (core dump, host key export), declared as
 * tables: a header is an ordered record of fields; one encoder and one bounds-checked decoder
 * read the table (member order is wire order).
 */
export type Field =
  | { readonly kind: 'magic'; readonly value: Buffer }
  | { readonly kind: 'u8'; readonly min: number; readonly max: number }
  | { readonly kind: 'u32'; readonly min: number; readonly max: number }
  | { readonly kind: 'str8'; readonly min: number; readonly max: number }
  | { readonly kind: 'fixed'; readonly length: number }

export const magic = (s: string) => ({ kind: 'magic', value: Buffer.from(s, 'latin1') }) as const
export const u8 = (min = 0, max = 0xff) => ({ kind: 'u8', min, max }) as const
export const u32 = (min = 0, max = 0xffffffff) => ({ kind: 'u32', min, max }) as const
/** u8 length | UTF-8 bytes, no control characters. */
export const str8 = (min = 1, max = 255) => ({ kind: 'str8', min, max }) as const
export const fixed = (length: number) => ({ kind: 'fixed', length }) as const

type Layout = Readonly<Record<string, Field>>
type ValueOf<F> = F extends { kind: 'magic' }
  ? never
  : F extends { kind: 'u8' | 'u32' }
    ? number
    : F extends { kind: 'str8' }
      ? string
      : Uint8Array
export type Infer<L extends Layout> = {
  readonly [K in keyof L as L[K] extends { kind: 'magic' } ? never : K]: ValueOf<L[K]>
}

/** Encode `value` by `layout` (values are checked against the field bounds). */
export function encodeFields<L extends Layout>(
  layout: L,
  value: Infer<L>,
  fail: (why: string) => Error,
): Buffer {
  const parts: Buffer[] = []
  const v = value as Record<string, unknown>
  for (const [name, f] of Object.entries(layout)) {
    if (f.kind === 'magic') {
      parts.push(f.value)
      continue
    }
    const x = v[name]
    if (f.kind === 'u8' || f.kind === 'u32') {
      if (typeof x !== 'number' || !Number.isInteger(x) || x < f.min || x > f.max)
        throw fail(`${name} out of range`)
      const b = Buffer.alloc(f.kind === 'u8' ? 1 : 4)
      if (f.kind === 'u8') b.writeUInt8(x)
      else b.writeUInt32BE(x)
      parts.push(b)
    } else if (f.kind === 'str8') {
      const b = Buffer.from(String(x), 'utf8')
      if (b.length < f.min || b.length > f.max || /\p{Cc}/u.test(String(x)))
        throw fail(`${name} must be ${f.min} to ${f.max} bytes without control characters`)
      parts.push(Buffer.from([b.length]), b)
    } else {
      if (!(x instanceof Uint8Array) || x.length !== f.length)
        throw fail(`${name} must be ${f.length} bytes`)
      parts.push(Buffer.from(x))
    }
  }
  return Buffer.concat(parts)
}

/** Decode by `layout` from the start of `bytes`; `length` is how many bytes the fields took. */
export function decodeFields<L extends Layout>(
  layout: L,
  bytes: Uint8Array,
  fail: (why: string) => Error,
): { value: Infer<L>; length: number } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let o = 0
  const take = (n: number, what: string): Buffer => {
    if (o + n > b.length) throw fail(`cut short in ${what}`)
    const s = b.subarray(o, o + n)
    o += n
    return s
  }
  const out: Record<string, unknown> = {}
  for (const [name, f] of Object.entries(layout)) {
    if (f.kind === 'magic') {
      if (!take(f.value.length, name).equals(f.value)) throw fail('bad magic')
    } else if (f.kind === 'u8' || f.kind === 'u32') {
      const n = f.kind === 'u8' ? take(1, name).readUInt8(0) : take(4, name).readUInt32BE(0)
      if (n < f.min || n > f.max) throw fail(`${name} ${n} out of range`)
      out[name] = n
    } else if (f.kind === 'str8') {
      const len = take(1, name)[0]!
      if (len < f.min || len > f.max) throw fail(`${name} length ${len} out of range`)
      const s = take(len, name).toString('utf8')
      if (/\p{Cc}|\uFFFD/u.test(s)) throw fail(`${name} is not clean UTF-8 text`)
      out[name] = s
    } else out[name] = new Uint8Array(take(f.length, name))
  }
  return { value: out as Infer<L>, length: o }
}
