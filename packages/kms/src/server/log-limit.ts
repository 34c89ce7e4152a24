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

/**
 * At most `max` events per identity per window (fixed windows): the KMIP Log operation writes
 * a client's text (up to 4,096 characters, 1,000 per message) to the server log, so one client
 * could otherwise fill the disk or stall a slow stdout. Identities are certificate CNs (a
 * bounded set); expired windows are dropped as the map grows.
 */
export class PerIdentityRate {
  readonly #max: number
  readonly #windowMs: number
  readonly #seen = new Map<string, { start: number; n: number }>()

  constructor(max: number, windowMs: number) {
    this.#max = max
    this.#windowMs = windowMs
  }

  /** Counts one event of `identity`; false when it is over its limit in this window. */
  take(identity: string): boolean {
    const now = Date.now()
    let w = this.#seen.get(identity)
    if (w === undefined || now - w.start >= this.#windowMs) {
      if (this.#seen.size >= 1024)
        for (const [k, v] of this.#seen) if (now - v.start >= this.#windowMs) this.#seen.delete(k)
      w = { start: now, n: 0 }
      this.#seen.set(identity, w)
    }
    return ++w.n <= this.#max
  }
}
