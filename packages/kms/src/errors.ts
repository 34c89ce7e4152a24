import { CodedError } from '@ward/core'
import type { ErrorInfo } from '@ward/core'
import type { ResultReason } from '@ward/kmip'

/** Name of a KMIP Result Reason (KMIP 1.4 §9.1.3.2.29, 2.1 §11.27). */
export type ResultReasonName = keyof typeof ResultReason

/** One row of {@link kmsErrors}. */
export interface KmsErrorInfo extends ErrorInfo {
  /** Result Reason answered to a KMIP 1.x request (KMIP 1.4 §9.1.3.2.29). */
  readonly v1: ResultReasonName
  /** Result Reason answered to a KMIP 2.x request (KMIP 2.1 §11.27 has reasons 1.x lacks). */
  readonly v2: ResultReasonName
  /**
   * May the message reach the peer in the Result Message? `private`: the peer gets a generic text
   * with the code and the request id, the message goes to the server log under that request id.
   */
  readonly peer: 'public' | 'private'
}

/**
 * Every code of @ward/kms (documented in docs/errors/kms.md) → its kind, the Result Reason per
 * KMIP major version and whether its message may be sent to the peer. The dispatcher derives the
 * Result Reason from this table, once, for the request's version: throw sites name only the code.
 */
export const kmsErrors = {
  // answered to peers
  ERR_KMS_TTLV_DECODE: {
    kind: 'input',
    v1: 'InvalidMessage',
    v2: 'InvalidMessage',
    peer: 'public',
  },
  ERR_KMS_INVALID_MESSAGE: {
    kind: 'input',
    v1: 'InvalidMessage',
    v2: 'InvalidMessage',
    peer: 'public',
  },
  ERR_KMS_VERSION: {
    kind: 'unsupported',
    v1: 'InvalidMessage',
    v2: 'InvalidMessage',
    peer: 'public',
  },
  ERR_KMS_OPERATION: {
    kind: 'unsupported',
    v1: 'OperationNotSupported',
    v2: 'OperationNotSupported',
    peer: 'public',
  },
  ERR_KMS_BATCH_STOPPED: {
    kind: 'state',
    v1: 'OperationCanceledByRequester',
    v2: 'OperationCanceledByRequester',
    peer: 'public',
  },
  ERR_KMS_BATCH_COMMIT: { kind: 'io', v1: 'GeneralFailure', v2: 'GeneralFailure', peer: 'public' },
  ERR_KMS_NOT_FOUND: {
    kind: 'not-found',
    v1: 'ItemNotFound',
    v2: 'ObjectNotFound',
    peer: 'public',
  },
  ERR_KMS_PERMISSION_DENIED: {
    kind: 'denied',
    v1: 'PermissionDenied',
    v2: 'PermissionDenied',
    peer: 'public',
  },
  ERR_KMS_MISSING_DATA: { kind: 'input', v1: 'MissingData', v2: 'MissingData', peer: 'public' },
  ERR_KMS_INVALID_FIELD: { kind: 'input', v1: 'InvalidField', v2: 'InvalidField', peer: 'public' },
  ERR_KMS_UNSUPPORTED_ATTRIBUTE: {
    kind: 'input',
    v1: 'InvalidField',
    v2: 'InvalidField',
    peer: 'public',
  },
  ERR_KMS_READ_ONLY_ATTRIBUTE: {
    kind: 'denied',
    v1: 'PermissionDenied',
    v2: 'AttributeReadOnly',
    peer: 'public',
  },
  ERR_KMS_BAD_CERTIFICATE: {
    kind: 'input',
    v1: 'InvalidField',
    v2: 'InvalidField',
    peer: 'public',
  },
  ERR_KMS_LEASE_TIME: {
    kind: 'denied',
    v1: 'PermissionDenied',
    v2: 'PermissionDenied',
    peer: 'public',
  },
  ERR_KMS_DUPLICATE_NAME: {
    kind: 'conflict',
    v1: 'IllegalOperation',
    v2: 'NonUniqueNameAttribute',
    peer: 'public',
  },
  ERR_KMS_TIGHTEN_ONLY: {
    kind: 'denied',
    v1: 'PermissionDenied',
    v2: 'PermissionDenied',
    peer: 'public',
  },
  ERR_KMS_SINGLE_VALUED: {
    kind: 'conflict',
    v1: 'IllegalOperation',
    v2: 'AttributeSingleValued',
    peer: 'public',
  },
  ERR_KMS_ATTRIBUTE_NOT_FOUND: {
    kind: 'not-found',
    v1: 'ItemNotFound',
    v2: 'AttributeNotFound',
    peer: 'public',
  },
  ERR_KMS_WRONG_STATE: {
    kind: 'state',
    v1: 'PermissionDenied',
    v2: 'WrongKeyLifecycleState',
    peer: 'public',
  },
  ERR_KMS_DESTROYED: { kind: 'state', v1: 'ItemNotFound', v2: 'ObjectDestroyed', peer: 'public' },
  ERR_KMS_SENSITIVE: { kind: 'denied', v1: 'PermissionDenied', v2: 'Sensitive', peer: 'public' },
  ERR_KMS_NOT_EXTRACTABLE: {
    kind: 'denied',
    v1: 'PermissionDenied',
    v2: 'NotExtractable',
    peer: 'public',
  },
  ERR_KMS_USAGE_MASK: {
    kind: 'denied',
    v1: 'PermissionDenied',
    v2: 'IncompatibleCryptographicUsageMask',
    peer: 'public',
  },
  ERR_KMS_USAGE_LIMIT: {
    kind: 'limit',
    v1: 'PermissionDenied',
    v2: 'PermissionDenied',
    peer: 'public',
  },
  ERR_KMS_KEY_FORMAT: {
    kind: 'unsupported',
    v1: 'KeyFormatTypeNotSupported',
    v2: 'KeyFormatTypeNotSupported',
    peer: 'public',
  },
  ERR_KMS_BAD_KEY: { kind: 'input', v1: 'InvalidField', v2: 'InvalidField', peer: 'public' },
  ERR_KMS_WRAP_KEY: { kind: 'input', v1: 'InvalidField', v2: 'InvalidField', peer: 'public' },
  ERR_KMS_NOT_SUPPORTED: {
    kind: 'unsupported',
    v1: 'FeatureNotSupported',
    v2: 'FeatureNotSupported',
    peer: 'public',
  },
  ERR_KMS_CRYPTO: {
    kind: 'integrity',
    v1: 'CryptographicFailure',
    v2: 'CryptographicFailure',
    peer: 'public',
  },
  // OASIS CS-BC-M-11/12/13 expect Invalid Message for a Decrypt without IV
  ERR_KMS_MISSING_IV: { kind: 'input', v1: 'InvalidMessage', v2: 'InvalidMessage', peer: 'public' },
  ERR_KMS_IV_LENGTH: { kind: 'input', v1: 'InvalidField', v2: 'InvalidField', peer: 'public' },
  // OASIS CS-BC-M-GCM-1 and CHACHA20POLY1305-1 expect General Failure for a bad tag length
  ERR_KMS_TAG_LENGTH: { kind: 'input', v1: 'GeneralFailure', v2: 'GeneralFailure', peer: 'public' },
  ERR_KMS_KEY_LENGTH: { kind: 'input', v1: 'InvalidField', v2: 'InvalidField', peer: 'public' },
  ERR_KMS_STREAM: { kind: 'state', v1: 'InvalidField', v2: 'InvalidField', peer: 'public' },
  ERR_KMS_STREAM_LIMIT: {
    kind: 'limit',
    v1: 'GeneralFailure',
    v2: 'GeneralFailure',
    peer: 'public',
  },
  ERR_KMS_LOG_RATE: { kind: 'limit', v1: 'GeneralFailure', v2: 'GeneralFailure', peer: 'public' },
  ERR_KMS_RESPONSE_TOO_LARGE: {
    kind: 'limit',
    v1: 'ResponseTooLarge',
    v2: 'ResponseTooLarge',
    peer: 'public',
  },
  // private: which key or row failed to open is for the operator, not the client
  ERR_KMS_BARRIER: {
    kind: 'integrity',
    v1: 'GeneralFailure',
    v2: 'GeneralFailure',
    peer: 'private',
  },
  ERR_KMS_INTERNAL: {
    kind: 'internal',
    v1: 'GeneralFailure',
    v2: 'GeneralFailure',
    peer: 'private',
  },
  // operator side: ward kms init/serve/client/grant/objects (never answered to a peer)
  ERR_KMS_NOT_INITIALIZED: {
    kind: 'state',
    v1: 'GeneralFailure',
    v2: 'GeneralFailure',
    peer: 'private',
  },
  ERR_KMS_ALREADY_INITIALIZED: {
    kind: 'conflict',
    v1: 'GeneralFailure',
    v2: 'GeneralFailure',
    peer: 'private',
  },
  ERR_KMS_DATA_DIR_MODE: {
    kind: 'denied',
    v1: 'GeneralFailure',
    v2: 'GeneralFailure',
    peer: 'private',
  },
  ERR_KMS_DATA_DIR_OWNER: {
    kind: 'denied',
    v1: 'GeneralFailure',
    v2: 'GeneralFailure',
    peer: 'private',
  },
  ERR_KMS_CLIENT_OUT: { kind: 'io', v1: 'GeneralFailure', v2: 'GeneralFailure', peer: 'private' },
  ERR_KMS_BAD_CLIENT_NAME: {
    kind: 'usage',
    v1: 'InvalidField',
    v2: 'InvalidField',
    peer: 'private',
  },
  ERR_KMS_BAD_SERVER_NAME: {
    kind: 'usage',
    v1: 'InvalidField',
    v2: 'InvalidField',
    peer: 'private',
  },
  ERR_KMS_BAD_FILTER: { kind: 'usage', v1: 'InvalidField', v2: 'InvalidField', peer: 'private' },
  ERR_KMS_BAD_GRANT: { kind: 'usage', v1: 'InvalidField', v2: 'InvalidField', peer: 'private' },
  ERR_KMS_LISTEN: { kind: 'io', v1: 'InvalidField', v2: 'InvalidField', peer: 'private' },
  ERR_KMS_RUNNING: {
    kind: 'conflict',
    v1: 'GeneralFailure',
    v2: 'GeneralFailure',
    peer: 'private',
  },
  ERR_KMS_BAD_LIMIT: { kind: 'usage', v1: 'InvalidField', v2: 'InvalidField', peer: 'private' },
  ERR_KMS_UNKNOWN_CLIENT: {
    kind: 'not-found',
    v1: 'ItemNotFound',
    v2: 'ItemNotFound',
    peer: 'private',
  },
  ERR_KMS_REVOCATIONS: {
    kind: 'input',
    v1: 'GeneralFailure',
    v2: 'GeneralFailure',
    peer: 'private',
  },
  ERR_KMS_BUSY: { kind: 'conflict', v1: 'GeneralFailure', v2: 'GeneralFailure', peer: 'private' },
} as const satisfies Record<`ERR_KMS_${string}`, KmsErrorInfo>

