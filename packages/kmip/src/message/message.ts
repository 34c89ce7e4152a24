/**
 * Request and Response Messages (KMIP 1.4 §7, 2.1 §8), declared once: the headers and batch
 * items below are the only spelling of their fields; the parse and build functions and the
 * TypeScript types all derive from them (schema/codec.ts).
 */
import { KmipError } from '../errors.js'
import { ProtocolVersion as ProtocolVersionSchema } from '../operations/structures.js'
import { decodeStructure, encodeStructure, encodeStructureTtlv } from '../schema/codec.js'
import {
  boolean,
  byteString,
  dateTime,
  enumerated,
  integer,
  item,
  optional,
  repeated,
  required,
  struct,
  textString,
} from '../schema/dsl.js'
import type { PayloadInput, PayloadOf } from '../schema/dsl.js'
import { Tag } from '../tables/tags.js'
import type { TtlvItem } from '../ttlv/item.js'
import { checkType } from '../ttlv/read.js'
import type { ProtocolVersion } from './version.js'

/** Request Header, KMIP 1.4 §7.2 Table 216 (2.1 §8 Request Header). */
export const RequestHeader = struct(Tag.RequestHeader, {
  protocolVersion: required(ProtocolVersionSchema),
  maximumResponseSize: optional(integer(Tag.MaximumResponseSize)),
  clientCorrelationValue: optional(textString(Tag.ClientCorrelationValue)),
  serverCorrelationValue: optional(textString(Tag.ServerCorrelationValue)),
  asynchronousIndicator: optional(boolean(Tag.AsynchronousIndicator)),
  attestationCapableIndicator: optional(boolean(Tag.AttestationCapableIndicator)),
  /** Authentication structure, kept as an item (Credential types vary). */
  authentication: optional(item(Tag.Authentication, 'Structure')),
  batchErrorContinuationOption: optional(enumerated(Tag.BatchErrorContinuationOption)),
  batchOrderOption: optional(boolean(Tag.BatchOrderOption)),
  /** Seconds since the epoch. */
  timeStamp: optional(dateTime(Tag.TimeStamp)),
  batchCount: required(integer(Tag.BatchCount)),
})
export type RequestHeader = PayloadOf<typeof RequestHeader>

/** Request Batch Item, KMIP 1.4 §7.2 Table 217. */
export const RequestBatchItem = struct(Tag.BatchItem, {
  operation: required(enumerated(Tag.Operation)),
  /** Unique Batch Item ID: the server echoes it (required when Batch Count > 1). */
  uniqueBatchItemId: optional(byteString(Tag.UniqueBatchItemID)),
  payload: optional(item(Tag.RequestPayload, 'Structure')),
  messageExtension: optional(item(Tag.MessageExtension, 'Structure')),
})
export type RequestBatchItem = PayloadOf<typeof RequestBatchItem>

/** Request Message, KMIP 1.4 §7.1. */
export const RequestMessage = struct(Tag.RequestMessage, {
  header: required(RequestHeader),
  items: repeated(RequestBatchItem),
})
export type RequestMessage = PayloadOf<typeof RequestMessage>

/**
 * A Request Message as a server receives it: the header decoded, each batch item left to be read
 * on its own with {@link ReceivedBatchItem}, so that a bad item fails alone (KMIP 1.4 §7, Batch
 * Error Continuation Option) and a good one is still answered.
 */
export const ReceivedRequestMessage = struct(Tag.RequestMessage, {
  header: required(RequestHeader),
  items: repeated(item(Tag.BatchItem)),
})
/**
 * A Request Batch Item as a server reads it: the declaration above with its Operation left for
 * the server to check, so that an item without one is answered with its Unique Batch Item ID.
 */
export const ReceivedBatchItem = struct(Tag.BatchItem, {
  ...RequestBatchItem.members,
  operation: optional(RequestBatchItem.members.operation.field),
})

/** Response Header, KMIP 1.4 §7.2 Table 218. */
export const ResponseHeader = struct(Tag.ResponseHeader, {
  protocolVersion: required(ProtocolVersionSchema),
  /** Seconds since the epoch. */
  timeStamp: required(dateTime(Tag.TimeStamp)),
  nonce: optional(item(Tag.Nonce, 'Structure')),
  attestationTypes: repeated(enumerated(Tag.AttestationType)),
  clientCorrelationValue: optional(textString(Tag.ClientCorrelationValue)),
  serverCorrelationValue: optional(textString(Tag.ServerCorrelationValue)),
  batchCount: required(integer(Tag.BatchCount)),
})
export type ResponseHeader = PayloadOf<typeof ResponseHeader>

