/**
 * Constant tables of the NBD protocol, doc/proto.md of github.com/NetworkBlockDevice/nbd (master,
 * commit 89ba7b5). Names keep the spec's spelling minus the `NBD_<KIND>_` prefix so they can be
 * grepped against it. Every value the server sends or recognises comes from these tables; the codec,
 * the request checks, the event names and docs/nbd.md are derived from them (a test checks the doc).
 * Unit tests assert the counts, so an edit here is deliberate.
 */

/** Magic numbers, "Handshake", "Transmission" and "Reserved Magic values". */
export const MAGIC = {
  /** 'NBDMAGIC' (INIT_PASSWD), first 8 bytes the server sends. */
  NBDMAGIC: 0x4e42444d41474943n,
  /** 'IHAVEOPT', newstyle negotiation and the prefix of every option the client sends. */
  IHAVEOPT: 0x49484156454f5054n,
  /** Prefix of every option reply (fixed newstyle). */
  OPTION_REPLY: 0x0003e889045565a9n,
  /** NBD_REQUEST_MAGIC, prefix of every transmission request. */
  REQUEST: 0x25609513,
  /** NBD_SIMPLE_REPLY_MAGIC, prefix of every simple reply. */
  SIMPLE_REPLY: 0x67446698,
  /** NBD_STRUCTURED_REPLY_MAGIC (structured replies are not negotiated by this server). */
  STRUCTURED_REPLY: 0x668e33ef,
} as const

/** Handshake flags (16 bits, server), "Values › Handshake flags". */
export const HANDSHAKE_FLAG = {
  FIXED_NEWSTYLE: 1 << 0,
  NO_ZEROES: 1 << 1,
} as const

/** Client flags (32 bits), "Values › Client flags". Any other bit: the server drops the connection. */
export const CLIENT_FLAG = {
  C_FIXED_NEWSTYLE: 1 << 0,
  C_NO_ZEROES: 1 << 1,
} as const

/** Transmission flags (16 bits), "Values › Transmission flags". */
export const TRANSMISSION_FLAG = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  SEND_DF: 1 << 7,
  CAN_MULTI_CONN: 1 << 8,
  SEND_RESIZE: 1 << 9,
  SEND_CACHE: 1 << 10,
  SEND_FAST_ZERO: 1 << 11,
} as const

/** Option types, "Values › Option types". */
export const OPT = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  PEEK_EXPORT: 4,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
  EXTENDED_HEADERS: 11,
} as const

const ERR = 0x80000000
/** Option reply types, "Values › Option reply types". Errors have bit 31 set. */
export const REP = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
  ERR_UNSUP: ERR + 1,
  ERR_POLICY: ERR + 2,
  ERR_INVALID: ERR + 3,
  ERR_PLATFORM: ERR + 4,
  ERR_TLS_REQD: ERR + 5,
  ERR_UNKNOWN: ERR + 6,
  ERR_SHUTDOWN: ERR + 7,
  ERR_BLOCK_SIZE_REQD: ERR + 8,
  ERR_TOO_BIG: ERR + 9,
  ERR_EXT_HEADER_REQD: ERR + 10,
} as const

/** Information types of NBD_REP_INFO, "Option reply types › NBD_REP_INFO". */
export const INFO = {
  EXPORT: 0,
  NAME: 1,
  DESCRIPTION: 2,
  BLOCK_SIZE: 3,
} as const

/** Request types, "Values › Request types". */
export const CMD = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
  RESIZE: 8,
} as const

/** Command flags (16 bits), "Values › Command flags". */
export const CMD_FLAG = {
  FUA: 1 << 0,
  NO_HOLE: 1 << 1,
  DF: 1 << 2,
  REQ_ONE: 1 << 3,
  FAST_ZERO: 1 << 4,
  PAYLOAD_LEN: 1 << 5,
} as const

/** Error values of the reply's error field, "Values › Error values". */
export const NBD_ERR = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const

export type Opt = (typeof OPT)[keyof typeof OPT]
export type Rep = (typeof REP)[keyof typeof REP]
export type Cmd = (typeof CMD)[keyof typeof CMD]
export type NbdErrno = (typeof NBD_ERR)[keyof typeof NBD_ERR]

/** Size constraints, "Size constraints": the defaults a server SHOULD support. */
export const SIZE = {
  /** Largest payload any client may send without being deemed a denial of service (2^25). */
  MAX_PAYLOAD: 32 * 1024 * 1024,
  PREFERRED_BLOCK: 4096,
  /** An advertised minimum block size MUST NOT exceed 2^16. */
  MAX_MIN_BLOCK: 65536,
  /** Strings (export names, messages) MUST be no longer than 4096 bytes. */
  MAX_STRING: 4096,
  /** 124 zero bytes after NBD_OPT_EXPORT_NAME's reply unless NO_ZEROES was negotiated. */
  EXPORT_NAME_ZEROES: 124,
} as const

/** Name of `value` in `table`, or `0x…` when the table has none (for events and messages). */
export function nameOf(table: Readonly<Record<string, number | bigint>>, value: number): string {
  for (const k in table) if (table[k] === value) return k
  return `0x${value.toString(16)}`
}

/** Names of the bits of `flags` set in `table` (unknown bits as hex), for events and docs. */
export function flagNames(table: Readonly<Record<string, number>>, flags: number): string[] {
  const out: string[] = []
  let rest = flags
  for (const k in table) {
    const bit = table[k]!
    if ((flags & bit) !== 0) {
      out.push(k)
      rest &= ~bit
    }
  }
  if (rest !== 0) out.push(`0x${rest.toString(16)}`)
  return out
}
