import { createHash } from 'node:crypto'
import { HostError } from '../errors.js'

/**
 * TCG PC Client crypto-agile event log (TCG PC Client Platform Firmware Profile 1.05, §10):
 * a TCG_PCClientPCREvent header in SHA-1 format carrying TCG_EfiSpecIDEvent ("Spec ID Event03"),
 * then TCG_PCR_EVENT2 records. Little-endian throughout.
 */

/** Event types used here (PFP §10.4.1). */
export const EV = {
  NO_ACTION: 0x3,
  SEPARATOR: 0x4,
  IPL: 0xd,
  EFI_VARIABLE_DRIVER_CONFIG: 0x80000001,
} as const

const ALG_SHA256 = 0x000b
/** Digest sizes of the algorithms we know; others are taken from the Spec ID header. */
const KNOWN_SIZES: Readonly<Record<number, number>> = {
  0x0004: 20,
  0x000b: 32,
  0x000c: 48,
  0x000d: 64,
}

export interface LogEvent {
  readonly pcr: number
  readonly type: number
  /** sha256 digest of the event (the only bank Ward replays). */
  readonly sha256: Buffer | undefined
  readonly data: Buffer
}

/** Limits for untrusted logs. */
const MAX_LOG = 16 << 20
const MAX_EVENT_DATA = 1 << 20
const MAX_EVENTS = 100_000
const MAX_ALGS = 8

/** Write a crypto-agile log with a sha256 bank only. */
export function encodeEventLog(
  events: readonly { pcr: number; type: number; data: Uint8Array }[],
): Buffer {
  const parts: Buffer[] = []
  // TCG_EfiSpecIDEvent (PFP §10.4.5.1)
  const spec = Buffer.alloc(16 + 4 + 4 + 4 + 4 + 1)
  spec.write('Spec ID Event03\0', 0, 'latin1')
  let o = 16
  o = spec.writeUInt32LE(0, o) // platformClass
  spec[o++] = 0 // specVersionMinor
  spec[o++] = 2 // specVersionMajor
  spec[o++] = 0 // specErrata
  spec[o++] = 2 // uintnSize (64-bit UINTN)
  o = spec.writeUInt32LE(1, o) // numberOfAlgorithms
  o = spec.writeUInt16LE(ALG_SHA256, o)
  o = spec.writeUInt16LE(32, o)
  spec[o] = 0 // vendorInfoSize
  const head = Buffer.alloc(4 + 4 + 20 + 4)
  head.writeUInt32LE(0, 0)
  head.writeUInt32LE(EV.NO_ACTION, 4)
  head.writeUInt32LE(spec.length, 28)
  parts.push(head, spec)
  for (const e of events) {
    const h = Buffer.alloc(4 + 4 + 4 + 2)
    h.writeUInt32LE(e.pcr, 0)
    h.writeUInt32LE(e.type, 4)
    h.writeUInt32LE(1, 8)
    h.writeUInt16LE(ALG_SHA256, 12)
    const size = Buffer.alloc(4)
    size.writeUInt32LE(e.data.length)
    parts.push(h, eventDigest(e.type, e.data), size, Buffer.from(e.data))
  }
  return Buffer.concat(parts)
}

/** The digest firmware extends for an event: sha256 of its data (PFP §10.4.1 for these types). */
export function eventDigest(_type: number, data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest()
}

/** Parse a crypto-agile log (untrusted: every length bounded; trailing garbage is an error). */
export function parseEventLog(bytes: Uint8Array): LogEvent[] {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const bad = (why: string, offset: number): HostError =>
    new HostError('ERR_HOST_EVENTLOG', `malformed TCG event log: ${why} at byte ${offset}`, {
      offset,
    })
  if (b.length > MAX_LOG) throw bad('log too large', 0)
  let o = 0
  const need = (n: number): void => {
    if (n < 0 || o + n > b.length) throw bad('truncated', o)
  }
  // Header: TCG_PCClientPCREvent with a SHA-1 sized digest.
  need(32)
  const hType = b.readUInt32LE(4)
  const hSize = b.readUInt32LE(28)
  o = 32
  if (hType !== EV.NO_ACTION) throw bad('first event is not EV_NO_ACTION', 4)
  if (hSize > 4096) throw bad('Spec ID event too large', 28)
  need(hSize)
  const spec = b.subarray(o, o + hSize)
  if (spec.length < 29 || spec.toString('latin1', 0, 16) !== 'Spec ID Event03\0')
    throw bad('not a crypto-agile log (no Spec ID Event03)', o)
  const nAlgs = spec.readUInt32LE(24)
  if (nAlgs === 0 || nAlgs > MAX_ALGS || 28 + nAlgs * 4 > spec.length)
    throw bad('bad algorithm count', o + 24)
  const sizes = new Map<number, number>()
  for (let i = 0; i < nAlgs; i++) {
    const alg = spec.readUInt16LE(28 + i * 4)
    const size = spec.readUInt16LE(30 + i * 4)
    if (size === 0 || size > 64 || (KNOWN_SIZES[alg] !== undefined && KNOWN_SIZES[alg] !== size))
      throw bad('bad digest size', o + 30 + i * 4)
    sizes.set(alg, size)
  }
  o += hSize
  const events: LogEvent[] = []
  while (o < b.length) {
    if (events.length >= MAX_EVENTS) throw bad('too many events', o)
    need(12)
    const pcr = b.readUInt32LE(o)
    const type = b.readUInt32LE(o + 4)
    const count = b.readUInt32LE(o + 8)
    if (pcr > 23 && type !== EV.NO_ACTION) throw bad('bad PCR index', o)
    if (count > MAX_ALGS) throw bad('bad digest count', o + 8)
    o += 12
    let sha256: Buffer | undefined
    for (let i = 0; i < count; i++) {
      need(2)
      const alg = b.readUInt16LE(o)
      const size = sizes.get(alg)
      if (size === undefined)
        throw bad(`digest algorithm 0x${alg.toString(16)} not in the Spec ID event`, o)
      o += 2
      need(size)
      if (alg === ALG_SHA256) sha256 = Buffer.from(b.subarray(o, o + size))
      o += size
    }
    need(4)
    const dataSize = b.readUInt32LE(o)
    o += 4
    if (dataSize > MAX_EVENT_DATA) throw bad('event too large', o - 4)
    need(dataSize)
    events.push({ pcr, type, sha256, data: Buffer.from(b.subarray(o, o + dataSize)) })
    o += dataSize
  }
  return events
}

/** Replay sha256 PCRs from events (EV_NO_ACTION is not extended, PFP §10.4.1). */
export function replay(events: readonly LogEvent[]): Map<number, Buffer> {
  const pcrs = new Map<number, Buffer>()
  for (const e of events) {
    if (e.type === EV.NO_ACTION || !e.sha256) continue
    const old = pcrs.get(e.pcr) ?? Buffer.alloc(32)
    pcrs.set(e.pcr, createHash('sha256').update(old).update(e.sha256).digest())
  }
  return pcrs
}
