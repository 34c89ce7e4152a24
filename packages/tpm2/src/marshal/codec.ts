/**
 * The one encoder and decoder for every TPM 2.0 structure declared with dsl.ts.
 * SECURITY: decoding bounds every size and count against the declaration and the remaining
 * input before allocating, limits nesting depth, and rejects trailing bytes.
 */
import { TpmDecodeError, TpmError } from '../errors.js'
import type { Field, Infer, Input } from './dsl.js'

export interface Limits {
  /** maximum nesting of structures (default 32) */
  readonly depth: number
}
const defaultLimits: Limits = { depth: 32 }

/** Cursor over received bytes; every read is bounds-checked. */
export class Reader {
  readonly buf: Uint8Array
  readonly view: DataView
  pos: number
  readonly end: number
  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    this.buf = buf
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
    this.pos = start
    this.end = end
  }
  need(n: number): void {
    if (n < 0 || this.pos + n > this.end)
      throw new TpmDecodeError(`truncated: need ${n} bytes, ${this.end - this.pos} left`, this.pos)
  }
  u8(): number {
    this.need(1)
    return this.view.getUint8(this.pos++)
  }
  u16(): number {
    this.need(2)
    const v = this.view.getUint16(this.pos)
    this.pos += 2
    return v
  }
  u32(): number {
    this.need(4)
    const v = this.view.getUint32(this.pos)
    this.pos += 4
    return v
  }
  u64(): bigint {
    this.need(8)
    const v = this.view.getBigUint64(this.pos)
    this.pos += 8
    return v
  }
  take(n: number): Uint8Array {
    this.need(n)
    // a copy as a plain Uint8Array: never a view into (or a Buffer of) the caller's input
    const out = new Uint8Array(this.buf.subarray(this.pos, this.pos + n))
    this.pos += n
    return out
  }
  remaining(): number {
    return this.end - this.pos
  }
}

