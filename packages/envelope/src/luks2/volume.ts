import { fstatSync, fsyncSync } from 'node:fs'
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import { EnvelopeError, type EnvelopeErrorCode } from '../errors.js'
import { preadFull, pwriteFull } from '../disk/io.js'
import {
  decodeBinaryHeader,
  encodeBinaryHeader,
  headerChecksum,
  LUKS2_HDR_BIN_LEN,
  LUKS2_HDR_SIZES,
  LUKS2_MAGIC_1ST,
  LUKS2_MAGIC_2ND,
  type Luks2BinaryHeader,
} from './header.js'
import { encodeJsonArea, parseJsonArea, type Luks2Metadata } from './metadata.js'

/*
 * Reading and writing both header copies (LUKS2 spec §2; cryptsetup luks2_disk_metadata.c):
 * each copy is checked on its own (magic, version, offset, checksum, JSON); the valid copy with
 * the higher seqid wins; a damaged or stale copy is rewritten from the winner when repairing.
 */

/** A LUKS2 volume's header state. */
export interface Luks2Volume {
  readonly hdrSize: number
  readonly seqid: bigint
  readonly uuid: string
  readonly label: string
  readonly subsystem: string
  readonly meta: Luks2Metadata
  /** The JSON area bytes of the winning copy (to rewrite the other copy byte for byte). */
  readonly jsonArea: Uint8Array
  readonly fileSize: number
  /** Copies that were damaged or stale when read (and rewritten if `repair` was asked). */
  readonly damaged: readonly ('primary' | 'secondary')[]
  readonly repaired: boolean
}

type Copy =
  | { ok: true; bin: Luks2BinaryHeader; area: Uint8Array; meta: Luks2Metadata }
  | { ok: false; error: EnvelopeError; notLuks: boolean }

function readCopy(fd: number, offset: number, secondary: boolean, fileSize: number): Copy {
  const fail = (code: EnvelopeErrorCode, msg: string, notLuks = false, cause?: unknown): Copy => ({
    ok: false,
    error: new EnvelopeError(
      code,
      `${secondary ? 'secondary' : 'primary'} LUKS2 header at ${offset}: ${msg}`,
      cause ? { cause } : undefined,
    ),
    notLuks,
  })
  const binBytes = new Uint8Array(LUKS2_HDR_BIN_LEN)
  const got = preadFull(fd, binBytes, offset)
  const magic = secondary ? LUKS2_MAGIC_2ND : LUKS2_MAGIC_1ST
  const hasMagic = got >= magic.length && timingSafeEqual(binBytes.subarray(0, 6), magic)
  if (got !== LUKS2_HDR_BIN_LEN)
    // a file cut inside a header that starts with the magic is a truncated volume, not "not LUKS"
    return fail(
      'ERR_LUKS2_TRUNCATED',
      `file too short (${fileSize} bytes, the binary header needs ${offset + LUKS2_HDR_BIN_LEN})`,
      !hasMagic,
    )
  if (!hasMagic) return fail('ERR_LUKS2_NOT_LUKS', 'no LUKS2 magic', true)
  let bin: Luks2BinaryHeader
  try {
    bin = decodeBinaryHeader(binBytes)
  } catch (e) {
    return fail('ERR_LUKS2_HEADER', (e as Error).message, false, e)
  }
  if (bin.version !== 2) return fail('ERR_LUKS2_HEADER', `version ${bin.version} is not 2`)
  if (bin.hdrOffset !== BigInt(offset))
    return fail('ERR_LUKS2_HEADER', 'hdr_offset does not match its position')
  const hdrSize = Number(bin.hdrSize)
  if (!(LUKS2_HDR_SIZES as readonly number[]).includes(hdrSize))
    return fail('ERR_LUKS2_HEADER', `bogus hdr_size ${bin.hdrSize}`)
  if (secondary && hdrSize !== offset)
    return fail('ERR_LUKS2_HEADER', 'hdr_size does not match the secondary offset')
  if (offset + hdrSize > fileSize)
    return fail(
      'ERR_LUKS2_TRUNCATED',
      `file ends inside the JSON area (${fileSize} bytes, the header copy needs ${offset + hdrSize})`,
    )
  const area = new Uint8Array(hdrSize - LUKS2_HDR_BIN_LEN)
  preadFull(fd, area, offset + LUKS2_HDR_BIN_LEN)
  let sum: Uint8Array
  try {
    sum = headerChecksum(bin.checksumAlg, binBytes, area)
  } catch (e) {
    return fail('ERR_LUKS2_HEADER', (e as Error).message, false, e)
  }
  if (!timingSafeEqual(sum.subarray(0, 32), bin.csum.subarray(0, 32)))
    return fail('ERR_LUKS2_CHECKSUM', 'checksum mismatch')
  try {
    return { ok: true, bin, area, meta: parseJsonArea(area) }
  } catch (e) {
    const err = e as EnvelopeError
    return fail(err.code ?? 'ERR_LUKS2_METADATA', err.message, false, e)
  }
}

/**
 * Read a LUKS2 volume from an open file. With `repair` (fd opened read-write), a damaged or
 * stale copy is rewritten from the valid one (fresh salt, same seqid), as cryptsetup does.
 */
