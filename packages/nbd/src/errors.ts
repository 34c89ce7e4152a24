/**
 * Errors of the NBD core. Same shape as @ward/core's CodedError (`code`, `expose = false`, optional
 * `cause`) without importing it: protocol cores depend on Node only. Codes are documented in
 * docs/errors/nbd.md (a test checks every code used here is).
 */

/** What kind of failure a code is: the words of @ward/core's `errorKinds` (the docs test checks every row). */
export type NbdErrorKind =
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

/** Every code of @ward/nbd → its kind. */
export const nbdErrors = {
  ERR_NBD_ARG: { kind: 'usage' },
  ERR_NBD_SOCKET_DIR: { kind: 'usage' },
  ERR_NBD_SOCKET_PATH: { kind: 'usage' },
  ERR_NBD_TRUNCATED: { kind: 'input' },
  ERR_NBD_BAD_MAGIC: { kind: 'input' },
  ERR_NBD_CLIENT_FLAGS: { kind: 'input' },
  ERR_NBD_OPTION_TOO_LARGE: { kind: 'limit' },
  ERR_NBD_TOO_MANY_OPTIONS: { kind: 'limit' },
  ERR_NBD_PAYLOAD_TOO_LARGE: { kind: 'limit' },
  ERR_NBD_HANDSHAKE_TIMEOUT: { kind: 'timeout' },
  ERR_NBD_EXPORT_UNKNOWN: { kind: 'not-found' },
  ERR_NBD_BUSY: { kind: 'conflict' },
  ERR_NBD_TOO_MANY_CONNECTIONS: { kind: 'limit' },
  ERR_NBD_BACKEND: { kind: 'io' },
  ERR_NBD_SOCKET: { kind: 'io' },
  ERR_NBD_SHUTDOWN: { kind: 'state' },
  ERR_NBD_INTERNAL: { kind: 'internal' },
  ERR_NBD_REPLY: { kind: 'io' },
  ERR_NBD_OPTION_REFUSED: { kind: 'denied' },
  ERR_NBD_PROTOCOL: { kind: 'input' },
  ERR_NBD_CLOSED: { kind: 'io' },
  ERR_NBD_TIMEOUT: { kind: 'timeout' },
} as const satisfies Record<`ERR_NBD_${string}`, { readonly kind: NbdErrorKind }>

/** A code of {@link nbdErrors}. */
export type NbdErrorCode = keyof typeof nbdErrors

export interface NbdErrorOptions extends ErrorOptions {
  /** NBD error value (NBD_ERR) of a reply, when the error is or carries one. */
  readonly errno?: number
  /** Ids, offsets, lengths; never data. */
  readonly details?: Readonly<Record<string, string | number | boolean>>
}

/** Every intentional failure of this package. */
export class NbdError extends Error {
  readonly code: NbdErrorCode
  /** May `message` reach a remote peer? Never: peers see NBD error values only. */
  readonly expose: boolean = false
  readonly errno: number | undefined
  readonly details: Readonly<Record<string, string | number | boolean>>
  constructor(code: NbdErrorCode, message: string, options: NbdErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.errno = options.errno
    this.details = options.details ?? {}
  }
}
