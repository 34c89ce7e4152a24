import { NbdError, type NbdErrorCode } from '../errors.js'
import { SIZE, TRANSMISSION_FLAG as TF } from '../protocol/constants.js'
import type { NbdBackend } from './backend.js'

/** What the server reports; ids, names, codes and sizes only, never data. */
export type NbdEvent =
  | {
      readonly type: 'open'
      readonly connection: number
      /**
       * The connection reads its input straight into its own buffers (a WRITE payload into its
       * request buffer, no copy): sockets accepted by `listen()`, when the runtime allows it.
       */
      readonly directReads: boolean
    }
  /** Transmission phase entered. */
  | { readonly type: 'ready'; readonly connection: number; readonly flags: number }
  /** An option the server refused for policy (exclusive export in use). */
  | { readonly type: 'refused'; readonly connection: number; readonly code: NbdErrorCode }
  /** A backend call failed; the client got `errno`. */
  | {
      readonly type: 'backend-error'
      readonly connection: number
      readonly command: string
      readonly errno: string
      readonly cause: string
    }
  /** Connection closed; `code` when the server closed it for a reason (protocol error, timeout). */
  | { readonly type: 'close'; readonly connection: number; readonly code?: NbdErrorCode }

export interface NbdServerOptions {
  /** Name of the one export (default ''); the empty name, the default export, also selects it. */
  readonly exportName?: string
  /** NBD_INFO_DESCRIPTION, when a client asks. */
  readonly description?: string
  /** Refuse writes (NBD_FLAG_READ_ONLY), whatever the backend allows. */
  readonly readOnly?: boolean
  /**
   * One client at a time: while a connection is in transmission, another's NBD_OPT_GO is refused
   * (NBD_REP_ERR_POLICY) and its NBD_OPT_EXPORT_NAME closes it. Never advertises CAN_MULTI_CONN.
   */
  readonly exclusive?: boolean
  /** Whole handshake, connect to transmission (default 10 s). */
  readonly handshakeTimeoutMs?: number
  /** Requests served concurrently per connection (default 16); more wait with the socket paused. */
  readonly maxInflight?: number
  /** READ/WRITE payload bytes held per connection (default 64 MiB; one request always fits). */
  readonly maxInflightBytes?: number
  /** NBD_INFO_BLOCK_SIZE maximum payload (default and upper bound 32 MiB). */
  readonly maxPayload?: number
  /** NBD_INFO_BLOCK_SIZE minimum (1 or a power of 2 up to 65536; default 1), enforced with EINVAL. */
  readonly minBlockSize?: number
  /** NBD_INFO_BLOCK_SIZE preferred (power of 2, at least 512 and minBlockSize; default 4096). */
  readonly preferredBlockSize?: number
  /** Connections at once (default 64); more are closed at accept. */
  readonly maxConnections?: number
  /** Options per handshake (default 64); more close the connection. */
  readonly maxOptions?: number
  /** Advertise CAN_MULTI_CONN (default: backend.sharedCache and not exclusive). */
  readonly multiConn?: boolean
  readonly onEvent?: (e: NbdEvent) => void
}

export interface ResolvedOptions {
  readonly exportName: string
  readonly description: string | undefined
  readonly exclusive: boolean
  readonly handshakeTimeoutMs: number
  readonly maxInflight: number
  readonly maxInflightBytes: number
  readonly maxPayload: number
  readonly minBlock: number
  readonly preferredBlock: number
  readonly maxConnections: number
  readonly maxOptions: number
  readonly size: number
  readonly transmissionFlags: number
  readonly onEvent: (e: NbdEvent) => void
}

const pow2 = (n: number): boolean => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0
const bad = (what: string): NbdError => new NbdError('ERR_NBD_ARG', `NBD server: ${what}`)

function int(v: number | undefined, dflt: number, min: number, max: number, what: string): number {
  const n = v ?? dflt
  if (!Number.isInteger(n) || n < min || n > max)
    throw bad(`${what} must be an integer from ${min} to ${max}`)
  return n
}

/** Check the options and the backend once, at construction (ERR_NBD_ARG says which is wrong). */
export function resolveOptions(backend: NbdBackend, o: NbdServerOptions): ResolvedOptions {
  const size = typeof backend.size === 'bigint' ? Number(backend.size) : backend.size
  if (
    !Number.isSafeInteger(size) ||
    size < 0 ||
    (typeof backend.size === 'bigint' && BigInt(size) !== backend.size)
  )
    throw bad('backend.size must be an integer from 0 to 2^53 - 1')
  const exportName = o.exportName ?? ''
  if (Buffer.byteLength(exportName) > SIZE.MAX_STRING || exportName.includes('\0'))
    throw bad('exportName must be at most 4096 bytes without NUL')
  if (o.description !== undefined && Buffer.byteLength(o.description) > SIZE.MAX_STRING)
    throw bad('description must be at most 4096 bytes')
  const minBlock = o.minBlockSize ?? 1
  if (!pow2(minBlock) || minBlock > SIZE.MAX_MIN_BLOCK)
    throw bad('minBlockSize must be a power of 2 from 1 to 65536')
  const preferredBlock = o.preferredBlockSize ?? SIZE.PREFERRED_BLOCK
  if (!pow2(preferredBlock) || preferredBlock < Math.max(512, minBlock))
    throw bad('preferredBlockSize must be a power of 2, at least 512 and minBlockSize')
  const maxPayload = int(
    o.maxPayload,
    SIZE.MAX_PAYLOAD,
    preferredBlock,
    SIZE.MAX_PAYLOAD,
    'maxPayload',
  )
  if (maxPayload % minBlock !== 0) throw bad('maxPayload must be a multiple of minBlockSize')
  const exclusive = o.exclusive ?? false
  const readOnly = (o.readOnly ?? false) || (backend.readOnly ?? false)
  const multiConn = o.multiConn ?? ((backend.sharedCache ?? false) && !exclusive)
  if (multiConn && exclusive) throw bad('multiConn and exclusive exclude each other')
  let flags = TF.HAS_FLAGS | TF.SEND_FLUSH | TF.SEND_FUA | TF.SEND_WRITE_ZEROES
  if (readOnly) flags |= TF.READ_ONLY
  if (backend.trim !== undefined) flags |= TF.SEND_TRIM
  if (multiConn) flags |= TF.CAN_MULTI_CONN
  return {
    exportName,
    description: o.description,
    exclusive,
    handshakeTimeoutMs: int(o.handshakeTimeoutMs, 10_000, 1, 3_600_000, 'handshakeTimeoutMs'),
    maxInflight: int(o.maxInflight, 16, 1, 1024, 'maxInflight'),
    maxInflightBytes: int(o.maxInflightBytes, 2 * SIZE.MAX_PAYLOAD, 1, 2 ** 31, 'maxInflightBytes'),
    maxPayload,
    minBlock,
    preferredBlock,
    maxConnections: int(o.maxConnections, 64, 1, 65536, 'maxConnections'),
    maxOptions: int(o.maxOptions, 64, 1, 4096, 'maxOptions'),
    size,
    transmissionFlags: flags,
    onEvent: o.onEvent ?? (() => undefined),
  }
}
