import { createHash } from 'node:crypto'
import { EnvelopeError } from '../errors.js'

/*
 * The LUKS2 binary header (LUKS2 On-Disk Format Specification, Milan Broz, §2.1 and
 * cryptsetup lib/luks2/luks2.h `struct luks2_hdr_disk`), declared once as a table: member order
 * is wire order, every integer is big-endian, and one encoder and one decoder read the table.
 */

interface U16 {
  readonly kind: 'u16'
}
interface U64 {
  readonly kind: 'u64'
}
/** NUL-terminated text in a fixed field; the bytes after the terminator must be zero. */
interface CStr {
  readonly kind: 'cstr'
  readonly size: number
}
interface Raw {
  readonly kind: 'raw'
  readonly size: number
}
/** Reserved bytes: written as zeros, and anything else is refused on decode. */
interface Pad {
  readonly kind: 'pad'
  readonly size: number
}
type Field = U16 | U64 | CStr | Raw | Pad

const u16: U16 = { kind: 'u16' }
const u64: U64 = { kind: 'u64' }
const cstr = (size: number): CStr => ({ kind: 'cstr', size })
const raw = (size: number): Raw => ({ kind: 'raw', size })
const pad = (size: number): Pad => ({ kind: 'pad', size })

/** LUKS2 spec §2.1, `struct luks2_hdr_disk` (4096 bytes; the JSON area follows). */
export const LUKS2_HDR_DISK = {
  magic: raw(6),
  version: u16,
  hdrSize: u64,
  seqid: u64,
  label: cstr(48),
  checksumAlg: cstr(32),
  salt: raw(64),
  uuid: cstr(40),
  subsystem: cstr(48),
  hdrOffset: u64,
  padding: pad(184),
  csum: raw(64),
  padding4096: pad(7 * 512),
} as const

type ValueOf<F> = F extends U16
  ? number
  : F extends U64
    ? bigint
    : F extends CStr
      ? string
      : F extends Raw
        ? Uint8Array
        : never
type NonPad<T> = { [K in keyof T as T[K] extends Pad ? never : K]: ValueOf<T[K]> }
/** The decoded binary header (reserved fields dropped). */
export type Luks2BinaryHeader = NonPad<typeof LUKS2_HDR_DISK>

const sizeOf = (f: Field): number => (f.kind === 'u16' ? 2 : f.kind === 'u64' ? 8 : f.size)

/** Byte offset of every field, derived from the table. */
const OFFSETS: Readonly<Record<keyof typeof LUKS2_HDR_DISK, number>> = (() => {
  let off = 0
  const out: Record<string, number> = {}
  for (const [name, f] of Object.entries(LUKS2_HDR_DISK) as [string, Field][]) {
    out[name] = off
    off += sizeOf(f)
  }
  if (off !== 4096) throw new Error('LUKS2 binary header table is not 4096 bytes')
  return out as Record<keyof typeof LUKS2_HDR_DISK, number>
})()

/** Size of the binary header (spec §2.1). */
export const LUKS2_HDR_BIN_LEN = 4096
/** Magic of the primary header (spec §2.1). */
export const LUKS2_MAGIC_1ST = Uint8Array.of(0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe)
/** Magic of the secondary header (spec §2.1). */
export const LUKS2_MAGIC_2ND = Uint8Array.of(0x53, 0x4b, 0x55, 0x4c, 0xba, 0xbe)
/** Header sizes the spec allows (binary header + JSON area; spec §2.2, LUKS2_HDR2_OFFSETS). */
export const LUKS2_HDR_SIZES = [
  0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000, 0x100000, 0x200000, 0x400000,
] as const
/** Offset of the checksum field; it is zeroed while the checksum is computed (spec §2.1). */
export const LUKS2_CSUM_OFFSET = OFFSETS.csum

const bad = (what: string): EnvelopeError =>
  new EnvelopeError('ERR_LUKS2_HEADER', `LUKS2 binary header: ${what}`)

/** Decode 4096 bytes into a header; never validates the checksum (see `verifyChecksum`). */
export function decodeBinaryHeader(bytes: Uint8Array): Luks2BinaryHeader {
  if (bytes.length !== LUKS2_HDR_BIN_LEN)
    throw bad(`need ${LUKS2_HDR_BIN_LEN} bytes, got ${bytes.length}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out: Record<string, unknown> = {}
  for (const [name, f] of Object.entries(LUKS2_HDR_DISK) as [keyof typeof OFFSETS, Field][]) {
    const off = OFFSETS[name]
    switch (f.kind) {
      case 'u16':
        out[name] = view.getUint16(off)
        break
      case 'u64':
        out[name] = view.getBigUint64(off)
        break
      case 'raw':
        out[name] = bytes.slice(off, off + f.size)
        break
      case 'pad':
        for (let i = off; i < off + f.size; i++)
          if (bytes[i] !== 0) throw bad(`non-zero reserved byte at ${i}`)
        break
      case 'cstr': {
        const field = bytes.subarray(off, off + f.size)
        const nul = field.indexOf(0)
        if (nul < 0) throw bad(`${name} is not NUL-terminated`)
        for (let i = nul; i < field.length; i++)
          if (field[i] !== 0) throw bad(`${name} has bytes after its terminator`)
        out[name] = new TextDecoder('utf-8', { fatal: false }).decode(field.subarray(0, nul))
        break
      }
    }
  }
  return out as Luks2BinaryHeader
}

/** Encode a header into 4096 bytes (reserved bytes zero). Strings too long for a field throw. */
export function encodeBinaryHeader(h: Luks2BinaryHeader): Uint8Array {
  const bytes = new Uint8Array(LUKS2_HDR_BIN_LEN)
  const view = new DataView(bytes.buffer)
  const values = h as unknown as Record<string, unknown>
  for (const [name, f] of Object.entries(LUKS2_HDR_DISK) as [keyof typeof OFFSETS, Field][]) {
    const off = OFFSETS[name]
    const v = values[name]
    switch (f.kind) {
      case 'u16':
        view.setUint16(off, v as number)
        break
      case 'u64':
        view.setBigUint64(off, v as bigint)
        break
      case 'raw': {
        const b = v as Uint8Array
        if (b.length !== f.size) throw bad(`${name} must be ${f.size} bytes`)
        bytes.set(b, off)
        break
      }
      case 'cstr': {
        const b = new TextEncoder().encode(v as string)
        if (b.length >= f.size || b.includes(0))
          throw bad(`${name} does not fit in ${f.size - 1} bytes`)
        bytes.set(b, off)
        break
      }
      case 'pad':
        break
    }
  }
  return bytes
}

/**
 * Checksum of one header copy (spec §2.1): the hash of the binary header with its checksum field
 * zeroed, followed by the whole JSON area including its zero padding. Only sha256 is accepted, as
 * it is the only algorithm cryptsetup writes.
 */
export function headerChecksum(alg: string, binary: Uint8Array, jsonArea: Uint8Array): Uint8Array {
  if (alg !== 'sha256')
    throw new EnvelopeError('ERR_LUKS2_HEADER', `unsupported header checksum algorithm '${alg}'`)
  const copy = binary.slice()
  copy.fill(0, LUKS2_CSUM_OFFSET, LUKS2_CSUM_OFFSET + 64)
  const h = createHash('sha256')
  h.update(copy)
  h.update(jsonArea)
  const out = new Uint8Array(64)
  out.set(h.digest())
  return out
}
