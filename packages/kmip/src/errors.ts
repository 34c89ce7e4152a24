import { ResultReason } from './tables/enums.js'

/** Every error code packages/kmip throws (documented in docs/errors/kmip.md). */
export type KmipErrorCode =
  | 'ERR_TTLV_TRUNCATED'
  | 'ERR_TTLV_TRAILING'
  | 'ERR_TTLV_TYPE'
  | 'ERR_TTLV_LENGTH'
  | 'ERR_TTLV_PADDING'
  | 'ERR_TTLV_DEPTH'
  | 'ERR_TTLV_TOO_LARGE'
  | 'ERR_TTLV_TOO_MANY_ITEMS'
  | 'ERR_TTLV_UNKNOWN_TAG'
  | 'ERR_TTLV_BOOLEAN'
  | 'ERR_TTLV_UTF8'
  | 'ERR_TTLV_ENCODE'
  | 'ERR_KMIP_MISSING_FIELD'
  | 'ERR_KMIP_FIELD_TYPE'
  | 'ERR_KMIP_INVALID_FIELD'
  | 'ERR_KMIP_XML'
  | 'ERR_KMIP_JSON'
  | 'ERR_KMIP_ENUM'
  | 'ERR_KMIP_RESULT'
  | 'ERR_KMIP_RESPONSE'
  | 'ERR_KMIP_CONNECT'
  | 'ERR_KMIP_TIMEOUT'
  | 'ERR_KMIP_CLOSED'
  | 'ERR_KMIP_TLS_CONFIG'
  | 'ERR_KMIP_ALL_SERVERS_FAILED'
  | 'ERR_KMIP_PEER'

/** Result Reason to put in a KMIP error response for each code (KMIP 1.4 §9.1.3.2.29). */
const reasonFor: Record<KmipErrorCode, number> = {
  ERR_TTLV_TRUNCATED: ResultReason.InvalidMessage,
  ERR_TTLV_TRAILING: ResultReason.InvalidMessage,
  ERR_TTLV_TYPE: ResultReason.InvalidMessage,
  ERR_TTLV_LENGTH: ResultReason.InvalidMessage,
  ERR_TTLV_PADDING: ResultReason.InvalidMessage,
  ERR_TTLV_DEPTH: ResultReason.InvalidMessage,
  ERR_TTLV_TOO_LARGE: ResultReason.InvalidMessage,
  ERR_TTLV_TOO_MANY_ITEMS: ResultReason.InvalidMessage,
  ERR_TTLV_UNKNOWN_TAG: ResultReason.InvalidMessage,
  ERR_TTLV_BOOLEAN: ResultReason.InvalidMessage,
  ERR_TTLV_UTF8: ResultReason.InvalidMessage,
  ERR_TTLV_ENCODE: ResultReason.GeneralFailure,
  ERR_KMIP_MISSING_FIELD: ResultReason.MissingData,
  ERR_KMIP_FIELD_TYPE: ResultReason.InvalidField,
  ERR_KMIP_INVALID_FIELD: ResultReason.InvalidField,
  ERR_KMIP_XML: ResultReason.InvalidMessage,
  ERR_KMIP_JSON: ResultReason.InvalidMessage,
  ERR_KMIP_ENUM: ResultReason.InvalidField,
  ERR_KMIP_RESULT: ResultReason.GeneralFailure,
  ERR_KMIP_RESPONSE: ResultReason.InvalidMessage,
  ERR_KMIP_CONNECT: ResultReason.GeneralFailure,
  ERR_KMIP_TIMEOUT: ResultReason.GeneralFailure,
  ERR_KMIP_CLOSED: ResultReason.GeneralFailure,
  ERR_KMIP_TLS_CONFIG: ResultReason.GeneralFailure,
  ERR_KMIP_ALL_SERVERS_FAILED: ResultReason.GeneralFailure,
  ERR_KMIP_PEER: ResultReason.GeneralFailure,
}

/** Options for {@link KmipError}. */
export interface KmipErrorOptions {
  readonly cause?: unknown
  /** Byte offset in the input where decoding failed. */
  readonly offset?: number
  /** Override the Result Reason (e.g. a server's reason carried by ERR_KMIP_RESULT). */
  readonly resultReason?: number
  /** Tag of the item involved, when known. */
  readonly tag?: number
}

/**
 * The one error class of packages/kmip (same shape as @ward/core CodedError without importing it).
 * `resultReason` is the KMIP Result Reason a server should answer with; `expose` is false: peers
 * get the code, never the message.
 */
export class KmipError extends Error {
  readonly code: KmipErrorCode
  readonly expose = false
  readonly resultReason: number
  readonly offset: number | undefined
  readonly tag: number | undefined
  constructor(code: KmipErrorCode, message: string, options: KmipErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'KmipError'
    this.code = code
    this.resultReason = options.resultReason ?? reasonFor[code]
    this.offset = options.offset
    this.tag = options.tag
  }
}