/** Growable output buffer. */
export class Writer {
  #chunks: Uint8Array[] = []
  #len = 0
  bytes(b: Uint8Array): void {
    this.#chunks.push(b)
    this.#len += b.length
  }
  uint(size: 1 | 2 | 4, v: number): void {
    if (!Number.isInteger(v) || v < 0 || v >= 2 ** (8 * size))
      throw new TpmError('ERR_TPM_ENCODE', `value ${String(v)} does not fit in ${size} bytes`)
    const b = new Uint8Array(size)
    const dv = new DataView(b.buffer)
    if (size === 1) dv.setUint8(0, v)
    else if (size === 2) dv.setUint16(0, v)
    else dv.setUint32(0, v)
    this.bytes(b)
  }
  u64(v: bigint): void {
    if (typeof v !== 'bigint' || v < 0n || v >= 1n << 64n)
      throw new TpmError('ERR_TPM_ENCODE', 'u64 value out of range')
    const b = new Uint8Array(8)
    new DataView(b.buffer).setBigUint64(0, v)
    this.bytes(b)
  }
  finish(): Uint8Array {
    return Buffer.concat(this.#chunks, this.#len)
  }
}

/** Encode `value` as `field`. Throws ERR_TPM_ENCODE on a value that does not fit. */
export function encode<F>(field: F & Field, value: Input<F>): Uint8Array {
  const w = new Writer()
  write(w, field, value, undefined)
  return w.finish()
}

/** Untyped encode for generic callers (the command layer). */
export function encodeUnknown(field: Field, value: unknown): Uint8Array {
  const w = new Writer()
  write(w, field, value, undefined)
  return w.finish()
}

/** Untyped decode for generic callers; same checks as `decode`. */
export function decodeUnknown(
  field: Field,
  bytes: Uint8Array,
  limits: Limits = defaultLimits,
): unknown {
  const r = new Reader(bytes)
  const v = read(r, field, undefined, limits.depth)
  if (r.remaining() !== 0) throw new TpmDecodeError(`${r.remaining()} trailing bytes`, r.pos)
  return v
}

/** Append `value` to `w`. */
export function encodeInto<F>(w: Writer, field: F & Field, value: Input<F>): void {
  write(w, field, value, undefined)
}

function write(w: Writer, f: Field, v: unknown, parent: Record<string, unknown> | undefined): void {
  switch (f.kind) {
    case 'uint':
      w.uint(f.size, v as number)
      return
    case 'u64':
      w.u64(v as bigint)
      return
    case 'const':
      w.uint(f.base.size, f.value)
      return
    case 'bytes': {
      if (!(v instanceof Uint8Array)) throw new TpmError('ERR_TPM_ENCODE', 'expected bytes')
      if (v.length > f.max)
        throw new TpmError('ERR_TPM_ENCODE', `${v.length} bytes exceed the limit of ${f.max}`)
      w.uint(f.prefix, v.length)
      w.bytes(v)
      return
    }
    case 'raw':
      if (!(v instanceof Uint8Array) || v.length !== f.length)
        throw new TpmError('ERR_TPM_ENCODE', `expected exactly ${f.length} bytes`)
      w.bytes(v)
      return
    case 'sized': {
      const o = v as { bytes?: Uint8Array; value?: unknown }
      const inner = o.bytes ?? encodeUnknown(f.inner, o.value)
      if (inner.length > f.max)
        throw new TpmError('ERR_TPM_ENCODE', `${inner.length} bytes exceed the limit of ${f.max}`)
      w.uint(2, inner.length)
      w.bytes(inner)
      return
    }
    case 'struct': {
      if (typeof v !== 'object' || v === null)
        throw new TpmError('ERR_TPM_ENCODE', 'expected an object')
      const o = v as Record<string, unknown>
      for (const [k, m] of Object.entries(f.members)) write(w, m, o[k], o)
      return
    }
    case 'list': {
      if (!Array.isArray(v)) throw new TpmError('ERR_TPM_ENCODE', 'expected an array')
      if (v.length > f.max)
        throw new TpmError('ERR_TPM_ENCODE', `${v.length} items exceed the limit of ${f.max}`)
      w.uint(4, v.length)
      for (const item of v) write(w, f.item, item, undefined)
      return
    }
    case 'union': {
      const sel = parent?.[f.selector]
      const branch = typeof sel === 'number' ? f.branches[sel] : undefined
      if (branch === undefined)
        throw new TpmError('ERR_TPM_ENCODE', `no union member for selector ${String(sel)}`)
      write(w, branch, v ?? {}, undefined)
      return
    }
  }
}

/** Decode exactly `bytes` as `field`; trailing bytes are an error (ERR_TPM_DECODE). */
export function decode<F>(
  field: F & Field,
  bytes: Uint8Array,
  limits: Limits = defaultLimits,
): Infer<F> {
  const r = new Reader(bytes)
  const v = read(r, field, undefined, limits.depth)
  if (r.remaining() !== 0) throw new TpmDecodeError(`${r.remaining()} trailing bytes`, r.pos)
  return v as Infer<F>
}

/** Decode one `field` at the reader's position (for streams of structures). */
export function decodeFrom<F>(
  r: Reader,
  field: F & Field,
  limits: Limits = defaultLimits,
): Infer<F> {
  return read(r, field, undefined, limits.depth) as Infer<F>
}

function read(
  r: Reader,
  f: Field,
  parent: Record<string, unknown> | undefined,
  depth: number,
): unknown {
  if (depth <= 0) throw new TpmDecodeError('structure nested too deeply', r.pos)
  switch (f.kind) {
    case 'uint':
      return f.size === 1 ? r.u8() : f.size === 2 ? r.u16() : r.u32()
    case 'u64':
      return r.u64()
    case 'const': {
      const at = r.pos
      const v = read(r, f.base, undefined, depth)
      if (v !== f.value)
        throw new TpmDecodeError(
          `expected 0x${f.value.toString(16)}, got 0x${(v as number).toString(16)}`,
          at,
        )
      return v
    }
    case 'bytes': {
      const at = r.pos
      const n = f.prefix === 1 ? r.u8() : r.u16()
      if (n > f.max) throw new TpmDecodeError(`size ${n} exceeds the limit of ${f.max}`, at)
      return r.take(n)
    }
    case 'raw':
      return r.take(f.length)
    case 'sized': {
      const at = r.pos
      const n = r.u16()
      if (n > f.max) throw new TpmDecodeError(`size ${n} exceeds the limit of ${f.max}`, at)
      r.need(n)
      const start = r.pos
      const sub = new Reader(r.buf, start, start + n)
      const value = read(sub, f.inner, undefined, depth - 1)
      if (sub.remaining() !== 0)
        throw new TpmDecodeError(`${sub.remaining()} bytes left inside a sized structure`, sub.pos)
      r.pos = start + n
      return { bytes: new Uint8Array(r.buf.subarray(start, start + n)), value }
    }
    case 'struct': {
      const o: Record<string, unknown> = {}
      for (const [k, m] of Object.entries(f.members)) o[k] = read(r, m, o, depth - 1)
      return o
    }
    case 'list': {
      const at = r.pos
      const n = r.u32()
      if (n > f.max) throw new TpmDecodeError(`count ${n} exceeds the limit of ${f.max}`, at)
      const out: unknown[] = []
      for (let i = 0; i < n; i++) out.push(read(r, f.item, undefined, depth - 1))
      return out
    }
    case 'union': {
      const sel = parent?.[f.selector]
      const branch = typeof sel === 'number' ? f.branches[sel] : undefined
      if (branch === undefined)
        throw new TpmDecodeError(`unsupported selector 0x${Number(sel).toString(16)}`, r.pos)
      return read(r, branch, undefined, depth - 1)
    }
  }
}
