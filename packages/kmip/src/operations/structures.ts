/** Structures shared by several payloads (KMIP 1.4 §2.1, 2.1 §2). Member order is wire order. */
import { Tag } from '../tables/tags.js'
import {
  boolean,
  byteString,
  enumerated,
  integer,
  optional,
  required,
  repeated,
  struct,
  textString,
} from '../schema/dsl.js'

/** Protocol Version, KMIP 1.4 §6.1. */
export const ProtocolVersion = struct(Tag.ProtocolVersion, {
  major: required(integer(Tag.ProtocolVersionMajor)),
  minor: required(integer(Tag.ProtocolVersionMinor)),
})

/** Cryptographic Parameters, KMIP 1.4 §2.1.5 (2.1 §7.6). */
export const CryptographicParameters = struct(Tag.CryptographicParameters, {
  blockCipherMode: optional(enumerated(Tag.BlockCipherMode)),
  paddingMethod: optional(enumerated(Tag.PaddingMethod)),
  hashingAlgorithm: optional(enumerated(Tag.HashingAlgorithm)),
  keyRoleType: optional(enumerated(Tag.KeyRoleType)),
  digitalSignatureAlgorithm: optional(enumerated(Tag.DigitalSignatureAlgorithm)),
  cryptographicAlgorithm: optional(enumerated(Tag.CryptographicAlgorithm)),
  randomIV: optional(boolean(Tag.RandomIV)),
  ivLength: optional(integer(Tag.IVLength)),
  tagLength: optional(integer(Tag.TagLength)),
  fixedFieldLength: optional(integer(Tag.FixedFieldLength)),
  invocationFieldLength: optional(integer(Tag.InvocationFieldLength)),
  counterLength: optional(integer(Tag.CounterLength)),
  initialCounterValue: optional(integer(Tag.InitialCounterValue)),
  saltLength: optional(integer(Tag.SaltLength)),
  maskGenerator: optional(enumerated(Tag.MaskGenerator)),
  maskGeneratorHashingAlgorithm: optional(enumerated(Tag.MaskGeneratorHashingAlgorithm)),
  pSource: optional(byteString(Tag.PSource)),
  trailerField: optional(integer(Tag.TrailerField)),
})

/** Encryption Key Information, KMIP 1.4 §2.1.5 (Key Wrapping Data). */
export const EncryptionKeyInformation = struct(Tag.EncryptionKeyInformation, {
  uniqueIdentifier: required(textString(Tag.UniqueIdentifier)),
  cryptographicParameters: optional(CryptographicParameters),
})

/** MAC/Signature Key Information, KMIP 1.4 §2.1.5. */
export const MACSignatureKeyInformation = struct(Tag.MACSignatureKeyInformation, {
  uniqueIdentifier: required(textString(Tag.UniqueIdentifier)),
  cryptographicParameters: optional(CryptographicParameters),
})

/** Key Wrapping Specification, KMIP 1.4 §2.1.6 (Get's request). */
export const KeyWrappingSpecification = struct(Tag.KeyWrappingSpecification, {
  /** Required by the spec; Ward reads an absent one as Encrypt. */
  wrappingMethod: optional(enumerated(Tag.WrappingMethod)),
  encryptionKeyInformation: optional(EncryptionKeyInformation),
  macSignatureKeyInformation: optional(MACSignatureKeyInformation),
  attributeNames: repeated(textString(Tag.AttributeName)),
  encodingOption: optional(enumerated(Tag.EncodingOption)),
})

/** Key Wrapping Data, KMIP 1.4 §2.1.5 (in a wrapped Key Block). */
export const KeyWrappingData = struct(Tag.KeyWrappingData, {
  wrappingMethod: required(enumerated(Tag.WrappingMethod)),
  encryptionKeyInformation: optional(EncryptionKeyInformation),
  macSignatureKeyInformation: optional(MACSignatureKeyInformation),
  macSignature: optional(byteString(Tag.MACSignature)),
  ivCounterNonce: optional(byteString(Tag.IVCounterNonce)),
  encodingOption: optional(enumerated(Tag.EncodingOption)),
})

/** Revocation Reason, KMIP 1.4 §3.31. */
export const RevocationReason = struct(Tag.RevocationReason, {
  code: required(enumerated(Tag.RevocationReasonCode)),
  message: optional(textString(Tag.RevocationMessage)),
})

/** Capability Information, KMIP 1.4 §2.1.23 (Query). */
export const CapabilityInformation = struct(Tag.CapabilityInformation, {
  streamingCapability: optional(boolean(Tag.StreamingCapability)),
  asynchronousCapability: optional(boolean(Tag.AsynchronousCapability)),
  attestationCapability: optional(boolean(Tag.AttestationCapability)),
  batchUndoCapability: optional(boolean(Tag.BatchUndoCapability)),
  batchContinueCapability: optional(boolean(Tag.BatchContinueCapability)),
  unwrapMode: optional(enumerated(Tag.UnwrapMode)),
  destroyAction: optional(enumerated(Tag.DestroyAction)),
  shreddingAlgorithm: optional(enumerated(Tag.ShreddingAlgorithm)),
  rngMode: optional(enumerated(Tag.RNGMode)),
})

/** Object structure tags (KMIP 1.4 §2.2; Template is 1.x only, PGP Key 1.4+). */
export const objectTags: readonly number[] = [
  Tag.Certificate,
  Tag.SymmetricKey,
  Tag.PublicKey,
  Tag.PrivateKey,
  Tag.SplitKey,
  Tag.Template,
  Tag.SecretData,
  Tag.OpaqueObject,
  Tag.PGPKey,
]
