/** KMIP enumerations the server uses (KMIP 1.4 §9.1.3.2, 2.1 §11). Wire values; names per spec. */

/** §9.1.3.2.12 Object Type */
export const ObjectType = {
  Certificate: 1,
  SymmetricKey: 2,
  PublicKey: 3,
  PrivateKey: 4,
  SplitKey: 5,
  Template: 6,
  SecretData: 7,
  OpaqueObject: 8,
  PGPKey: 9,
} as const

/** §9.1.3.2.13 Cryptographic Algorithm */
export const CryptographicAlgorithm = {
  AES: 3,
  RSA: 4,
  ECDSA: 6,
  HMAC_SHA1: 7,
  HMAC_SHA224: 8,
  HMAC_SHA256: 9,
  HMAC_SHA384: 10,
  HMAC_SHA512: 11,
  EC: 26,
} as const

/** §9.1.3.2.17 State */
export const State = {
  PreActive: 1,
  Active: 2,
  Deactivated: 3,
  Compromised: 4,
  Destroyed: 5,
  DestroyedCompromised: 6,
} as const

/** §9.1.3.2.3 Key Format Type */
export const KeyFormatType = {
  Raw: 1,
  Opaque: 2,
  PKCS1: 3,
  PKCS8: 4,
  X509: 5,
  ECPrivateKey: 6,
  TransparentSymmetricKey: 7,
  TransparentRSAPrivateKey: 10,
  TransparentRSAPublicKey: 11,
  TransparentECPrivateKey: 20,
  TransparentECPublicKey: 21,
} as const

/** §9.1.3.2.14 Block Cipher Mode */
export const BlockCipherMode = {
  CBC: 1,
  ECB: 2,
  GCM: 9,
  AESKeyWrapPadding: 12,
  NISTKeyWrap: 13,
} as const

/** §9.1.3.2.15 Padding Method */
export const PaddingMethod = { None: 1, OAEP: 2, PKCS5: 3, PKCS1v15: 8, PSS: 10 } as const

/** §9.1.3.2.16 Hashing Algorithm */
export const HashingAlgorithm = { SHA1: 4, SHA224: 5, SHA256: 6, SHA384: 7, SHA512: 8 } as const

/** §9.1.3.2.7 Digital Signature Algorithm */
export const DigitalSignatureAlgorithm = {
  SHA1WithRSA: 3,
  SHA224WithRSA: 4,
  SHA256WithRSA: 5,
  SHA384WithRSA: 6,
  SHA512WithRSA: 7,
  RSASSAPSS: 8,
  ECDSAWithSHA1: 12,
  ECDSAWithSHA224: 13,
  ECDSAWithSHA256: 14,
  ECDSAWithSHA384: 15,
  ECDSAWithSHA512: 16,
} as const

/** §9.1.3.2.5 Recommended Curve */
export const RecommendedCurve = { P256: 7, P384: 10, P521: 13 } as const

/** §9.1.3.2.19 Revocation Reason Code */
export const RevocationReasonCode = {
  Unspecified: 1,
  KeyCompromise: 2,
  CACompromise: 3,
  AffiliationChanged: 4,
  Superseded: 5,
  CessationOfOperation: 6,
  PrivilegeWithdrawn: 7,
} as const

/** §9.1.3.2.24 Query Function */
export const QueryFunction = {
  QueryOperations: 1,
  QueryObjects: 2,
  QueryServerInformation: 3,
} as const

/** §9.1.3.2.27 Operation */
export const Operation = {
  Create: 1,
  CreateKeyPair: 2,
  Register: 3,
  ReKey: 4,
  Locate: 8,
  Get: 10,
  GetAttributes: 11,
  GetAttributeList: 12,
  AddAttribute: 13,
  ModifyAttribute: 14,
  DeleteAttribute: 15,
  Activate: 18,
  Revoke: 19,
  Destroy: 20,
  Query: 24,
  DiscoverVersions: 30,
  Encrypt: 31,
  Decrypt: 32,
  Sign: 33,
  SignatureVerify: 34,
  MAC: 35,
  MACVerify: 36,
  RNGRetrieve: 37,
  SetAttribute: 49,
} as const

/** §9.1.3.2.28 Result Status */
export const ResultStatus = { Success: 0, OperationFailed: 1 } as const

/** §9.1.3.2.29 Result Reason */
export const ResultReason = {
  ItemNotFound: 1,
  ResponseTooLarge: 2,
  AuthenticationNotSuccessful: 3,
  InvalidMessage: 4,
  OperationNotSupported: 5,
  MissingData: 6,
  InvalidField: 7,
  FeatureNotSupported: 8,
  OperationCanceledByRequester: 9,
  CryptographicFailure: 10,
  IllegalOperation: 11,
  PermissionDenied: 12,
  IndexOutOfBounds: 14,
  KeyFormatTypeNotSupported: 16,
  /** KMIP 2.0+ only; 1.x gets Illegal Operation instead. */
  WrongKeyLifecycleState: 0x43,
  AttributeNotFound: 0x21,
  ObjectDestroyed: 0x36,
  GeneralFailure: 256,
} as const
export type ResultReasonName = keyof typeof ResultReason

/** §9.1.3.2.30 Batch Error Continuation Option */
export const BatchErrorContinuationOption = { Continue: 1, Stop: 2, Undo: 3 } as const

/** §9.1.3.3.1 Cryptographic Usage Mask bits */
export const UsageMask = {
  Sign: 1,
  Verify: 2,
  Encrypt: 4,
  Decrypt: 8,
  WrapKey: 16,
  UnwrapKey: 32,
  MACGenerate: 128,
  MACVerify: 256,
} as const

/** §9.1.3.2.23 Validity Indicator */
export const ValidityIndicator = { Valid: 1, Invalid: 2, Unknown: 3 } as const

/** §9.1.3.2.4 Name Type */
export const NameType = { UninterpretedTextString: 1, URI: 2 } as const
