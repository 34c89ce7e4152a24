/** Sized buffers, PCR selections and digests: TPM 2.0 Library Part 2 §10 (rev 01.59). */
import { TPM_ALG } from '../constants.js'
import { bytes8, list, raw, struct, tpm2b, u16, union } from '../marshal/dsl.js'

/** TPM2B_DIGEST, Part 2 §10.4.2 (sizeof TPMU_HA = 64). */
export const TPM2B_DIGEST = tpm2b(64)
/** TPM2B_DATA, Part 2 §10.4.3 (sizeof TPMT_HA = 66). */
export const TPM2B_DATA = tpm2b(66)
/** TPM2B_NONCE, Part 2 §10.4.4. */
export const TPM2B_NONCE = TPM2B_DIGEST
/** TPM2B_OPERAND, Part 2 §10.4.6 (a TPM2B_DIGEST: operandB of PolicyNV). */
export const TPM2B_OPERAND = TPM2B_DIGEST
/** TPM2B_AUTH, Part 2 §10.4.5. */
export const TPM2B_AUTH = tpm2b(64, { sensitive: true })
/** TPM2B_EVENT, Part 2 §10.4.7 (1024). */
export const TPM2B_EVENT = tpm2b(1024)
/** TPM2B_MAX_BUFFER, Part 2 §10.4.8 (MAX_DIGEST_BUFFER 1024). */
export const TPM2B_MAX_BUFFER = tpm2b(1024)
/** TPM2B_MAX_NV_BUFFER, Part 2 §10.4.9 (MAX_NV_BUFFER_SIZE; 2048 covers known TPMs). */
export const TPM2B_MAX_NV_BUFFER = tpm2b(2048, { sensitive: true })
/** TPM2B_NAME, Part 2 §10.5.3 (sizeof TPMU_NAME = 68). */
export const TPM2B_NAME = tpm2b(68)
/** TPM2B_SENSITIVE_DATA, Part 2 §11.1.14 (MAX_SYM_DATA 128). */
export const TPM2B_SENSITIVE_DATA = tpm2b(128, { sensitive: true })
/** TPM2B_PRIVATE, Part 2 §12.3.7 (opaque, integrity-protected blob). */
export const TPM2B_PRIVATE = tpm2b(2048)
/** TPM2B_ID_OBJECT, Part 2 §12.4.3. */
export const TPM2B_ID_OBJECT = tpm2b(256)
/** TPM2B_ENCRYPTED_SECRET, Part 2 §11.4.33 (sizeof TPMU_ENCRYPTED_SECRET = 512). */
export const TPM2B_ENCRYPTED_SECRET = tpm2b(512)
/** TPM2B_PUBLIC_KEY_RSA, Part 2 §11.2.4.5 (MAX_RSA_KEY_BYTES 512). */
export const TPM2B_PUBLIC_KEY_RSA = tpm2b(512)
/** TPM2B_ECC_PARAMETER, Part 2 §11.2.5.1 (MAX_ECC_KEY_BYTES 66). */
export const TPM2B_ECC_PARAMETER = tpm2b(66)

/** TPMS_PCR_SELECTION, Part 2 §10.6.2 (sizeofSelect ≤ PCR_SELECT_MAX = 4 on PC TPMs). */
export const TPMS_PCR_SELECTION = struct({ hash: u16, pcrSelect: bytes8(4) })
/** TPML_PCR_SELECTION, Part 2 §10.9.7 (HASH_COUNT ≤ 16). */
export const TPML_PCR_SELECTION = list(TPMS_PCR_SELECTION, 16)
/** TPML_DIGEST, Part 2 §10.9.4 (at most 8 digests). */
export const TPML_DIGEST = list(TPM2B_DIGEST, 8)

/** TPMU_HA, Part 2 §10.3.1: digest sized by its algorithm. */
const TPMU_HA = {
  [TPM_ALG.SHA1]: raw(20),
  [TPM_ALG.SHA256]: raw(32),
  [TPM_ALG.SHA384]: raw(48),
  [TPM_ALG.SHA512]: raw(64),
} as const
/** TPMT_HA, Part 2 §10.3.2. */
export const TPMT_HA = struct({ hashAlg: u16, digest: union('hashAlg', TPMU_HA) })
/** TPML_DIGEST_VALUES, Part 2 §10.9.6 (HASH_COUNT ≤ 16). */
export const TPML_DIGEST_VALUES = list(TPMT_HA, 16)

/** TPMS_ECC_POINT, Part 2 §11.2.5.2. */
export const TPMS_ECC_POINT = struct({ x: TPM2B_ECC_PARAMETER, y: TPM2B_ECC_PARAMETER })
