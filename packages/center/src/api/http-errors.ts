/**
 * Errors as the REST API answers them: vSphere's error body (error_type, messages) with Ward's
 * `code` and the request id. The HTTP status and error_type come from the code's kind, once;
 * a few codes override them. Messages of 5xx errors stay in the log (the body says where).
 */
import type { ErrorKind } from '@ward/core'
import { centerErrors, type CenterErrorCode } from '../errors.js'

const byKind = {
  usage: [400, 'INVALID_ARGUMENT'],
  input: [400, 'INVALID_ARGUMENT'],
  'not-found': [404, 'NOT_FOUND'],
  conflict: [409, 'ALREADY_EXISTS'],
  state: [409, 'NOT_ALLOWED_IN_CURRENT_STATE'],
  denied: [403, 'UNAUTHORIZED'],
  integrity: [400, 'INVALID_ARGUMENT'],
  unsupported: [400, 'UNSUPPORTED'],
  limit: [429, 'UNABLE_TO_ALLOCATE_RESOURCE'],
  io: [502, 'SERVICE_UNAVAILABLE'],
  timeout: [504, 'TIMED_OUT'],
  internal: [500, 'ERROR'],
} as const satisfies Record<ErrorKind, readonly [number, string]>

const overrides: Partial<Record<CenterErrorCode, readonly [number, string]>> = {
  ERR_CENTER_UNAUTHENTICATED: [401, 'UNAUTHENTICATED'],
  ERR_CENTER_JOIN_TOKEN: [401, 'UNAUTHENTICATED'],
  ERR_CENTER_BODY_TOO_LARGE: [413, 'INVALID_ARGUMENT'],
}

export function httpOf(code: CenterErrorCode): { status: number; errorType: string } {
  const [status, errorType] = overrides[code] ?? byKind[centerErrors[code].kind]
  return { status, errorType }
}

export function errorBody(code: CenterErrorCode, message: string, requestId: string) {
  const { status, errorType } = httpOf(code)
  const shown =
    status >= 500
      ? `internal error; the center's log has it under request id ${requestId}`
      : message
  return {
    status,
    body: {
      error_type: errorType,
      messages: [{ id: code, default_message: shown, args: [] as string[] }],
      code,
      request_id: requestId,
    },
  }
}