/** Response Batch Item, KMIP 1.4 §7.2 Table 219. */
export const ResponseBatchItem = struct(Tag.BatchItem, {
  operation: optional(enumerated(Tag.Operation)),
  uniqueBatchItemId: optional(byteString(Tag.UniqueBatchItemID)),
  resultStatus: required(enumerated(Tag.ResultStatus)),
  resultReason: optional(enumerated(Tag.ResultReason)),
  resultMessage: optional(textString(Tag.ResultMessage)),
  asynchronousCorrelationValue: optional(byteString(Tag.AsynchronousCorrelationValue)),
  payload: optional(item(Tag.ResponsePayload, 'Structure')),
  messageExtension: optional(item(Tag.MessageExtension, 'Structure')),
})
export type ResponseBatchItem = PayloadOf<typeof ResponseBatchItem>

/** Response Message, KMIP 1.4 §7.1. */
export const ResponseMessage = struct(Tag.ResponseMessage, {
  header: required(ResponseHeader),
  items: repeated(ResponseBatchItem),
})
export type ResponseMessage = PayloadOf<typeof ResponseMessage>

/** Headers have no 1.x / 2.x differences: any version reads them. */
const ANY: ProtocolVersion = { major: 1, minor: 4 }

/** Protocol Version structure (KMIP 1.4 §6.1). */
export function buildProtocolVersion(v: ProtocolVersion): TtlvItem {
  return encodeStructure(ProtocolVersionSchema, v, ANY)
}

/** Parses a Protocol Version structure. */
export function parseProtocolVersion(item: TtlvItem): ProtocolVersion {
  return decodeStructure(ProtocolVersionSchema, item, ANY)
}

function checkTag(item: TtlvItem, tag: number, what: string): void {
  if (item.tag !== tag)
    throw new KmipError('ERR_KMIP_INVALID_FIELD', `expected ${what}`, { tag: item.tag })
  checkType(item, 'Structure')
}

function checkCount(count: number, items: number): void {
  if (count !== items) {
    throw new KmipError('ERR_KMIP_INVALID_FIELD', `Batch Count ${count} but ${items} Batch Items`, {
      tag: Tag.BatchCount,
    })
  }
}

/** Builds a Request Message item; Batch Count is set from `items` when the header's is 0. */
export function buildRequestMessage(msg: PayloadInput<typeof RequestMessage>): TtlvItem {
  const items = msg.items ?? []
  return encodeStructure(
    RequestMessage,
    { header: { ...msg.header, batchCount: msg.header.batchCount || items.length }, items },
    ANY,
  )
}

/** Parses a Request Message item (the Batch Count must match the Batch Items). */
export function parseRequestMessage(item: TtlvItem): RequestMessage {
  checkTag(item, Tag.RequestMessage, 'Request Message')
  const m = decodeStructure(RequestMessage, item, ANY)
  checkCount(m.header.batchCount, m.items.length)
  return m
}

/** Builds a Response Message item; Batch Count is set from `items` when the header's is 0. */
export function buildResponseMessage(msg: PayloadInput<typeof ResponseMessage>): TtlvItem {
  const items = msg.items ?? []
  return encodeStructure(
    ResponseMessage,
    { header: { ...msg.header, batchCount: msg.header.batchCount || items.length }, items },
    ANY,
  )
}

/**
 * The bytes of {@link buildResponseMessage}'s item, encoded straight from the declaration (a
 * server's reply path: no item tree for the header and batch items).
 */
export function encodeResponseMessage(msg: PayloadInput<typeof ResponseMessage>): Uint8Array {
  const items = msg.items ?? []
  return encodeStructureTtlv(
    ResponseMessage,
    { header: { ...msg.header, batchCount: msg.header.batchCount || items.length }, items },
    ANY,
  )
}

/** Parses a Response Message item. */
export function parseResponseMessage(item: TtlvItem): ResponseMessage {
  checkTag(item, Tag.ResponseMessage, 'Response Message')
  const m = decodeStructure(ResponseMessage, item, ANY)
  checkCount(m.header.batchCount, m.items.length)
  return m
}
