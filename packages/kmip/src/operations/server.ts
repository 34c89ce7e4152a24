/**
 * Payloads of the operations about the server itself: Discover Versions, Query (KMIP 1.4 §4.25,
 * §4.26), Interop, Log (2.1 §6.1.26, §6.1.30). Member order is wire order.
 */
import { Tag } from '../tables/tags.js'
import {
  enumerated,
  item,
  optional,
  repeated,
  required,
  struct,
  textString,
} from '../schema/dsl.js'
import { CapabilityInformation, ProtocolVersion } from './structures.js'

/** Discover Versions request, KMIP 1.4 §4.26: the client's versions, preferred first. */
export const DiscoverVersionsRequest = struct(Tag.RequestPayload, {
  protocolVersions: repeated(ProtocolVersion),
})
/** Discover Versions response, KMIP 1.4 §4.26: the versions both speak, in the client's order. */
export const DiscoverVersionsResponse = struct(Tag.ResponsePayload, {
  protocolVersions: repeated(ProtocolVersion),
})

/** Query request, KMIP 1.4 §4.25 (2.1 §6.1.37). */
export const QueryRequest = struct(Tag.RequestPayload, {
  queryFunctions: repeated(enumerated(Tag.QueryFunction)),
})
/** Query response, KMIP 1.4 §4.25 (the parts Ward answers and reads). */
export const QueryResponse = struct(Tag.ResponsePayload, {
  operations: repeated(enumerated(Tag.Operation)),
  objectTypes: repeated(enumerated(Tag.ObjectType)),
  vendorIdentification: optional(textString(Tag.VendorIdentification)),
  /** Vendor-specific (1.x) or Server Name and more (2.x): kept as received. */
  serverInformation: optional(item(Tag.ServerInformation, 'Structure')),
  capabilityInformation: repeated(CapabilityInformation),
})

/** Interop request, KMIP 2.1 §6.1.26. */
export const InteropRequest = struct(Tag.RequestPayload, {
  interopFunction: required(enumerated(Tag.InteropFunction)),
  interopIdentifier: required(textString(Tag.InteropIdentifier)),
})
/** Interop response, KMIP 2.1 §6.1.26 (empty). */
export const InteropResponse = struct(Tag.ResponsePayload, {})

/** Log request, KMIP 2.1 §6.1.30. */
export const LogRequest = struct(Tag.RequestPayload, {
  logMessage: required(textString(Tag.LogMessage)),
})
/** Log response, KMIP 2.1 §6.1.30 (empty). */
export const LogResponse = struct(Tag.ResponsePayload, {})
