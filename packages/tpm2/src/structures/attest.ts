/** Attestation, signatures and capabilities: TPM 2.0 Library Part 2 §10.11-§10.12, §11.3 (rev 01.59). */
import { TPM_ALG, TPM_CAP, TPM_GENERATED_VALUE, TPM_ST } from '../constants.js'
import { constant, empty, list, sized, struct, u16, u32, u64, u8, union } from '../marshal/dsl.js'
import {
  TPM2B_DATA,
  TPM2B_DIGEST,
  TPM2B_ECC_PARAMETER,
  TPM2B_NAME,
  TPM2B_PUBLIC_KEY_RSA,
  TPML_PCR_SELECTION,
} from './basic.js'

/** TPMS_CLOCK_INFO, Part 2 §10.11.1. */
export const TPMS_CLOCK_INFO = struct({ clock: u64, resetCount: u32, restartCount: u32, safe: u8 })
/** TPMS_QUOTE_INFO, Part 2 §10.12.4. */
export const TPMS_QUOTE_INFO = struct({ pcrSelect: TPML_PCR_SELECTION, pcrDigest: TPM2B_DIGEST })
/** TPMS_CERTIFY_INFO, Part 2 §10.12.3. */
export const TPMS_CERTIFY_INFO = struct({ name: TPM2B_NAME, qualifiedName: TPM2B_NAME })
/** TPMS_ATTEST, Part 2 §10.12.12. */
export const TPMS_ATTEST = struct({
  magic: constant(u32, TPM_GENERATED_VALUE),
  type: u16,
  qualifiedSigner: TPM2B_NAME,
  extraData: TPM2B_DATA,
  clockInfo: TPMS_CLOCK_INFO,
  firmwareVersion: u64,
  attested: union('type', {
    [TPM_ST.ATTEST_QUOTE]: TPMS_QUOTE_INFO,
    [TPM_ST.ATTEST_CERTIFY]: TPMS_CERTIFY_INFO,
  }),
})
/** TPM2B_ATTEST, Part 2 §10.12.13. */
export const TPM2B_ATTEST = sized(TPMS_ATTEST, 2048)

const rsaSig = struct({ hash: u16, sig: TPM2B_PUBLIC_KEY_RSA })
const eccSig = struct({
  hash: u16,
  signatureR: TPM2B_ECC_PARAMETER,
  signatureS: TPM2B_ECC_PARAMETER,
})
/** TPMT_SIGNATURE, Part 2 §11.3.4. */
export const TPMT_SIGNATURE = struct({
  sigAlg: u16,
  signature: union('sigAlg', {
    [TPM_ALG.RSASSA]: rsaSig,
    [TPM_ALG.RSAPSS]: rsaSig,
    [TPM_ALG.ECDSA]: eccSig,
    [TPM_ALG.NULL]: empty,
  }),
})

/** TPMS_TAGGED_PROPERTY, Part 2 §10.8.2. */
export const TPMS_TAGGED_PROPERTY = struct({ property: u32, value: u32 })
/** TPMS_CAPABILITY_DATA, Part 2 §10.10.2 (MAX_CAP_HANDLES etc. bounded at 256). */
export const TPMS_CAPABILITY_DATA = struct({
  capability: u32,
  data: union('capability', {
    [TPM_CAP.HANDLES]: list(u32, 256),
    [TPM_CAP.TPM_PROPERTIES]: list(TPMS_TAGGED_PROPERTY, 256),
    [TPM_CAP.PCRS]: TPML_PCR_SELECTION,
  }),
})
