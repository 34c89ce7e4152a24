/**
 * Errors of the NBD core. Same shape as @ward/core's CodedError (`code`, `expose = false`, optional
 * `cause`) without importing it: protocol cores depend on Node only. Codes are documented in
 * docs/errors/nbd.md (a test checks every code used here is).
 */

/** Every error code of @ward/nbd. */
export type NbdErrorCode =
  | 'ERR_NBD_ARG'
  | 'ERR_NBD_SOCKET_DIR'
  | 'ERR_NBD_SOCKET_PATH'
  | 'ERR_NBD_TRUNCATED'
  | 'ERR_NBD_BAD_MAGIC'
  | 'ERR_NBD_CLIENT_FLAGS'
  | 'ERR_NBD_OPTION_TOO_LARGE'
  | 'ERR_NBD_TOO_MANY_OPTIONS'
  | 'ERR_NBD_PAYLOAD_TOO_LARGE'
  | 'ERR_NBD_HANDSHAKE_TIMEOUT'
  | 'ERR_NBD_EXPORT_UNKNOWN'
  | 'ERR_NBD_BUSY'
  | 'ERR_NBD_TOO_MANY_CONNECTIONS'
  | 'ERR_NBD_BACKEND'
  | 'ERR_NBD_SOCKET'
  | 'ERR_NBD_SHUTDOWN'
  | 'ERR_NBD_INTERNAL'
  | 'ERR_NBD_REPLY'
  | 'ERR_NBD_OPTION_REFUSED'
  | 'ERR_NBD_PROTOCOL'
  | 'ERR_NBD_CLOSED'
  | 'ERR_NBD_TIMEOUT'

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
