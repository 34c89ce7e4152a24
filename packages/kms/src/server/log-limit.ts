/**
 * Log lines a peer can trigger at will (refused connections, failed handshakes, bad frames):
 * at most one line per kind per window, the ones in between counted and reported on the next
 * line (`suppressed`), so that a flood of connections cannot flood the log (or grow its
 * buffer while stdout is slow).
 */
import type { Logger } from '@ward/core'

export type LimitedLog = (
  kind: string,
  level: 'info' | 'warn',
  fields: Record<string, unknown>,
  message: string,
) => void

export function limitedLog(logger: Logger, windowMs = 10_000): LimitedLog {
  const last = new Map<string, { at: number; suppressed: number }>()
  return (kind, level, fields, message) => {
    const now = Date.now()
    const s = last.get(kind)
    if (s !== undefined && now - s.at < windowMs) {
      s.suppressed++
      return
    }
    logger[level]({ ...fields, suppressed: s?.suppressed ?? 0 }, message)
    last.set(kind, { at: now, suppressed: 0 })
  }
}
