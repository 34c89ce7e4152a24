/**
 * Seal data to PCR values (and optionally an NV condition) under the SRK and unseal it (Part 3
 * §12.1 Create, §12.7 Unseal, §23.7 PolicyPCR, §23.9 PolicyNV). SECURITY: both directions use sessions salted to the SRK with AES-128-CFB
 * parameter encryption, so the secret never crosses the bus (or swtpm's socket) in clear.
 */
import { Create, Unseal } from '../commands/commands.js'
import { TpmError } from '../errors.js'
import { decode, encode } from '../marshal/codec.js'
import { constant, struct, tpm2b, u16, u32 } from '../marshal/dsl.js'
import { TPML_PCR_SELECTION } from '../structures/basic.js'
import type { Tpm } from '../tpm.js'
import { flush } from './basic.js'
import { load, withSrk } from './keys.js'
import { BANK_ALG, pcrSelection, readPcrs, selectedPcrs, type Bank } from './pcr.js'
import {
  policyNv,
  policyNvDigest,
  policyPcr,
  policyPcrDigest,
  withSession,
  type NvCondition,
} from './session.js'
import { sealedObjectTemplate } from './templates.js'

export interface SealedBlob {
  readonly pcrs: readonly number[]
  readonly bank: Bank
  /** policy digest the object is bound to: PolicyPCR, then PolicyNV when `nv` is set */
  readonly policyDigest: Uint8Array
  /** a PolicyNV condition that must also hold to unseal (e.g. a counter equal to a value) */
  readonly nv?: NvCondition | undefined
  /** Name of the storage key (SRK) the blob was created under; informational */
  readonly parentName?: Uint8Array | undefined
  /** marshalled TPMT_PUBLIC and TPM2B_PRIVATE contents: safe to store, only this TPM can load them */
  readonly publicBytes: Uint8Array
  readonly privateBytes: Uint8Array
}

/** Largest secret a sealed KEYEDHASH object holds (MAX_SYM_DATA, Part 2 §11.1.14). */
export const MAX_SEALED_BYTES = 128

/**
 * Seal `secret` (≤ 128 bytes) so that it unseals only while `pcrs` hold `values` (default: their
 * current values; or the values behind a given `pcrDigest`) and, with `nv`, while that NV
 * condition holds (PolicyPCR then PolicyNV). The
 * object lives under the SRK; nothing stays loaded in the TPM.
 */
export async function seal(
  tpm: Tpm,
  secret: Uint8Array,
  o: {
    pcrs: readonly number[]
    bank?: Bank
    values?: ReadonlyMap<number, Uint8Array>
    /** the PolicyPCR digest of `pcrs`, computed earlier (instead of `values`) */
    pcrDigest?: Uint8Array
    nv?: NvCondition
  },
): Promise<SealedBlob> {
  if (secret.length === 0 || secret.length > MAX_SEALED_BYTES)
    throw new TpmError('ERR_TPM_ARG', `a sealed secret must be 1-${MAX_SEALED_BYTES} bytes`)
  const bank = o.bank ?? 'sha256'
  const pcrs = [...new Set(o.pcrs)].sort((a, b) => a - b)
  if (pcrs.length === 0) throw new TpmError('ERR_TPM_ARG', 'seal needs at least one PCR')
  return tpm.lock(async () => {
    const pcrDigest =
      o.pcrDigest ?? policyPcrDigest(pcrs, o.values ?? (await readPcrs(tpm, pcrs, bank)), bank)
    const policyDigest = o.nv ? policyNvDigest(o.nv, pcrDigest) : pcrDigest
    const blobs = await withSrk(tpm, (srk) =>
      withSession(
        tpm,
        { type: 'hmac', saltKey: srk.handle, saltPublic: srk.public, encrypt: 'command' },
        async (s) => {
          const r = await tpm.run(
            Create,
            {
              parentHandle: srk.handle,
              inSensitive: { value: { userAuth: new Uint8Array(0), data: secret } },
              inPublic: { value: sealedObjectTemplate(policyDigest) },
              outsideInfo: new Uint8Array(0),
              creationPCR: [],
            },
            { sessions: [s], names: new Map([[srk.handle, srk.name]]) },
          )
          return {
            publicBytes: r.outPublic.bytes,
            privateBytes: r.outPrivate,
            parentName: srk.name,
          }
        },
      ),
    )
    return { pcrs, bank, policyDigest, ...(o.nv ? { nv: o.nv } : {}), ...blobs }
  })
}

/**
 * Unseal a blob from `seal`. Fails with ERR_TPM_RC (base TPM_RC_POLICY_FAIL, 0x9d) when a PCR
 * differs from the sealed values; with an NV condition, PolicyNV fails with TPM_RC_POLICY (0x126)
 * when the comparison is false and TPM_RC_HANDLE when the index is gone. The result is the
 * caller's to wipe.
 */
export async function unseal(tpm: Tpm, blob: SealedBlob): Promise<Uint8Array> {
  return withSrk(tpm, async (srk) => {
    const obj = await load(tpm, srk.handle, blob.publicBytes, blob.privateBytes)
    try {
      return await withSession(
        tpm,
        { type: 'policy', saltKey: srk.handle, saltPublic: srk.public, encrypt: 'response' },
        async (s) => {
          await policyPcr(tpm, s, blob.pcrs, blob.bank)
          if (blob.nv) await policyNv(tpm, s, blob.nv)
          const r = await tpm.run(
            Unseal,
            { itemHandle: obj.handle },
            { sessions: [s], names: new Map([[obj.handle, obj.name]]) },
          )
          return r.outData
        },
      )
    } finally {
      await flush(tpm, obj.handle).catch(() => undefined)
    }
  })
}

/** On-disk form of a SealedBlob (Ward's own format, magic "WSB1"). */
const SEALED_BLOB = struct({
  magic: constant(u32, 0x57534231),
  version: constant(u16, 1),
  pcrSelection: TPML_PCR_SELECTION,
  policyDigest: tpm2b(64),
  publicBytes: tpm2b(1024),
  privateBytes: tpm2b(2048),
})

/** Serialize a SealedBlob for storage (PCR policies only: WSB1 has no field for an NV condition). */
export function encodeSealedBlob(b: SealedBlob): Uint8Array {
  if (b.nv) throw new TpmError('ERR_TPM_ARG', 'WSB1 sealed blobs cannot hold a PolicyNV condition')
  return encode(SEALED_BLOB, {
    pcrSelection: [pcrSelection(b.pcrs, b.bank)],
    policyDigest: b.policyDigest,
    publicBytes: b.publicBytes,
    privateBytes: b.privateBytes,
  })
}

/** Parse a stored SealedBlob; ERR_TPM_DECODE on anything malformed. */
export function decodeSealedBlob(bytes: Uint8Array): SealedBlob {
  const v = decode(SEALED_BLOB, bytes)
  const sel = v.pcrSelection
  const bank = (Object.keys(BANK_ALG) as Bank[]).find((k) => BANK_ALG[k] === sel[0]?.hash)
  if (sel.length !== 1 || bank === undefined)
    throw new TpmError('ERR_TPM_DECODE', 'sealed blob: bad PCR selection')
  return {
    pcrs: selectedPcrs(sel[0]!.pcrSelect),
    bank,
    policyDigest: v.policyDigest,
    publicBytes: v.publicBytes,
    privateBytes: v.privateBytes,
  }
}
