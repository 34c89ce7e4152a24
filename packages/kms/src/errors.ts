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
  constructor(
    code: `ERR_KMS_${string}`,
    message: string,
    reason: ResultReasonName,
    options?: ErrorOptions,
  ) {
    super(message, options)
    this.code = code
    this.reason = reason
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
export const denied = (op: string, id: string): KmsError =>
  new KmsError(
    'ERR_KMS_PERMISSION_DENIED',
    `${op} on ${id} is not allowed for this identity (ask the owner for a grant: ward kms grant)`,
    'PermissionDenied',
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
