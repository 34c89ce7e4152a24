/** TPM2_Quote (Part 3 §18.4) and its offline verification (signature over the received bytes). */
import { createHash, timingSafeEqual, verify } from 'node:crypto'
import { Quote } from '../commands/commands.js'
import { TPM_ALG, TPM_ST } from '../constants.js'
import { TpmError } from '../errors.js'
import { hashInfo } from '../crypto/hash.js'
import { toPublicKey, type PublicArea } from '../crypto/public-key.js'
import { decode, encode } from '../marshal/codec.js'
import type { Infer } from '../marshal/dsl.js'
import { TPMS_ATTEST, TPMT_SIGNATURE } from '../structures/attest.js'
import type { Tpm } from '../tpm.js'
import { pcrSelection, selectedPcrs, type Bank } from './pcr.js'

export interface QuoteResult {
  /** marshalled TPMS_ATTEST exactly as signed */
  readonly quoted: Uint8Array
  readonly attest: Infer<typeof TPMS_ATTEST>
  /** marshalled TPMT_SIGNATURE (the file `tpm2_quote -s` writes) */
  readonly signature: Uint8Array
}

/** Quote `pcrs` with the signing key at `signHandle` (empty auth) over `nonce` (≤ 64 bytes). */
export async function quote(
  tpm: Tpm,
  signHandle: number,
  nonce: Uint8Array,
  pcrs: readonly number[],
  bank: Bank = 'sha256',
): Promise<QuoteResult> {
  const r = await tpm.run(Quote, {
    signHandle,
    qualifyingData: nonce,
    inScheme: { scheme: TPM_ALG.NULL, details: {} },
    PCRselect: [pcrSelection(pcrs, bank)],
  })
  return {
    quoted: r.quoted.bytes,
    attest: r.quoted.value,
    signature: encode(TPMT_SIGNATURE, r.signature),
  }
}

/**
 * Verify a quote offline: signature by `akPublic` over the received bytes, magic/type, nonce and,
 * when given, the PCR values (digest of the selected PCRs in ascending order). Returns the attest
 * structure; throws ERR_TPM_QUOTE on any mismatch.
 */
export function verifyQuote(
  akPublic: PublicArea,
  quoted: Uint8Array,
  signature: Uint8Array,
  o: { nonce: Uint8Array; pcrValues?: ReadonlyMap<number, Uint8Array> },
): Infer<typeof TPMS_ATTEST> {
  const sig = decode(TPMT_SIGNATURE, signature)
  const key = toPublicKey(akPublic)
  let ok: boolean
  if (sig.sigAlg === TPM_ALG.RSASSA || sig.sigAlg === TPM_ALG.RSAPSS) {
    const s = sig.signature as { hash: number; sig: Uint8Array }
    ok = verify(
      hashInfo(s.hash).name,
      quoted,
      sig.sigAlg === TPM_ALG.RSAPSS ? { key, padding: 6 } : key,
      s.sig,
    )
  } else if (sig.sigAlg === TPM_ALG.ECDSA) {
    const s = sig.signature as { hash: number; signatureR: Uint8Array; signatureS: Uint8Array }
    const n = Math.max(s.signatureR.length, s.signatureS.length)
    const p = (b: Uint8Array): Buffer => Buffer.concat([Buffer.alloc(n - b.length), b])
    ok = verify(
      hashInfo(s.hash).name,
      quoted,
      { key, dsaEncoding: 'ieee-p1363' },
      Buffer.concat([p(s.signatureR), p(s.signatureS)]),
    )
  } else throw new TpmError('ERR_TPM_QUOTE', 'quote signature algorithm is not supported')
  if (!ok)
    throw new TpmError('ERR_TPM_QUOTE', 'quote signature does not verify with this attestation key')
  const attest = decode(TPMS_ATTEST, quoted)
  if (attest.type !== TPM_ST.ATTEST_QUOTE)
    throw new TpmError('ERR_TPM_QUOTE', 'attestation is not a quote')
  if (attest.extraData.length !== o.nonce.length || !timingSafeEqual(attest.extraData, o.nonce))
    throw new TpmError('ERR_TPM_QUOTE', 'quote nonce does not match (replayed or stale quote)')
  if (o.pcrValues) {
    const info = attest.attested as {
      pcrSelect: { hash: number; pcrSelect: Uint8Array }[]
      pcrDigest: Uint8Array
    }
    const h = createHash('sha256')
    for (const s of info.pcrSelect)
      for (const p of selectedPcrs(s.pcrSelect)) {
        const v = o.pcrValues.get(p)
        if (v === undefined)
          throw new TpmError('ERR_TPM_QUOTE', `no value given for quoted PCR ${p}`)
        h.update(v)
      }
    const d = h.digest()
    if (d.length !== info.pcrDigest.length || !timingSafeEqual(d, info.pcrDigest))
      throw new TpmError('ERR_TPM_QUOTE', 'quoted PCR digest differs from the given PCR values')
  }
  return attest
}
