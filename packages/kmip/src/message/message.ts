import { KmipError } from '../errors.js'
import { Tag } from '../tables/tags.js'
import { bool, bytes, date, en, int, present, s, text } from '../ttlv/build.js'
import type { TtlvItem } from '../ttlv/item.js'
import { all, as, children, find, opt, optStruct, req, reqStruct } from '../ttlv/read.js'
import type { ProtocolVersion } from './version.js'

/** Request Header (KMIP 1.4 §7.2 Table 216; 2.1 §8 Request Header). */
export interface RequestHeader {
  readonly protocolVersion: ProtocolVersion
  readonly maximumResponseSize?: number
  readonly clientCorrelationValue?: string
  readonly serverCorrelationValue?: string
  readonly asynchronousIndicator?: boolean
  readonly attestationCapableIndicator?: boolean
  /** Authentication structure, kept as an item (Credential types vary). */
  readonly authentication?: TtlvItem
  readonly batchErrorContinuationOption?: number
  readonly batchOrderOption?: boolean
  /** Seconds since the epoch. */
  readonly timeStamp?: bigint
  readonly batchCount: number
}

/** Request Batch Item (KMIP 1.4 §7.2 Table 217). */
export interface RequestBatchItem {
  readonly operation: number
  /** Unique Batch Item ID: the server echoes it (required when Batch Count > 1). */
  readonly uniqueBatchItemId?: Uint8Array
  readonly payload?: TtlvItem
  readonly messageExtension?: TtlvItem
}

/** Request Message (KMIP 1.4 §7.1). */
export interface RequestMessage {
  readonly header: RequestHeader
  readonly items: readonly RequestBatchItem[]
}

/** Response Header (KMIP 1.4 §7.2 Table 218). */
export interface ResponseHeader {
  readonly protocolVersion: ProtocolVersion
  /** Seconds since the epoch. */
  readonly timeStamp: bigint
  readonly nonce?: TtlvItem
  readonly attestationTypes?: readonly number[]
  readonly clientCorrelationValue?: string
  readonly serverCorrelationValue?: string
  readonly batchCount: number
}

/** Response Batch Item (KMIP 1.4 §7.2 Table 219). */
export interface ResponseBatchItem {
  readonly operation?: number
  readonly uniqueBatchItemId?: Uint8Array
  readonly resultStatus: number
  readonly resultReason?: number
  readonly resultMessage?: string
  readonly asynchronousCorrelationValue?: Uint8Array
  readonly payload?: TtlvItem
  readonly messageExtension?: TtlvItem
}

/** Response Message (KMIP 1.4 §7.1). */
export interface ResponseMessage {
  readonly header: ResponseHeader
  readonly items: readonly ResponseBatchItem[]
}

/** Protocol Version structure (KMIP 1.4 §6.1). */
export function buildProtocolVersion(v: ProtocolVersion): TtlvItem {
  return s(Tag.ProtocolVersion, [
    int(Tag.ProtocolVersionMajor, v.major),
    int(Tag.ProtocolVersionMinor, v.minor),
  ])
}

/** Parses a Protocol Version structure. */
export function parseProtocolVersion(item: TtlvItem): ProtocolVersion {
  as(item, 'Structure')
  return {
    major: req(item, Tag.ProtocolVersionMajor, 'Integer'),
    minor: req(item, Tag.ProtocolVersionMinor, 'Integer'),
  }
}

function checkTag(item: TtlvItem, tag: number, what: string): void {
  if (item.tag !== tag)
    throw new KmipError('ERR_KMIP_INVALID_FIELD', `expected ${what}`, { tag: item.tag })
  as(item, 'Structure')
}

function checkCount(count: number, items: number): void {
  if (count !== items) {
    throw new KmipError('ERR_KMIP_INVALID_FIELD', `Batch Count ${count} but ${items} Batch Items`, {
      tag: Tag.BatchCount,
    })
  }
}

