/** Object public area and its parameters: TPM 2.0 Library Part 2 §11-§12 (rev 01.59). */
import { TPM_ALG } from '../constants.js'
import { empty, sized, struct, tpm2b, u16, u32, u8, union } from '../marshal/dsl.js'
import {
  TPM2B_AUTH,
  TPM2B_DATA,
  TPM2B_DIGEST,
  TPM2B_NAME,
  TPM2B_PUBLIC_KEY_RSA,
  TPM2B_SENSITIVE_DATA,
  TPML_PCR_SELECTION,
  TPMS_ECC_POINT,
} from './basic.js'

const hashDetails = struct({ hashAlg: u16 })

/** TPMT_SYM_DEF_OBJECT, Part 2 §11.1.7 (only AES and NULL are accepted here). */
export const TPMT_SYM_DEF_OBJECT = struct({
  algorithm: u16,
  keyBits: union('algorithm', { [TPM_ALG.AES]: u16, [TPM_ALG.XOR]: u16, [TPM_ALG.NULL]: empty }),
  mode: union('algorithm', { [TPM_ALG.AES]: u16, [TPM_ALG.XOR]: empty, [TPM_ALG.NULL]: empty }),
})
/** TPMT_SYM_DEF, Part 2 §11.1.6 (session symmetric algorithm; same shape here). */
export const TPMT_SYM_DEF = TPMT_SYM_DEF_OBJECT

/** TPMT_RSA_SCHEME, Part 2 §11.2.4.2. */
export const TPMT_RSA_SCHEME = struct({
  scheme: u16,
  details: union('scheme', {
    [TPM_ALG.NULL]: empty,
    [TPM_ALG.RSASSA]: hashDetails,
    [TPM_ALG.RSAPSS]: hashDetails,
    [TPM_ALG.OAEP]: hashDetails,
    [TPM_ALG.RSAES]: empty,
  }),
})
/** TPMT_ECC_SCHEME, Part 2 §11.2.5.6. */
export const TPMT_ECC_SCHEME = struct({
  scheme: u16,
  details: union('scheme', {
    [TPM_ALG.NULL]: empty,
    [TPM_ALG.ECDSA]: hashDetails,
    [TPM_ALG.ECDH]: hashDetails,
  }),
})
/** TPMT_KDF_SCHEME, Part 2 §11.2.3.3 (Ward only uses NULL). */
export const TPMT_KDF_SCHEME = struct({
  scheme: u16,
  details: union('scheme', { [TPM_ALG.NULL]: empty }),
})
/** TPMT_KEYEDHASH_SCHEME, Part 2 §11.1.23. */
export const TPMT_KEYEDHASH_SCHEME = struct({
  scheme: u16,
  details: union('scheme', {
    [TPM_ALG.NULL]: empty,
    [TPM_ALG.HMAC]: hashDetails,
    [TPM_ALG.XOR]: struct({ hashAlg: u16, kdf: u16 }),
  }),
})
/** TPMT_SIG_SCHEME, Part 2 §11.2.1.5. */
export const TPMT_SIG_SCHEME = struct({
  scheme: u16,
  details: union('scheme', {
    [TPM_ALG.NULL]: empty,
    [TPM_ALG.RSASSA]: hashDetails,
    [TPM_ALG.RSAPSS]: hashDetails,
    [TPM_ALG.ECDSA]: hashDetails,
  }),
})

/** TPMS_RSA_PARMS, Part 2 §12.2.3.5. */
export const TPMS_RSA_PARMS = struct({
  symmetric: TPMT_SYM_DEF_OBJECT,
  scheme: TPMT_RSA_SCHEME,
  keyBits: u16,
  exponent: u32,
})
/** TPMS_ECC_PARMS, Part 2 §12.2.3.6. */
export const TPMS_ECC_PARMS = struct({
  symmetric: TPMT_SYM_DEF_OBJECT,
  scheme: TPMT_ECC_SCHEME,
  curveID: u16,
  kdf: TPMT_KDF_SCHEME,
})
/** TPMS_KEYEDHASH_PARMS, Part 2 §12.2.3.3. */
export const TPMS_KEYEDHASH_PARMS = struct({ scheme: TPMT_KEYEDHASH_SCHEME })
/** TPMS_SYMCIPHER_PARMS, Part 2 §12.2.3.7. */
export const TPMS_SYMCIPHER_PARMS = struct({ sym: TPMT_SYM_DEF_OBJECT })

/** TPMT_PUBLIC, Part 2 §12.2.4: parameters and unique are selected by `type`. */
export const TPMT_PUBLIC = struct({
  type: u16,
  nameAlg: u16,
  objectAttributes: u32,
  authPolicy: TPM2B_DIGEST,
  parameters: union('type', {
    [TPM_ALG.RSA]: TPMS_RSA_PARMS,
    [TPM_ALG.ECC]: TPMS_ECC_PARMS,
    [TPM_ALG.KEYEDHASH]: TPMS_KEYEDHASH_PARMS,
    [TPM_ALG.SYMCIPHER]: TPMS_SYMCIPHER_PARMS,
  }),
  unique: union('type', {
    [TPM_ALG.RSA]: TPM2B_PUBLIC_KEY_RSA,
    [TPM_ALG.ECC]: TPMS_ECC_POINT,
    [TPM_ALG.KEYEDHASH]: TPM2B_DIGEST,
    [TPM_ALG.SYMCIPHER]: TPM2B_DIGEST,
  }),
})
/** TPM2B_PUBLIC, Part 2 §12.2.5. */
export const TPM2B_PUBLIC = sized(TPMT_PUBLIC, 1024)

/** TPMS_SENSITIVE_CREATE, Part 2 §11.1.15. */
export const TPMS_SENSITIVE_CREATE = struct({ userAuth: TPM2B_AUTH, data: TPM2B_SENSITIVE_DATA })
/** TPM2B_SENSITIVE_CREATE, Part 2 §11.1.16. */
export const TPM2B_SENSITIVE_CREATE = sized(TPMS_SENSITIVE_CREATE, 256)

/** TPMS_CREATION_DATA, Part 2 §15.1. */
export const TPMS_CREATION_DATA = struct({
  pcrSelect: TPML_PCR_SELECTION,
  pcrDigest: TPM2B_DIGEST,
  locality: u8,
  parentNameAlg: u16,
  parentName: TPM2B_NAME,
  parentQualifiedName: TPM2B_NAME,
  outsideInfo: TPM2B_DATA,
})
/** TPM2B_CREATION_DATA, Part 2 §15.2. */
export const TPM2B_CREATION_DATA = sized(TPMS_CREATION_DATA, 1024)

/** TPMT_TK_CREATION, Part 2 §10.7.3 (also TPMT_TK_AUTH §10.7.5: same shape). */
export const TPMT_TK_CREATION = struct({ tag: u16, hierarchy: u32, digest: TPM2B_DIGEST })
export const TPMT_TK_AUTH = TPMT_TK_CREATION

/** TPMS_NV_PUBLIC, Part 2 §13.5. */
export const TPMS_NV_PUBLIC = struct({
  nvIndex: u32,
  nameAlg: u16,
  attributes: u32,
  authPolicy: TPM2B_DIGEST,
  dataSize: u16,
})
/** TPM2B_NV_PUBLIC, Part 2 §13.6. */
export const TPM2B_NV_PUBLIC = sized(TPMS_NV_PUBLIC, 256)

/** Raw TPM2B of an unspecified structure (TPM2B_TEMPLATE etc.). */
export const TPM2B_OPAQUE = tpm2b(1024)
