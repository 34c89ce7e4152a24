import { NbdError } from '../errors.js'
import { NBD_ERR, type NbdErrno } from '../protocol/constants.js'

/**
 * What an NBD export serves. Offsets and lengths given to it are already checked against `size`
 * and the server's limits. Buffers passed to `write` are the backend's to use until its promise
 * settles (it may transform them in place); it must not keep them afterwards.
 */
export interface NbdBackend {
  /** Export size in bytes, fixed for the server's life; at most 2^53 - 1. */
  readonly size: bigint | number
  /** `length` bytes at `offset` (exactly `length`, else the reply is EIO). */
  read(offset: number, length: number): Promise<Uint8Array>
  /** Optional: fill all of `target` with the bytes at `offset` (saves an allocation per READ). */
  readInto?(offset: number, target: Uint8Array): Promise<void>
  /** Write `data` at `offset`; with `fua`, durable before the promise resolves. */
  write(offset: number, data: Uint8Array, opts: { readonly fua: boolean }): Promise<void>
  /** Every write that completed before the call is durable when it resolves. */
  flush(): Promise<void>
  /** Optional discard hint (NBD_FLAG_SEND_TRIM is advertised only when present). */
  trim?(offset: number, length: number, opts: { readonly fua: boolean }): Promise<void>
  /**
   * Optional; without it WRITE_ZEROES writes zero buffers through `write`. `noHole`: the range
   * must stay allocated (NBD_CMD_FLAG_NO_HOLE).
   */
  writeZeroes?(
    offset: number,
    length: number,
    opts: { readonly fua: boolean; readonly noHole: boolean },
  ): Promise<void>
  /** Writes are refused with EPERM and NBD_FLAG_READ_ONLY is advertised. */
  readonly readOnly?: boolean
  /**
   * True when all connections share one view of the data with no per-connection cache, so a FLUSH
   * or FUA on one connection covers writes completed on every connection: the server may then
   * advertise NBD_FLAG_CAN_MULTI_CONN (never in exclusive mode).
   */
  readonly sharedCache?: boolean
}

/** System error codes a backend may throw (Node fs errors), mapped as "Error values" says. */
const fromSystemCode: Readonly<Record<string, NbdErrno>> = {
  ENOSPC: NBD_ERR.ENOSPC,
  EDQUOT: NBD_ERR.ENOSPC,
  EFBIG: NBD_ERR.ENOSPC,
  EPERM: NBD_ERR.EPERM,
  EACCES: NBD_ERR.EPERM,
  EROFS: NBD_ERR.EPERM,
  ENOMEM: NBD_ERR.ENOMEM,
}

const known = new Set<number>(Object.values(NBD_ERR))

/**
 * The NBD error to reply with for a backend failure: an NbdError's `errno` when it is an NBD
 * value, a mapped system code, else EIO.
 */
export function errnoOf(err: unknown): NbdErrno {
  if (err instanceof NbdError && err.errno !== undefined && known.has(err.errno))
    return err.errno as NbdErrno
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string') {
    const e = fromSystemCode[code]
    if (e !== undefined) return e
  }
  return NBD_ERR.EIO
}
