import { ResultReason } from './tables/enums.js'

/** What kind of failure a code is: the words of @ward/core's `errorKinds` (the docs test checks every row). */
export type KmipErrorKind =
  | 'usage'
  | 'input'
  | 'not-found'
  | 'conflict'
  | 'state'
  | 'denied'
  | 'integrity'
  | 'unsupported'
  | 'limit'
  | 'io'
  | 'timeout'
  | 'internal'

/**
 * Every code packages/kmip throws (documented in docs/errors/kmip.md) → its kind and the Result
 * Reason a server answers it with (KMIP 1.4 §9.1.3.2.29).
 */
export const kmipErrors = {
  ERR_TTLV_TRUNCATED: { kind: 'input', reason: ResultReason.InvalidMessage },
  ERR_TTLV_TRAILING: { kind: 'input', reason: ResultReason.InvalidMessage },
  ERR_TTLV_TYPE: { kind: 'input', reason: ResultReason.InvalidMessage },
  ERR_TTLV_LENGTH: { kind: 'input', reason: ResultReason.InvalidMessage },
  ERR_TTLV_PADDING: { kind: 'input', reason: ResultReason.InvalidMessage },
  ERR_TTLV_DEPTH: { kind: 'limit', reason: ResultReason.InvalidMessage },
  ERR_TTLV_TOO_LARGE: { kind: 'limit', reason: ResultReason.InvalidMessage },
  ERR_TTLV_TOO_MANY_ITEMS: { kind: 'limit', reason: ResultReason.InvalidMessage },
  ERR_TTLV_UNKNOWN_TAG: { kind: 'input', reason: ResultReason.InvalidMessage },
  ERR_TTLV_BOOLEAN: { kind: 'input', reason: ResultReason.InvalidMessage },
  ERR_TTLV_UTF8: { kind: 'input', reason: ResultReason.InvalidMessage },
  ERR_TTLV_ENCODE: { kind: 'usage', reason: ResultReason.GeneralFailure },
  ERR_KMIP_MISSING_FIELD: { kind: 'input', reason: ResultReason.MissingData },
  ERR_KMIP_FIELD_TYPE: { kind: 'input', reason: ResultReason.InvalidField },
  ERR_KMIP_INVALID_FIELD: { kind: 'input', reason: ResultReason.InvalidField },
  ERR_KMIP_XML: { kind: 'input', reason: ResultReason.InvalidMessage },
  ERR_KMIP_JSON: { kind: 'input', reason: ResultReason.InvalidMessage },
  ERR_KMIP_ENUM: { kind: 'input', reason: ResultReason.InvalidField },
  ERR_KMIP_NOT_SUPPORTED: { kind: 'unsupported', reason: ResultReason.FeatureNotSupported },
  ERR_KMIP_RESULT: { kind: 'io', reason: ResultReason.GeneralFailure },
  ERR_KMIP_RESPONSE: { kind: 'input', reason: ResultReason.InvalidMessage },
  ERR_KMIP_CONNECT: { kind: 'io', reason: ResultReason.GeneralFailure },
  ERR_KMIP_TIMEOUT: { kind: 'timeout', reason: ResultReason.GeneralFailure },
  ERR_KMIP_CLOSED: { kind: 'io', reason: ResultReason.GeneralFailure },
  ERR_KMIP_TLS_CONFIG: { kind: 'usage', reason: ResultReason.GeneralFailure },
  ERR_KMIP_ALL_SERVERS_FAILED: { kind: 'io', reason: ResultReason.GeneralFailure },
  ERR_KMIP_PEER: { kind: 'io', reason: ResultReason.GeneralFailure },
} as const satisfies Record<
  `ERR_${'TTLV' | 'KMIP'}_${string}`,
  { readonly kind: KmipErrorKind; readonly reason: number }
>

/** A code of {@link kmipErrors}. */
export type KmipErrorCode = keyof typeof kmipErrors

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
    this.resultReason = options.resultReason ?? kmipErrors[code].reason
    this.offset = options.offset
    this.tag = options.tag
  }
}