/** Builds a Request Message item; Batch Count is set from `items` when the header's is 0. */
export function buildRequestMessage(msg: RequestMessage): TtlvItem {
  const h = msg.header
  const header = s(
    Tag.RequestHeader,
    present([
      buildProtocolVersion(h.protocolVersion),
      h.maximumResponseSize !== undefined && int(Tag.MaximumResponseSize, h.maximumResponseSize),
      h.clientCorrelationValue !== undefined &&
        text(Tag.ClientCorrelationValue, h.clientCorrelationValue),
      h.serverCorrelationValue !== undefined &&
        text(Tag.ServerCorrelationValue, h.serverCorrelationValue),
      h.asynchronousIndicator !== undefined &&
        bool(Tag.AsynchronousIndicator, h.asynchronousIndicator),
      h.attestationCapableIndicator !== undefined &&
        bool(Tag.AttestationCapableIndicator, h.attestationCapableIndicator),
      h.authentication,
      h.batchErrorContinuationOption !== undefined &&
        en(Tag.BatchErrorContinuationOption, h.batchErrorContinuationOption),
      h.batchOrderOption !== undefined && bool(Tag.BatchOrderOption, h.batchOrderOption),
      h.timeStamp !== undefined && date(Tag.TimeStamp, h.timeStamp),
      int(Tag.BatchCount, h.batchCount || msg.items.length),
    ]),
  )
  const items = msg.items.map((b) =>
    s(
      Tag.BatchItem,
      present([
        en(Tag.Operation, b.operation),
        b.uniqueBatchItemId !== undefined && bytes(Tag.UniqueBatchItemID, b.uniqueBatchItemId),
        b.payload,
        b.messageExtension,
      ]),
    ),
  )
  return s(Tag.RequestMessage, [header, ...items])
}

/** Parses a Request Message item (the Batch Count must match the Batch Items). */
export function parseRequestMessage(item: TtlvItem): RequestMessage {
  checkTag(item, Tag.RequestMessage, 'Request Message')
  const h = reqStruct(item, Tag.RequestHeader)
  const ts = opt(h, Tag.TimeStamp, 'DateTime')
  const mrs = opt(h, Tag.MaximumResponseSize, 'Integer')
  const ccv = opt(h, Tag.ClientCorrelationValue, 'TextString')
  const scv = opt(h, Tag.ServerCorrelationValue, 'TextString')
  const ai = opt(h, Tag.AsynchronousIndicator, 'Boolean')
  const aci = opt(h, Tag.AttestationCapableIndicator, 'Boolean')
  const auth = optStruct(h, Tag.Authentication)
  const beco = opt(h, Tag.BatchErrorContinuationOption, 'Enumeration')
  const boo = opt(h, Tag.BatchOrderOption, 'Boolean')
  const header: RequestHeader = {
    protocolVersion: parseProtocolVersion(reqStruct(h, Tag.ProtocolVersion)),
    batchCount: req(h, Tag.BatchCount, 'Integer'),
    ...(mrs !== undefined && { maximumResponseSize: mrs }),
    ...(ccv !== undefined && { clientCorrelationValue: ccv }),
    ...(scv !== undefined && { serverCorrelationValue: scv }),
    ...(ai !== undefined && { asynchronousIndicator: ai }),
    ...(aci !== undefined && { attestationCapableIndicator: aci }),
    ...(auth !== undefined && { authentication: auth }),
    ...(beco !== undefined && { batchErrorContinuationOption: beco }),
    ...(boo !== undefined && { batchOrderOption: boo }),
    ...(ts !== undefined && { timeStamp: ts }),
  }
  const items = children(item)
    .filter((c) => c.tag === Tag.BatchItem)
    .map((b): RequestBatchItem => {
      as(b, 'Structure')
      const id = opt(b, Tag.UniqueBatchItemID, 'ByteString')
      const payload = find(b, Tag.RequestPayload)
      const ext = optStruct(b, Tag.MessageExtension)
      return {
        operation: req(b, Tag.Operation, 'Enumeration'),
        ...(id !== undefined && { uniqueBatchItemId: id }),
        ...(payload !== undefined && { payload: as(payload, 'Structure') }),
        ...(ext !== undefined && { messageExtension: ext }),
      }
    })
  checkCount(header.batchCount, items.length)
  return { header, items }
}

