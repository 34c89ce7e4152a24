import { CodedError } from '@ward/core'
import type { ErrorInfo } from '@ward/core'

/** Every code of the API client → its kind (documented in docs/errors/center.md). */
export const apiErrors = {
  ERR_CENTER_API: { kind: 'io' },
} as const satisfies Record<`ERR_CENTER_${string}`, ErrorInfo>

/** A code of {@link apiErrors}. */
export type ApiErrorCode = keyof typeof apiErrors

/** An error of the client: the center could not be reached, or it answered with an error. */
export class ApiClientError extends CodedError {
  readonly code: ApiErrorCode
  readonly details: Readonly<Record<string, string | number | boolean>>
  constructor(
    code: ApiErrorCode,
    message: string,
    details: Record<string, string | number | boolean> = {},
    options?: ErrorOptions,
  ) {
    super(message, options)
    this.code = code
    this.details = details
  }
}
