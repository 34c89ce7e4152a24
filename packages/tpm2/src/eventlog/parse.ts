/** Bounded parser for crypto-agile TCG event logs (PFP §10.2). */
import { TPM_ALG } from '../constants.js'
import { TpmDecodeError } from '../errors.js'
import { SPEC_ID_SIGNATURE, EV, type EventLog, type PcrEvent, type SpecIdEvent } from './types.js'

export interface EventLogLimits {
  /** maximum number of events (default 100 000) */
  readonly maxEvents: number
  /** maximum size of one event's data (default 1 MiB) */
  readonly maxEventSize: number
  /** maximum log size (default 16 MiB) */
  readonly maxLogSize: number
}
const defaults: EventLogLimits = { maxEvents: 100_000, maxEventSize: 1 << 20, maxLogSize: 16 << 20 }

/** Digest sizes Ward accepts in a Spec ID header; any other algorithm is refused. */
const knownSizes: Readonly<Record<number, number>> = {
  [TPM_ALG.SHA1]: 20,
  [TPM_ALG.SHA256]: 32,
  [TPM_ALG.SHA384]: 48,
  [TPM_ALG.SHA512]: 64,
  0x0012: 32, // TPM_ALG_SM3_256
}

class Le {
  readonly b: Uint8Array
  readonly v: DataView
  pos = 0
  constructor(b: Uint8Array) {
    this.b = b
    this.v = new DataView(b.buffer, b.byteOffset, b.byteLength)
  }
  need(n: number, what: string): void {
    if (this.pos + n > this.b.length)
      throw new TpmDecodeError(`event log truncated in ${what}`, this.pos, 'ERR_TPM_EVENTLOG')
  }
  u8(what: string): number {
    this.need(1, what)
    return this.v.getUint8(this.pos++)
  }
  u16(what: string): number {
    this.need(2, what)
    const x = this.v.getUint16(this.pos, true)
    this.pos += 2
    return x
  }
  u32(what: string): number {
    this.need(4, what)
    const x = this.v.getUint32(this.pos, true)
    this.pos += 4
    return x
  }
  take(n: number, what: string): Uint8Array {
    this.need(n, what)
    const out = new Uint8Array(this.b.subarray(this.pos, this.pos + n))
    this.pos += n
    return out
  }
}

function fail(msg: string, at: number): never {
  throw new TpmDecodeError(msg, at, 'ERR_TPM_EVENTLOG')
}

/**
 * Parse a crypto-agile event log. The first record must be the SHA-1-format EV_NO_ACTION carrying
 * the Spec ID Event03 header; every later record is a TCG_PCR_EVENT2 whose digests are sized by
 * that header. Throws ERR_TPM_EVENTLOG on anything malformed; never returns a partial log.
 */
export function parseEventLog(bytes: Uint8Array, limits: Partial<EventLogLimits> = {}): EventLog {
  const l = { ...defaults, ...limits }
  if (bytes.length > l.maxLogSize)
    fail(`event log of ${bytes.length} bytes exceeds ${l.maxLogSize}`, 0)
  const r = new Le(bytes)
  // TCG_PCClientPCREvent (SHA-1 format), PFP §10.2.1
  const pcr0 = r.u32('header pcrIndex')
  const type0 = r.u32('header eventType')
  r.take(20, 'header digest')
  const size0 = r.u32('header eventSize')
  if (pcr0 !== 0 || type0 !== EV.NO_ACTION)
    fail('first event is not the EV_NO_ACTION Spec ID header', 0)
  if (size0 > 4096) fail('Spec ID header too large', r.pos - 4)
  const specId = parseSpecId(r.take(size0, 'Spec ID event'), r.pos - size0)
  const sizes = new Map(specId.algorithms.map((a) => [a.algorithmId, a.digestSize]))
  const events: PcrEvent[] = []
  while (r.pos < bytes.length) {
    if (events.length >= l.maxEvents) fail(`more than ${l.maxEvents} events`, r.pos)
    const at = r.pos
    const pcrIndex = r.u32('pcrIndex')
    const eventType = r.u32('eventType')
    if (pcrIndex > 31) fail(`PCR index ${pcrIndex} is out of range`, at)
    const count = r.u32('digest count')
    if (count > sizes.size)
      fail(`${count} digests but the header declares ${sizes.size} algorithms`, at + 8)
    const digests: { hashAlg: number; digest: Uint8Array }[] = []
    for (let i = 0; i < count; i++) {
      const hashAlg = r.u16('hashAlg')
      const size = sizes.get(hashAlg)
      if (size === undefined)
        fail(`digest algorithm 0x${hashAlg.toString(16)} is not in the Spec ID header`, r.pos - 2)
      if (digests.some((d) => d.hashAlg === hashAlg))
        fail('duplicate digest algorithm in one event', r.pos - 2)
      digests.push({ hashAlg, digest: r.take(size, 'digest') })
    }
    const eventSize = r.u32('eventSize')
    if (eventSize > l.maxEventSize)
      fail(`event of ${eventSize} bytes exceeds ${l.maxEventSize}`, r.pos - 4)
    events.push({ pcrIndex, eventType, digests, event: r.take(eventSize, 'event data') })
  }
  return { specId, events }
}

function parseSpecId(b: Uint8Array, base: number): SpecIdEvent {
  const r = new Le(b)
  const sig = Buffer.from(r.take(16, 'signature')).toString('latin1')
  if (sig !== SPEC_ID_SIGNATURE)
    fail('not a crypto-agile log (no "Spec ID Event03" signature)', base)
  const platformClass = r.u32('platformClass')
  const specVersionMinor = r.u8('specVersionMinor')
  const specVersionMajor = r.u8('specVersionMajor')
  const specErrata = r.u8('specErrata')
  const uintnSize = r.u8('uintnSize')
  const n = r.u32('numberOfAlgorithms')
  if (n < 1 || n > 16) fail(`${n} algorithms in the Spec ID header`, base + r.pos - 4)
  const algorithms: { algorithmId: number; digestSize: number }[] = []
  for (let i = 0; i < n; i++) {
    const algorithmId = r.u16('algorithmId')
    const digestSize = r.u16('digestSize')
    const known = knownSizes[algorithmId]
    if (known === undefined || known !== digestSize)
      fail(
        `algorithm 0x${algorithmId.toString(16)} with digest size ${digestSize} is not supported`,
        base + r.pos - 4,
      )
    if (algorithms.some((a) => a.algorithmId === algorithmId))
      fail('duplicate algorithm in the Spec ID header', base + r.pos - 4)
    algorithms.push({ algorithmId, digestSize })
  }
  const vendorInfoSize = r.u8('vendorInfoSize')
  const vendorInfo = r.take(vendorInfoSize, 'vendorInfo')
  if (r.pos !== b.length) fail('trailing bytes in the Spec ID header', base + r.pos)
  return {
    platformClass,
    specVersionMinor,
    specVersionMajor,
    specErrata,
    uintnSize,
    algorithms,
    vendorInfo,
  }
}