/** Builds a Response Message item. */
export function buildResponseMessage(msg: ResponseMessage): TtlvItem {
  const h = msg.header
  const header = s(
    Tag.ResponseHeader,
    present([
      buildProtocolVersion(h.protocolVersion),
      date(Tag.TimeStamp, h.timeStamp),
      h.nonce,
      ...(h.attestationTypes ?? []).map((a) => en(Tag.AttestationType, a)),
      h.clientCorrelationValue !== undefined &&
        text(Tag.ClientCorrelationValue, h.clientCorrelationValue),
      h.serverCorrelationValue !== undefined &&
        text(Tag.ServerCorrelationValue, h.serverCorrelationValue),
      int(Tag.BatchCount, h.batchCount || msg.items.length),
    ]),
  )
  const items = msg.items.map((b) =>
    s(
      Tag.BatchItem,
      present([
        b.operation !== undefined && en(Tag.Operation, b.operation),
        b.uniqueBatchItemId !== undefined && bytes(Tag.UniqueBatchItemID, b.uniqueBatchItemId),
        en(Tag.ResultStatus, b.resultStatus),
        b.resultReason !== undefined && en(Tag.ResultReason, b.resultReason),
        b.resultMessage !== undefined && text(Tag.ResultMessage, b.resultMessage),
        b.asynchronousCorrelationValue !== undefined &&
          bytes(Tag.AsynchronousCorrelationValue, b.asynchronousCorrelationValue),
        b.payload,
        b.messageExtension,
      ]),
    ),
  )
  return s(Tag.ResponseMessage, [header, ...items])
}

/** Parses a Response Message item. */
export function parseResponseMessage(item: TtlvItem): ResponseMessage {
  checkTag(item, Tag.ResponseMessage, 'Response Message')
  const h = reqStruct(item, Tag.ResponseHeader)
  const nonce = optStruct(h, Tag.Nonce)
  const at = all(h, Tag.AttestationType, 'Enumeration')
  const ccv = opt(h, Tag.ClientCorrelationValue, 'TextString')
  const scv = opt(h, Tag.ServerCorrelationValue, 'TextString')
  const header: ResponseHeader = {
    protocolVersion: parseProtocolVersion(reqStruct(h, Tag.ProtocolVersion)),
    timeStamp: req(h, Tag.TimeStamp, 'DateTime'),
    batchCount: req(h, Tag.BatchCount, 'Integer'),
    ...(nonce !== undefined && { nonce }),
    ...(at.length > 0 && { attestationTypes: at }),
    ...(ccv !== undefined && { clientCorrelationValue: ccv }),
    ...(scv !== undefined && { serverCorrelationValue: scv }),
  }
  const items = children(item)
    .filter((c) => c.tag === Tag.BatchItem)
    .map((b): ResponseBatchItem => {
      as(b, 'Structure')
      const op = opt(b, Tag.Operation, 'Enumeration')
      const id = opt(b, Tag.UniqueBatchItemID, 'ByteString')
      const rr = opt(b, Tag.ResultReason, 'Enumeration')
      const rm = opt(b, Tag.ResultMessage, 'TextString')
      const acv = opt(b, Tag.AsynchronousCorrelationValue, 'ByteString')
      const payload = find(b, Tag.ResponsePayload)
      const ext = optStruct(b, Tag.MessageExtension)
      return {
        resultStatus: req(b, Tag.ResultStatus, 'Enumeration'),
        ...(op !== undefined && { operation: op }),
        ...(id !== undefined && { uniqueBatchItemId: id }),
        ...(rr !== undefined && { resultReason: rr }),
        ...(rm !== undefined && { resultMessage: rm }),
        ...(acv !== undefined && { asynchronousCorrelationValue: acv }),
        ...(payload !== undefined && { payload: as(payload, 'Structure') }),
        ...(ext !== undefined && { messageExtension: ext }),
      }
    })
  checkCount(header.batchCount, items.length)
  return { header, items }
}