/** A code of {@link kmsErrors}. */
export type KmsErrorCode = keyof typeof kmsErrors

/** The Result Reason of `code` in a response of KMIP major version `major`. */
export const resultReasonOf = (code: KmsErrorCode, major: number): ResultReasonName =>
  major >= 2 ? kmsErrors[code].v2 : kmsErrors[code].v1

/** What a peer is told in place of a private error's message. */
export const PRIVATE_MESSAGE =
  'the server could not process this request (its log has the details under the request id)'

/**
 * A failure the server answers with a KMIP Result Reason, derived from `code` by the dispatcher
 * ({@link resultReasonOf}). `message` goes to the Result Message only for a public code
 * (`expose`); a private one's stays in the server log.
 */
export class KmsError extends CodedError {
  readonly code: KmsErrorCode
  override readonly expose: boolean
  /**
   * The outcome audit.log records when it is not the one the client is told: an object the
   * client may not touch at all is answered as not found, and audited as Permission Denied (see
   * hiddenDenied).
   */
  readonly auditReason: ResultReasonName | undefined
  /** The existing object a refused request was about, for audit.log (access refusals only). */
  readonly objectId: string | undefined
  constructor(
    code: KmsErrorCode,
    message: string,
    options?: ErrorOptions & {
      readonly auditReason?: ResultReasonName
      readonly objectId?: string
    },
  ) {
    super(message, options)
    this.code = code
    this.expose = kmsErrors[code].peer === 'public'
    this.auditReason = options?.auditReason
    this.objectId = options?.objectId
  }
}

