import { CodedError } from '@ward/core'
import type { ResultReason } from '@ward/kmip'

/** Name of a KMIP Result Reason (KMIP 1.4 §9.1.3.2.29, 2.1 §11.27). */
export type ResultReasonName = keyof typeof ResultReason

/**
 * A failure the server answers with a KMIP Result Reason (KMIP 1.4 §9.1.3.2.29). `message` goes to
 * our logs and, being free of secrets by construction, to the Result Message of the response.
 */
export class KmsError extends CodedError {
  readonly code: `ERR_KMS_${string}`
  readonly reason: ResultReasonName
  /**
   * The outcome audit.log records when it is not the one the client is told (`reason`): an
   * object the client may not touch at all is answered as not found, and audited as Permission
   * Denied (see hiddenDenied).
   */
  readonly auditReason: ResultReasonName | undefined
  /** The existing object a refused request was about, for audit.log (access refusals only). */
  readonly objectId: string | undefined
  constructor(
    code: `ERR_KMS_${string}`,
    message: string,
    reason: ResultReasonName,
    options?: ErrorOptions & {
      readonly auditReason?: ResultReasonName
      readonly objectId?: string
    },
  ) {
    super(message, options)
    this.code = code
    this.reason = reason
    this.auditReason = options?.auditReason
    this.objectId = options?.objectId
  }
}

/** Shorthands for the common cases (codes documented in docs/errors/kms.md). */
/** `v2`: KMIP 2.x has its own reason, Object Not Found (2.1 §11.27); 1.x says Item Not Found. */
export const notFound = (id: string, v2 = false): KmsError =>
  new KmsError(
    'ERR_KMS_NOT_FOUND',
    `object ${id} not found`,
    v2 ? 'ObjectNotFound' : 'ItemNotFound',
  )
/**
 * An object exists but the identity neither owns it nor holds any grant on it: the client gets
 * exactly the answer for an id that does not exist (code, reason and message of notFound), so
 * Permission Denied never tells a client that another identity's id exists; audit.log still
 * records Permission Denied. (An identity with some grant on the object knows it exists and gets
 * `denied` for the operations it was not granted.)
 */
export const hiddenDenied = (id: string, v2 = false): KmsError =>
  new KmsError(
    'ERR_KMS_NOT_FOUND',
    `object ${id} not found`,
    v2 ? 'ObjectNotFound' : 'ItemNotFound',
    { auditReason: 'PermissionDenied', objectId: id },
  )
export const denied = (op: string, id: string): KmsError =>
  new KmsError(
    'ERR_KMS_PERMISSION_DENIED',
    `${op} on ${id} is not allowed for this identity (ask the owner for a grant: ward kms grant)`,
    'PermissionDenied',
    { objectId: id },
  )
export const invalidField = (message: string): KmsError =>
  new KmsError('ERR_KMS_INVALID_FIELD', message, 'InvalidField')
export const missingData = (message: string): KmsError =>
  new KmsError('ERR_KMS_MISSING_DATA', message, 'MissingData')
export const notSupported = (message: string): KmsError =>
  new KmsError('ERR_KMS_NOT_SUPPORTED', message, 'FeatureNotSupported')
export const wrongState = (message: string): KmsError =>
  new KmsError('ERR_KMS_WRONG_STATE', message, 'WrongKeyLifecycleState')
export const cryptoFailure = (message: string): KmsError =>
  new KmsError('ERR_KMS_CRYPTO', message, 'CryptographicFailure')
