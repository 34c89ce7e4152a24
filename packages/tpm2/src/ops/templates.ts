/**
 * Standard key templates (TPMT_PUBLIC inputs). EK templates: TCG EK Credential Profile 2.0
 * §2.2.1.4 (Template L-1 RSA 2048, L-2 ECC P-256); SRK: TCG TPM v2.0 Provisioning Guidance
 * §7.5.1 (ECC P-256, AES-128-CFB, empty unique), the same key `tpm2_createprimary -G ecc256:aes128cfb` makes.
 */
import { TPMA_OBJECT as A, TPM_ALG, TPM_ECC } from '../constants.js'
import type { Input } from '../marshal/dsl.js'
import type { TPMT_PUBLIC } from '../structures/public.js'

export type PublicTemplate = Input<typeof TPMT_PUBLIC>

/** PolicySecret(TPM_RH_ENDORSEMENT) digest: the EK authPolicy (EK Credential Profile §B.3.3). */
export const EK_POLICY = Buffer.from(
  '837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa',
  'hex',
)

const aes128cfb = { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB }
const symNull = { algorithm: TPM_ALG.NULL, keyBits: {}, mode: {} }

/** EK Template L-1: RSA 2048, attributes 0x000300B2. */
export const EK_RSA_TEMPLATE: PublicTemplate = {
  type: TPM_ALG.RSA,
  nameAlg: TPM_ALG.SHA256,
  objectAttributes:
    A.fixedTPM |
    A.fixedParent |
    A.sensitiveDataOrigin |
    A.adminWithPolicy |
    A.restricted |
    A.decrypt,
  authPolicy: EK_POLICY,
  parameters: {
    symmetric: aes128cfb,
    scheme: { scheme: TPM_ALG.NULL, details: {} },
    keyBits: 2048,
    exponent: 0,
  },
  unique: new Uint8Array(256),
}

/** EK Template L-2: ECC NIST P-256, attributes 0x000300B2. */
export const EK_ECC_TEMPLATE: PublicTemplate = {
  type: TPM_ALG.ECC,
  nameAlg: TPM_ALG.SHA256,
  objectAttributes: EK_RSA_TEMPLATE.objectAttributes,
  authPolicy: EK_POLICY,
  parameters: {
    symmetric: aes128cfb,
    scheme: { scheme: TPM_ALG.NULL, details: {} },
    curveID: TPM_ECC.NIST_P256,
    kdf: { scheme: TPM_ALG.NULL, details: {} },
  },
  unique: { x: new Uint8Array(32), y: new Uint8Array(32) },
}

/** Storage root key: ECC P-256, restricted decrypt, noDA, userWithAuth (attributes 0x00030472). */
export const SRK_ECC_TEMPLATE: PublicTemplate = {
  type: TPM_ALG.ECC,
  nameAlg: TPM_ALG.SHA256,
  objectAttributes:
    A.fixedTPM |
    A.fixedParent |
    A.sensitiveDataOrigin |
    A.userWithAuth |
    A.noDA |
    A.restricted |
    A.decrypt,
  authPolicy: new Uint8Array(0),
  parameters: {
    symmetric: aes128cfb,
    scheme: { scheme: TPM_ALG.NULL, details: {} },
    curveID: TPM_ECC.NIST_P256,
    kdf: { scheme: TPM_ALG.NULL, details: {} },
  },
  unique: { x: new Uint8Array(0), y: new Uint8Array(0) },
}

/** Attestation key: RSA 2048 restricted signing, RSASSA-SHA256 (attributes 0x00050072, as tpm2_createak). */
export const AK_RSA_TEMPLATE: PublicTemplate = {
  type: TPM_ALG.RSA,
  nameAlg: TPM_ALG.SHA256,
  objectAttributes:
    A.fixedTPM | A.fixedParent | A.sensitiveDataOrigin | A.userWithAuth | A.restricted | A.sign,
  authPolicy: new Uint8Array(0),
  parameters: {
    symmetric: symNull,
    scheme: { scheme: TPM_ALG.RSASSA, details: { hashAlg: TPM_ALG.SHA256 } },
    keyBits: 2048,
    exponent: 0,
  },
  unique: new Uint8Array(0),
}

/** Attestation key: ECC NIST P-256 restricted signing, ECDSA-SHA256 (attributes 0x00050072). */
export const AK_ECC_TEMPLATE: PublicTemplate = {
  type: TPM_ALG.ECC,
  nameAlg: TPM_ALG.SHA256,
  objectAttributes: AK_RSA_TEMPLATE.objectAttributes,
  authPolicy: new Uint8Array(0),
  parameters: {
    symmetric: symNull,
    scheme: { scheme: TPM_ALG.ECDSA, details: { hashAlg: TPM_ALG.SHA256 } },
    curveID: TPM_ECC.NIST_P256,
    kdf: { scheme: TPM_ALG.NULL, details: {} },
  },
  unique: { x: new Uint8Array(0), y: new Uint8Array(0) },
}

/** Sealed data object (KEYEDHASH, NULL scheme) usable only through `policy`: fixedTPM|fixedParent|noDA. */
export function sealedObjectTemplate(policy: Uint8Array): PublicTemplate {
  return {
    type: TPM_ALG.KEYEDHASH,
    nameAlg: TPM_ALG.SHA256,
    objectAttributes: A.fixedTPM | A.fixedParent | A.noDA,
    authPolicy: policy,
    parameters: { scheme: { scheme: TPM_ALG.NULL, details: {} } },
    unique: new Uint8Array(0),
  }
}