export function readVolume(fd: number, options: { repair?: boolean } = {}): Luks2Volume {
  const fileSize = fstatSync(fd).size
  const primary = readCopy(fd, 0, false, fileSize)
  let secondary: Copy
  if (primary.ok) secondary = readCopy(fd, Number(primary.bin.hdrSize), true, fileSize)
  else {
    secondary = {
      ok: false,
      error: new EnvelopeError('ERR_LUKS2_NOT_LUKS', 'no secondary LUKS2 header'),
      notLuks: true,
    }
    for (const off of LUKS2_HDR_SIZES) {
      const c = readCopy(fd, off, true, fileSize)
      if (c.ok || !c.notLuks) secondary = c
      if (c.ok) break
    }
  }
  if (!primary.ok && !secondary.ok) {
    if (primary.notLuks && secondary.notLuks)
      throw new EnvelopeError('ERR_LUKS2_NOT_LUKS', 'not a LUKS2 volume (no valid header magic)', {
        cause: primary.error,
      })
    const first = primary.notLuks ? secondary.error : primary.error
    throw new EnvelopeError(
      first.code,
      `no valid LUKS2 header copy: ${primary.error.message}; ${secondary.error.message}${first.code === 'ERR_LUKS2_TRUNCATED' ? ': the file was cut short (copy it again from its source)' : ''}`,
      { cause: first },
    )
  }
  let winner: 'primary' | 'secondary'
  const damaged: ('primary' | 'secondary')[] = []
  if (primary.ok && secondary.ok) {
    winner = primary.bin.seqid >= secondary.bin.seqid ? 'primary' : 'secondary'
    if (primary.bin.seqid > secondary.bin.seqid) damaged.push('secondary')
    else if (primary.bin.seqid < secondary.bin.seqid) damaged.push('primary')
  } else {
    winner = primary.ok ? 'primary' : 'secondary'
    damaged.push(primary.ok ? 'secondary' : 'primary')
  }
  const w = (winner === 'primary' ? primary : secondary) as Extract<Copy, { ok: true }>
  const hdrSize = Number(w.bin.hdrSize)
  const dataEnd = 2 * hdrSize + w.meta.keyslotsSize
  if (fileSize < dataEnd)
    throw new EnvelopeError(
      'ERR_LUKS2_TRUNCATED',
      `the file is ${fileSize} bytes and ends inside the keyslots area (the headers and keyslots need ${dataEnd}): the file was cut short (copy it again from its source)`,
    )
  let repaired = false
  if (options.repair && damaged.length > 0) {
    for (const which of damaged) writeCopy(fd, which === 'secondary', w.bin, w.area, w.bin.seqid)
    fsyncSync(fd)
    repaired = true
  }
  return {
    hdrSize,
    seqid: w.bin.seqid,
    uuid: w.bin.uuid,
    label: w.bin.label,
    subsystem: w.bin.subsystem,
    meta: w.meta,
    jsonArea: w.area,
    fileSize,
    damaged,
    repaired,
  }
}

function writeCopy(
  fd: number,
  secondary: boolean,
  base: Omit<Luks2BinaryHeader, 'magic' | 'salt' | 'csum' | 'hdrOffset' | 'seqid'>,
  area: Uint8Array,
  seqid: bigint,
): void {
  const hdrSize = Number(base.hdrSize)
  const bin: Luks2BinaryHeader = {
    magic: secondary ? LUKS2_MAGIC_2ND : LUKS2_MAGIC_1ST,
    version: 2,
    hdrSize: base.hdrSize,
    seqid,
    label: base.label,
    checksumAlg: 'sha256',
    salt: new Uint8Array(randomBytes(64)),
    uuid: base.uuid,
    subsystem: base.subsystem,
    hdrOffset: BigInt(secondary ? hdrSize : 0),
    csum: new Uint8Array(64),
  }
  const bytes = encodeBinaryHeader(bin)
  bytes.set(headerChecksum('sha256', bytes, area), 448)
  const all = new Uint8Array(hdrSize)
  all.set(bytes)
  all.set(area, LUKS2_HDR_BIN_LEN)
  pwriteFull(fd, all, secondary ? hdrSize : 0)
}

/** Identity of a header being written: what stays the same across updates. */
export interface HeaderIdentity {
  readonly hdrSize: number
  readonly uuid: string
  readonly label: string
  readonly subsystem: string
}

/** A fresh identity for a new volume (16 KiB header copies, as cryptsetup's default). */
export const newIdentity = (): HeaderIdentity => ({
  hdrSize: 0x4000,
  uuid: randomUUID(),
  label: '',
  subsystem: '',
})

/**
 * Write both copies with `seqid` (primary, fsync, then secondary, fsync): a crash between them
 * leaves one valid copy, old or new, and the higher seqid wins on the next read.
 */
export function writeHeaders(
  fd: number,
  id: HeaderIdentity,
  json: Record<string, unknown>,
  seqid: bigint,
): void {
  const area = encodeJsonArea(json, id.hdrSize - LUKS2_HDR_BIN_LEN)
  parseJsonArea(area) // never write metadata Ward itself would refuse to read
  const base = {
    version: 2,
    hdrSize: BigInt(id.hdrSize),
    label: id.label,
    checksumAlg: 'sha256',
    uuid: id.uuid,
    subsystem: id.subsystem,
  }
  writeCopy(fd, false, base, area, seqid)
  fsyncSync(fd)
  writeCopy(fd, true, base, area, seqid)
  fsyncSync(fd)
}
