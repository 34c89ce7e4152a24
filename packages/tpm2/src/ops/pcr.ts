/** PCR selection, read and extend (Part 3 §22) and the offline extend rule (Part 1 §17.2). */
import { createHash } from 'node:crypto'
import { PCR_Event, PCR_Extend, PCR_Read } from '../commands/commands.js'
import { TPM_ALG } from '../constants.js'
import { TpmError } from '../errors.js'
import { hashInfo } from '../crypto/hash.js'
import type { Tpm } from '../tpm.js'

export type Bank = 'sha1' | 'sha256' | 'sha384' | 'sha512'
export const BANK_ALG: Readonly<Record<Bank, number>> = {
  sha1: TPM_ALG.SHA1,
  sha256: TPM_ALG.SHA256,
  sha384: TPM_ALG.SHA384,
  sha512: TPM_ALG.SHA512,
}
/** Number of PCRs on PC-client TPMs (TPM_PT_PCR_COUNT). */
export const PCR_COUNT = 24

/** TPMS_PCR_SELECTION for `pcrs` in `bank` (3-byte bitmap, Part 2 §10.6.2). */
export function pcrSelection(
  pcrs: readonly number[],
  bank: Bank = 'sha256',
): { hash: number; pcrSelect: Uint8Array } {
  const sel = new Uint8Array(3)
  for (const p of pcrs) {
    if (!Number.isInteger(p) || p < 0 || p >= PCR_COUNT)
      throw new TpmError('ERR_TPM_ARG', `PCR ${p} is out of range 0-23`)
    sel[p >> 3]! |= 1 << (p & 7)
  }
  return { hash: BANK_ALG[bank], pcrSelect: sel }
}

/** PCR indexes set in a selection bitmap, ascending. */
export function selectedPcrs(pcrSelect: Uint8Array): number[] {
  const out: number[] = []
  pcrSelect.forEach((b, i) => {
    for (let bit = 0; bit < 8; bit++) if (b & (1 << bit)) out.push(i * 8 + bit)
  })
  return out
}

/** TPM2_PCR_Read of any selection in one bank (8 digests per call; loops). */
export async function readPcrs(
  tpm: Tpm,
  pcrs: readonly number[],
  bank: Bank = 'sha256',
): Promise<Map<number, Uint8Array>> {
  const want = [...new Set(pcrs)].sort((a, b) => a - b)
  const out = new Map<number, Uint8Array>()
  const size = hashInfo(BANK_ALG[bank]).size
  for (let guard = 0; out.size < want.length; guard++) {
    if (guard > PCR_COUNT) throw new TpmError('ERR_TPM_DECODE', 'PCR_Read made no progress')
    const rest = want.filter((p) => !out.has(p))
    const r = await tpm.run(PCR_Read, { pcrSelectionIn: [pcrSelection(rest, bank)] })
    const got = r.pcrSelectionOut.flatMap((s) =>
      s.hash === BANK_ALG[bank] ? selectedPcrs(s.pcrSelect) : [],
    )
    if (got.length !== r.pcrValues.length)
      throw new TpmError('ERR_TPM_DECODE', 'PCR_Read returned a selection and values that disagree')
    if (got.length === 0)
      throw new TpmError(
        'ERR_TPM_PCR_BANK',
        `the TPM has no active ${bank} bank or PCR ${rest.join(',')}`,
      )
    got.forEach((p, i) => {
      const v = r.pcrValues[i]!
      if (v.length !== size || !rest.includes(p))
        throw new TpmError('ERR_TPM_DECODE', 'PCR_Read returned an unexpected value')
      out.set(p, v)
    })
  }
  return new Map(want.map((p) => [p, out.get(p)!]))
}

/** TPM2_PCR_Extend of `pcr` with the given digest per bank (e.g. `{ sha256: d }`). */
export async function extendPcr(
  tpm: Tpm,
  pcr: number,
  digests: Partial<Record<Bank, Uint8Array>>,
): Promise<void> {
  if (!Number.isInteger(pcr) || pcr < 0 || pcr >= PCR_COUNT)
    throw new TpmError('ERR_TPM_ARG', `PCR ${pcr} is out of range 0-23`)
  const list = Object.entries(digests).map(([bank, digest]) => {
    const alg = BANK_ALG[bank as Bank]
    if (alg === undefined || digest.length !== hashInfo(alg).size)
      throw new TpmError('ERR_TPM_ARG', `bad ${bank} digest`)
    return { hashAlg: alg, digest }
  })
  await tpm.run(PCR_Extend, { pcrHandle: pcr, digests: list })
}

/** TPM2_PCR_Event: the TPM hashes `data` (≤ 1024 bytes) into every active bank. */
export async function pcrEvent(
  tpm: Tpm,
  pcr: number,
  data: Uint8Array,
): Promise<Map<number, Uint8Array>> {
  const r = await tpm.run(PCR_Event, { pcrHandle: pcr, eventData: data })
  return new Map(r.digests.map((d) => [d.hashAlg, d.digest]))
}

/** Offline extend: H(old || digest) (Part 1 §17.2). */
export function extendDigest(bank: Bank, old: Uint8Array, digest: Uint8Array): Uint8Array {
  return createHash(bank).update(old).update(digest).digest()
}
