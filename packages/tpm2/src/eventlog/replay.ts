/** Replay an event log into expected PCR values (PFP §10.4.5.3 initial values; Part 1 §17.2 extend). */
import { createHash } from 'node:crypto'
import { TpmError } from '../errors.js'
import { BANK_ALG, type Bank } from '../ops/pcr.js'
import { EV, STARTUP_LOCALITY_SIGNATURE, type EventLog } from './types.js'

/**
 * Expected values of every PCR the log touches, in `bank`. EV_NO_ACTION records are not extended;
 * a StartupLocality event sets PCR 0's initial value; PCRs 17-22 start at all ones (DRTM).
 * ERR_TPM_EVENTLOG if an extended event lacks a digest for the bank.
 */
export function replayEventLog(log: EventLog, bank: Bank = 'sha256'): Map<number, Uint8Array> {
  // values are plain Uint8Arrays, like readPcrs(), so the two compare directly
  const alg = BANK_ALG[bank]
  const size = createHash(bank).digest().length
  const initial = (pcr: number): Buffer => Buffer.alloc(size, pcr >= 17 && pcr <= 22 ? 0xff : 0)
  const pcrs = new Map<number, Buffer>()
  const sig = Buffer.from(STARTUP_LOCALITY_SIGNATURE, 'latin1')
  for (const e of log.events) {
    if (e.eventType === EV.NO_ACTION) {
      if (
        e.pcrIndex === 0 &&
        e.event.length === 17 &&
        sig.equals(e.event.subarray(0, 16)) &&
        !pcrs.has(0)
      ) {
        const v = Buffer.alloc(size)
        v[size - 1] = e.event[16]!
        pcrs.set(0, v)
      }
      continue
    }
    const d = e.digests.find((x) => x.hashAlg === alg)
    if (d === undefined)
      throw new TpmError('ERR_TPM_EVENTLOG', `event for PCR ${e.pcrIndex} has no ${bank} digest`)
    const old = pcrs.get(e.pcrIndex) ?? initial(e.pcrIndex)
    pcrs.set(e.pcrIndex, createHash(bank).update(old).update(d.digest).digest())
  }
  return new Map(
    [...pcrs.entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => [k, new Uint8Array(v)]),
  )
}