/** Shorthands for the common cases (codes documented in docs/errors/kms.md). */
export const notFound = (id: string): KmsError =>
  new KmsError('ERR_KMS_NOT_FOUND', `object ${id} not found`)
/**
 * An object exists but the identity neither owns it nor holds any grant on it: the client gets
 * exactly the answer for an id that does not exist (code, reason and message of notFound), so
 * Permission Denied never tells a client that another identity's id exists; audit.log still
 * records Permission Denied. (An identity with some grant on the object knows it exists and gets
 * `denied` for the operations it was not granted.)
 */
export const hiddenDenied = (id: string): KmsError =>
  new KmsError('ERR_KMS_NOT_FOUND', `object ${id} not found`, {
    auditReason: 'PermissionDenied',
    objectId: id,
  })
export const denied = (op: string, id: string): KmsError =>
  new KmsError(
    'ERR_KMS_PERMISSION_DENIED',
    `${op} on ${id} is not allowed for this identity (ask the owner for a grant: ward kms grant)`,
    { objectId: id },
  )
export const invalidField = (message: string): KmsError =>
  new KmsError('ERR_KMS_INVALID_FIELD', message)
export const notSupported = (message: string): KmsError =>
  new KmsError('ERR_KMS_NOT_SUPPORTED', message)
export const cryptoFailure = (message: string): KmsError => new KmsError('ERR_KMS_CRYPTO', message)
