// @ward/kmip public surface: TTLV codec, tables, messages, XML/JSON encodings, client.
export type { TtlvItem, TtlvType, Limits } from './ttlv/item.js'
export { defaultLimits } from './ttlv/item.js'
export { KmipError, kmipErrors } from './errors.js'
export type { KmipErrorCode, KmipErrorOptions } from './errors.js'
export { decodeTtlv, isExtensionTag } from './ttlv/decode.js'
export type { DecodeOptions } from './ttlv/decode.js'
export { encodeTtlv } from './ttlv/encode.js'
export { frameLength, FrameReader } from './ttlv/frame.js'
export { typeCode } from './ttlv/types.js'
export {
  structure,
  int,
  long,
  big,
  enumeration,
  bool,
  text,
  bytes,
  date,
  dateExt,
  interval,
  present,
} from './ttlv/build.js'
export {
  children,
  find,
  findAll,
  checkType,
  optionalValue,
  requiredValue,
  requiredStructure,
  optionalStructure,
  allValues,
  tagLabel,
  retag,
  sameItem,
} from './ttlv/read.js'
export { toJsonItem, fromJsonItem } from './ttlv/compact.js'
export type { JsonItem } from './ttlv/compact.js'
export { Tag, tagCount, tagNameOf, tagByName, isKnownTag } from './tables/tags.js'
export type { TagName } from './tables/tags.js'
export {
  ObjectType,
  Operation,
  ResultStatus,
  ResultReason,
  CryptographicAlgorithm,
  KeyFormatType,
  State,
  NameType,
  RevocationReasonCode,
  QueryFunction,
  BlockCipherMode,
  PaddingMethod,
  HashingAlgorithm,
  CryptographicUsageMask,
  LinkType,
  BatchErrorContinuationOption,
  CredentialType,
  KeyCompressionType,
  WrappingMethod,
  RecommendedCurve,
  CertificateType,
  SecretDataType,
  OpaqueDataType,
  DigitalSignatureAlgorithm,
  ValidityIndicator,
  InteropFunction,
  RNGAlgorithm,
  DRBGAlgorithm,
  enumerations,
  enumerationCount,
  enumForTag,
  maskForTag,
} from './tables/enums.js'
export { normalizeName } from './tables/names.js'
export { tagSpecName } from './tables/tags.js'
export type { ProtocolVersion } from './message/version.js'
export { supportedVersions, isV2, compareVersions, parseVersion } from './message/version.js'
export {
  RequestHeader,
  RequestBatchItem,
  RequestMessage,
  ReceivedRequestMessage,
  ReceivedBatchItem,
  ResponseHeader,
  ResponseBatchItem,
  ResponseMessage,
  buildProtocolVersion,
  parseProtocolVersion,
  buildRequestMessage,
  parseRequestMessage,
  buildResponseMessage,
  encodeResponseMessage,
  parseResponseMessage,
} from './message/message.js'
export { decodeStructure, encodeStructure, encodeStructureTtlv } from './schema/codec.js'
export type {
  Field,
  Member,
  Members,
  StructField,
  Infer,
  PayloadOf,
  PayloadInput,
  AttributesRole,
} from './schema/dsl.js'
export {
  ProtocolVersion as ProtocolVersionStructure,
  CryptographicParameters,
  EncryptionKeyInformation,
  MACSignatureKeyInformation,
  KeyWrappingSpecification,
  KeyWrappingData,
  RevocationReason,
  CapabilityInformation,
  objectTags,
} from './operations/structures.js'
export {
  CreateRequest,
  CreateResponse,
  CreateKeyPairRequest,
  CreateKeyPairResponse,
  RegisterRequest,
  RegisterResponse,
  ReKeyRequest,
  ReKeyResponse,
  CheckRequest,
  CheckResponse,
  ActivateRequest,
  ActivateResponse,
  RevokeRequest,
  RevokeResponse,
  DestroyRequest,
  DestroyResponse,
} from './operations/lifecycle.js'
export {
  LocateRequest,
  LocateResponse,
  GetRequest,
  GetResponse,
  GetAttributesRequest,
  GetAttributesResponse,
  GetAttributeListRequest,
  GetAttributeListResponse,
} from './operations/retrieval.js'
export {
  NewAttribute,
  CurrentAttribute,
  AddAttributeRequest,
  AddAttributeResponse,
  ModifyAttributeRequest,
  ModifyAttributeResponse,
  SetAttributeRequest,
  SetAttributeResponse,
  DeleteAttributeRequest,
  DeleteAttributeResponse,
} from './operations/attribute-edits.js'
export {
  EncryptRequest,
  EncryptResponse,
  DecryptRequest,
  DecryptResponse,
  SignRequest,
  SignResponse,
  SignatureVerifyRequest,
  SignatureVerifyResponse,
  MACRequest,
  MACResponse,
  MACVerifyRequest,
  MACVerifyResponse,
  RNGRetrieveRequest,
  RNGRetrieveResponse,
  HashRequest,
  HashResponse,
} from './operations/cryptography.js'
export {
  DiscoverVersionsRequest,
  DiscoverVersionsResponse,
  QueryRequest,
  QueryResponse,
  InteropRequest,
  InteropResponse,
  LogRequest,
  LogResponse,
} from './operations/server.js'
export {
  KeyValue,
  KeyBlock,
  SymmetricKey,
  PublicKey,
  PrivateKey,
  SecretData,
  TransparentSymmetricKey,
  TransparentRSAPrivateKey,
  TransparentRSAPublicKey,
  TransparentECPrivateKey,
  TransparentECPublicKey,
  Name,
  Link,
} from './operations/objects.js'
export { operationPayloads } from './operations/payloads.js'
export type { OperationPayloads } from './operations/payloads.js'
export type { KmipAttribute } from './message/attributes.js'
export {
  isCustomAttributeName,
  isSpecAttributeName,
  isVendorAttributeName,
  attributeTag,
  attributeName,
  parseAttributeV1,
  buildAttributeV1,
  parseAttributeV2,
  buildAttributeV2,
  parseAttributes,
  buildTemplateAttribute,
  buildAttributes,
  buildAttributesFor,
  attr,
} from './message/attributes.js'
export { parseXml } from './encoding/xml-parser.js'
export type { XmlElement, XmlLimits } from './encoding/xml-parser.js'
export { ttlvFromXml, ttlvFromXmlElement, ttlvSequenceFromXml, ttlvToXml } from './encoding/xml.js'
export type { XmlReadOptions } from './encoding/xml.js'
export { ttlvFromJson, ttlvToJson } from './encoding/json.js'
export type { JsonTtlv, JsonLimits } from './encoding/json.js'
export { KmipClient, nameAttribute } from './client/kmip-client.js'
export type { CryptoParams, KmipObject, QueryResult } from './client/kmip-client.js'
export { KmipTransport, payloadOf } from './client/client.js'
export type { KmipClientOptions, KmipServerAddress, BatchRequest } from './client/client.js'
export { KmipConnection } from './client/connection.js'
export { tlsConnectOptions, kmipCiphers, certFingerprint } from './client/tls.js'
export type { KmipTlsOptions } from './client/tls.js'
