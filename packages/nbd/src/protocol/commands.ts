import { CMD, CMD_FLAG, NBD_ERR, TRANSMISSION_FLAG, type NbdErrno } from './constants.js'

/**
 * The transmission commands this server implements, declared once ("Values › Request types"); the
 * request check below, the advertised transmission flags and docs/nbd.md derive from it.
 * - `flags`: command flags valid for it (FUA is valid on every command once SEND_FUA is advertised,
 *   "Command flags"; DF needs structured replies, FAST_ZERO needs SEND_FAST_ZERO: neither is offered).
 * - `range`: how offset/length are checked: `none` (DISC), `zero` (FLUSH: both reserved, MUST be 0),
 *   or the error for a range past the end of the export ("Error values": ENOSPC for writes, EINVAL
 *   for reads and trims).
 * - `writes`: refused with EPERM on a read-only export.
 * - `needs`: the transmission flag that exposes it; a command whose flag is not advertised is EINVAL.
 */
export const COMMANDS = {
  READ: { cmd: CMD.READ, flags: CMD_FLAG.FUA, range: 'EINVAL', writes: false, needs: 0 },
  WRITE: { cmd: CMD.WRITE, flags: CMD_FLAG.FUA, range: 'ENOSPC', writes: true, needs: 0 },
  DISC: { cmd: CMD.DISC, flags: CMD_FLAG.FUA, range: 'none', writes: false, needs: 0 },
  FLUSH: {
    cmd: CMD.FLUSH,
    flags: CMD_FLAG.FUA,
    range: 'zero',
    writes: false,
    needs: TRANSMISSION_FLAG.SEND_FLUSH,
  },
  TRIM: {
    cmd: CMD.TRIM,
    flags: CMD_FLAG.FUA,
    range: 'EINVAL',
    writes: true,
    needs: TRANSMISSION_FLAG.SEND_TRIM,
  },
  WRITE_ZEROES: {
    cmd: CMD.WRITE_ZEROES,
    flags: CMD_FLAG.FUA | CMD_FLAG.NO_HOLE,
    range: 'ENOSPC',
    writes: true,
    needs: TRANSMISSION_FLAG.SEND_WRITE_ZEROES,
  },
} as const satisfies Record<
  string,
  {
    cmd: number
    flags: number
    range: 'none' | 'zero' | 'EINVAL' | 'ENOSPC'
    writes: boolean
    needs: number
  }
>

export type CommandName = keyof typeof COMMANDS
type Rule = (typeof COMMANDS)[CommandName]

/** Rule by command type (index = type), undefined for types this server does not implement. */
const byType: readonly (Rule | undefined)[] = (() => {
  const t: (Rule | undefined)[] = []
  for (const r of Object.values(COMMANDS)) t[r.cmd] = r
  return t
})()

export function commandRule(type: number): Rule | undefined {
  return byType[type]
}

/** What a request is checked against: the export as negotiated. */
export interface ExportLimits {
  readonly size: number
  readonly transmissionFlags: number
  /** Largest READ/WRITE payload (NBD_INFO_BLOCK_SIZE maximum). */
  readonly maxPayload: number
  /** Advertised minimum block size: offsets and lengths must be multiples of it. */
  readonly minBlock: number
}

export interface RequestFields {
  readonly type: number
  readonly flags: number
  readonly offset: number
  readonly length: number
}

/**
 * Check one request against the export: 0 when it may run, else the NBD error to reply with
 * ("Error values"). Pure and total: any field values give an answer, never an exception. An
 * oversized WRITE is not answered here: its payload cannot be skipped safely, the caller closes.
 */
export function checkRequest(r: RequestFields, e: ExportLimits): NbdErrno | 0 {
  const rule = byType[r.type]
  if (rule === undefined) return NBD_ERR.EINVAL // unknown command
  if (rule.needs !== 0 && (e.transmissionFlags & rule.needs) === 0) return NBD_ERR.EINVAL
  if ((r.flags & ~rule.flags) !== 0) return NBD_ERR.EINVAL // unknown or inapplicable flag
  if (rule.writes && (e.transmissionFlags & TRANSMISSION_FLAG.READ_ONLY) !== 0) return NBD_ERR.EPERM
  switch (rule.range) {
    case 'none':
      return 0
    case 'zero':
      return r.offset === 0 && r.length === 0 ? 0 : NBD_ERR.EINVAL
  }
  if ((rule.cmd === CMD.READ || rule.cmd === CMD.WRITE) && r.length > e.maxPayload)
    return NBD_ERR.EINVAL
  if (r.offset > e.size || r.length > e.size - r.offset) return NBD_ERR[rule.range]
  if (e.minBlock > 1 && (r.offset % e.minBlock !== 0 || r.length % e.minBlock !== 0))
    return NBD_ERR.EINVAL
  return 0
}
