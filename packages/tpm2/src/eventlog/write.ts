/** Writer for crypto-agile TCG event logs (PFP §10.2), and measuring into a TPM with a log. */
import { createHash } from 'node:crypto'
import { TpmError } from '../errors.js'
import { BANK_ALG, extendPcr, type Bank } from '../ops/pcr.js'
import type { Tpm } from '../tpm.js'
import { EV, SPEC_ID_SIGNATURE, STARTUP_LOCALITY_SIGNATURE, type PcrEvent } from './types.js'

const digestSize: Readonly<Record<Bank, number>> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 }

function le32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n >>> 0)
  return b
}

/**
 * Builds an event log byte for byte as firmware does: `header()` once, then `event()` per
 * measurement; each returns the bytes to append to the log file.
 */
export class EventLogWriter {
  readonly banks: readonly Bank[]
  constructor(banks: readonly Bank[] = ['sha256']) {
    if (banks.length === 0 || new Set(banks).size !== banks.length)
      throw new TpmError('ERR_TPM_ARG', 'event log banks must be distinct and non-empty')
    this.banks = banks
  }

  /** The SHA-1-format EV_NO_ACTION record holding TCG_EfiSpecIDEventStruct (PFP §10.4.5.1). */
  header(
    o: { platformClass?: number; uintnSize?: number; vendorInfo?: Uint8Array } = {},
  ): Uint8Array {
    const vendor = o.vendorInfo ?? new Uint8Array(0)
    if (vendor.length > 255) throw new TpmError('ERR_TPM_ARG', 'vendorInfo is at most 255 bytes')
    const algs = Buffer.concat(
      this.banks.map((b) => {
        const x = Buffer.alloc(4)
        x.writeUInt16LE(BANK_ALG[b])
        x.writeUInt16LE(digestSize[b], 2)
        return x
      }),
    )
    const spec = Buffer.concat([
      Buffer.from(SPEC_ID_SIGNATURE, 'latin1'),
      le32(o.platformClass ?? 0),
      Buffer.from([0, 2, 0, o.uintnSize ?? 2]), // version 2.0 errata 0, UINTN = 64 bits
      le32(this.banks.length),
      algs,
      Buffer.from([vendor.length]),
      vendor,
    ])
    return Buffer.concat([le32(0), le32(EV.NO_ACTION), Buffer.alloc(20), le32(spec.length), spec])
  }

  /** EV_NO_ACTION StartupLocality event (PFP §10.4.5.3): PCR 0 then starts at `locality`. */
  startupLocality(locality: number): Uint8Array {
    const data = Buffer.concat([
      Buffer.from(STARTUP_LOCALITY_SIGNATURE, 'latin1'),
      Buffer.from([locality & 0xff]),
    ])
    return this.encode({
      pcrIndex: 0,
      eventType: EV.NO_ACTION,
      digests: this.banks.map((b) => ({
        hashAlg: BANK_ALG[b],
        digest: new Uint8Array(digestSize[b]),
      })),
      event: data,
    })
  }

  /** Digests of `data` in every bank (what firmware extends for most event types). */
  digestsOf(data: Uint8Array): { hashAlg: number; digest: Uint8Array }[] {
    return this.banks.map((b) => ({
      hashAlg: BANK_ALG[b],
      digest: createHash(b).update(data).digest(),
    }))
  }

  /** One TCG_PCR_EVENT2 record. */
  encode(e: PcrEvent): Uint8Array {
    const parts: Buffer[] = [le32(e.pcrIndex), le32(e.eventType), le32(e.digests.length)]
    for (const d of e.digests) {
      const a = Buffer.alloc(2)
      a.writeUInt16LE(d.hashAlg)
      parts.push(a, Buffer.from(d.digest))
    }
    parts.push(le32(e.event.length), Buffer.from(e.event))
    return Buffer.concat(parts)
  }
}

/**
 * Measure `data` into `pcr`: extend every bank of the writer with H(data) (or `digestOf`, when the
 * event data is a description of what was hashed) and return the log record to append.
 */
export async function measure(
  tpm: Tpm,
  writer: EventLogWriter,
  m: { pcrIndex: number; eventType: number; event: Uint8Array; digestOf?: Uint8Array },
): Promise<{ record: Uint8Array; event: PcrEvent }> {
  const digests = writer.digestsOf(m.digestOf ?? m.event)
  const byBank: Partial<Record<Bank, Uint8Array>> = {}
  writer.banks.forEach((b, i) => (byBank[b] = digests[i]!.digest))
  await extendPcr(tpm, m.pcrIndex, byBank)
  const event: PcrEvent = { pcrIndex: m.pcrIndex, eventType: m.eventType, digests, event: m.event }
  return { record: writer.encode(event), event }
}
