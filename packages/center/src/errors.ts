import { CodedError } from '@ward/core'
import type { ErrorInfo } from '@ward/core'

/** Every code of `ward center` → its kind (documented in docs/errors/center.md). */
export const centerErrors = {
  // PKI and host join (pki/)
  ERR_CENTER_PKI_EXISTS: { kind: 'conflict' },
  ERR_CENTER_PKI_MISSING: { kind: 'not-found' },
  ERR_CENTER_PKI_INVALID: { kind: 'integrity' },
  ERR_CENTER_CSR_INVALID: { kind: 'input' },
  ERR_CENTER_CSR_SIGNATURE: { kind: 'integrity' },
  ERR_CENTER_CSR_KEY: { kind: 'unsupported' },
  ERR_CENTER_HOST_ID: { kind: 'usage' },
  // calls to hosts over mutual TLS (hosts/)
  ERR_CENTER_HOST_UNREACHABLE: { kind: 'io' },
  ERR_CENTER_HOST_TIMEOUT: { kind: 'timeout' },
  ERR_CENTER_HOST_IDENTITY: { kind: 'integrity' },
  ERR_CENTER_HOST_PROTOCOL: { kind: 'input' },
  ERR_CENTER_HOST_REFUSED: { kind: 'denied' },
} as const satisfies Record<`ERR_CENTER_${string}`, ErrorInfo>

/** A code of {@link centerErrors}. */
export type CenterErrorCode = keyof typeof centerErrors

/** An error of `ward center`; the code is stable and documented in docs/errors/center.md. */
export class CenterError extends CodedError {
  readonly code: CenterErrorCode
  readonly details: Readonly<Record<string, string | number | boolean>>
  constructor(
    code: CenterErrorCode,
    message: string,
    details: Record<string, string | number | boolean> = {},
    options?: ErrorOptions,
  ) {
    super(message, options)
    this.code = code
    this.details = details
  }
}
