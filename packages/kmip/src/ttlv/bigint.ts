/**
 * Big Integer ↔ two's complement bytes (KMIP 1.4 §9.1.1.4: big-endian, sign-extended to a
 * multiple of 8 bytes) in time linear in the value's size: through hex, whose conversions V8 does
 * in one pass, never by shifting 64 bits at a time (quadratic in the value's size; what a large
 * value cost that way: bench/README.md, "Figures from source comments").
 */

/** How a Big Integer is laid out: the hex of its magnitude and its length on the wire. */
export interface BigIntLayout {
  /** Hex of x (x ≥ 0) or of ~x = -x - 1 (x < 0), whose bits are those of x inverted. */
  readonly hex: string
  readonly negative: boolean
  /** Length of the shortest two's complement form, a multiple of 8. */
  readonly bytes: number
}

export function bigIntLayout(x: bigint): BigIntLayout {
  const negative = x < 0n
  const hex = (negative ? ~x : x).toString(16)
  // the magnitude needs its bit length plus a clear sign bit
  const bits = (hex.length - 1) * 4 + (32 - Math.clz32(Number.parseInt(hex[0]!, 16)))
  return { hex, negative, bytes: Math.ceil((bits + 1) / 64) * 8 }
}

/** Writes the `l.bytes` bytes of a Big Integer at `out[at]`. */
export function writeBigInt(l: BigIntLayout, out: Uint8Array, at: number): void {
  const buf = Buffer.from(out.buffer, out.byteOffset, out.byteLength)
  const digits = l.hex.length
  const start = at + l.bytes - Math.ceil(digits / 2) // the magnitude's first byte
  buf.fill(0, at, start)
  if (digits % 2 === 1) {
    buf[start] = Number.parseInt(l.hex[0]!, 16)
    buf.write(l.hex.slice(1), start + 1, 'hex')
  } else buf.write(l.hex, start, 'hex')
  if (l.negative) for (let i = at; i < at + l.bytes; i++) buf[i] = buf[i]! ^ 0xff
}

/**
 * The shortest two's complement form of `x`, sign-extended to a multiple of 8 bytes, as
 * lower-case hex (2 digits per byte, no prefix).
 */
export function bigIntHex(x: bigint): string {
  const l = bigIntLayout(x)
  if (!l.negative) return l.hex.padStart(l.bytes * 2, '0')
  const out = Buffer.alloc(l.bytes)
  writeBigInt(l, out, 0)
  return out.toString('hex')
}

/** The value of `len` bytes of two's complement at `bytes[start]` (len > 0). */
export function bigIntFromBytes(bytes: Uint8Array, start: number, len: number): bigint {
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset + start, len).toString('hex')
  const x = BigInt('0x' + hex)
  return bytes[start]! & 0x80 ? BigInt.asIntN(len * 8, x) : x
}
