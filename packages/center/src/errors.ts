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
  // data dir, storage, master key (store/, seal/)
  ERR_CENTER_NOT_INITIALIZED: { kind: 'not-found' },
  ERR_CENTER_ALREADY_INITIALIZED: { kind: 'conflict' },
  ERR_CENTER_DATA_DIR: { kind: 'usage' },
  ERR_CENTER_DB_URL: { kind: 'usage' },
  ERR_CENTER_SCHEMA_NEWER: { kind: 'unsupported' },
  ERR_CENTER_SEALED: { kind: 'integrity' },
  // REST API (api/): request shape, authentication, authorization
  ERR_CENTER_BAD_REQUEST: { kind: 'input' },
  ERR_CENTER_BODY_TOO_LARGE: { kind: 'limit' },
  ERR_CENTER_UNAUTHENTICATED: { kind: 'denied' },
  ERR_CENTER_LOCKED_OUT: { kind: 'limit' },
  ERR_CENTER_PERMISSION_DENIED: { kind: 'denied' },
  ERR_CENTER_NOT_FOUND: { kind: 'not-found' },
  ERR_CENTER_EXISTS: { kind: 'conflict' },
  ERR_CENTER_IN_USE: { kind: 'state' },
  ERR_CENTER_SYSTEM_ROLE: { kind: 'denied' },
  ERR_CENTER_UNKNOWN_PRIVILEGE: { kind: 'input' },
  ERR_CENTER_JOIN_TOKEN: { kind: 'denied' },
  ERR_CENTER_ROUTE_TABLE: { kind: 'internal' },
  ERR_CENTER_INTERNAL: { kind: 'internal' },
  // native key providers (providers/native/)
  ERR_CENTER_NKP_NOT_BACKED_UP: { kind: 'state' },
  ERR_CENTER_NKP_TPM_REQUIRED: { kind: 'denied' },
  ERR_CENTER_NKP_EXPORT_TOKEN: { kind: 'denied' },
  ERR_CENTER_NKP_KDK: { kind: 'input' },
  ERR_CENTER_NKP_BACKUP_FORMAT: { kind: 'input' },
  ERR_CENTER_NKP_BACKUP_PASSWORD: { kind: 'denied' },
  // key providers, KEKs, key status and garbage collection (providers/)
  ERR_CENTER_PROVIDER_CERT: { kind: 'input' },
  ERR_CENTER_PROVIDER_NOT_READY: { kind: 'state' },
  ERR_CENTER_PROVIDER_TYPE: { kind: 'unsupported' },
  ERR_CENTER_NO_DEFAULT_PROVIDER: { kind: 'not-found' },
  ERR_CENTER_KMS_UNREACHABLE: { kind: 'io' },
  ERR_CENTER_KMS_REFUSED: { kind: 'state' },
  ERR_CENTER_KEY_MISSING_IN_KMS: { kind: 'not-found' },
  // VM encryption tasks (tasks/, api/handlers/vms.ts)
  ERR_CENTER_TASK_KIND: { kind: 'unsupported' },
  ERR_CENTER_VM_STATE: { kind: 'state' },
  ERR_CENTER_NO_KEY_PROVIDER: { kind: 'not-found' },
  // host status, host encryption mode, events and alarms (ha: monitor/, alarms/)
  ERR_CENTER_HOST_KEY_MISSING: { kind: 'state' },
  ERR_CENTER_HOST_CRYPTO_STATE: { kind: 'state' },
  // the CLI's session file (ERR_CENTER_API is @ward/api's, the client's)
  ERR_CENTER_LOGIN_FILE: { kind: 'usage' },
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
