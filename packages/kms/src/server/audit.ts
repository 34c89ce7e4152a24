/**
 * The audit stream: one JSON line per operation with allowlisted fields only (identity,
 * operation, object id, outcome, request id, duration; for client revocations and the
 * connections they close, the client name and certificate serial); never key material or payloads.
 */
import { closeSync, openSync, writeSync } from 'node:fs'
import type { Logger } from '@ward/core'

export interface AuditRecord {
  readonly identity: string
  readonly operation: string
  readonly objectId?: string | undefined
  readonly status: 'success' | 'failed' | 'undone'
  readonly reason?: string | undefined
  readonly requestId: string
  readonly durationMs: number
  /** Admin and connection records: the client name and certificate serial they are about. */
  readonly client?: string | undefined
  readonly serial?: string | undefined
}

export interface Audit {
  record(r: AuditRecord): void
  /** Append the lines gathered so far now (else at the end of the event-loop turn). */
  flush(): void
  close(): Promise<void>
}

/**
 * Lines are gathered during an event-loop turn and appended with one write(2) in that turn's
 * check phase (setImmediate), i.e. right after the turn's replies were handed to their sockets:
 * the reply's latency does not include the append (a write(2) each; bench/README.md, "Figures
 * from source comments"), and under load many lines share one write. No thread-pool hand-off, no
 * unbounded buffer (a turn's lines only). The
 * file is in the page cache when the next turn starts (not fsynced); a kill -9 between a reply and
 * the end of its turn can lose that turn's lines, as any unsynced log can. A failed append is
 * logged, not thrown: the operations already happened.
 */
export function openAudit(
  path: string | undefined,
  logger: Logger | undefined,
  opts: { readonly linesToLogger?: boolean } = {},
): Audit {
  let fd: number | undefined = path === undefined ? undefined : openSync(path, 'a', 0o600)
  let failures = 0
  let pending: string[] = []
  let scheduled = false
  const flush = (): void => {
    scheduled = false
    if (pending.length === 0) return
    const text = pending.join('')
    pending = []
    if (fd === undefined) return
    try {
      writeSync(fd, text)
    } catch (e) {
      // Said once per burst of failures (disk full, say), not once per turn.
      if (failures++ % 1000 === 0)
        logger?.error({ err: e, failures }, 'audit.log append failed; audit lines are being lost')
    }
  }
  return {
    record(r) {
      const line = {
        time: new Date().toISOString(),
        identity: r.identity,
        operation: r.operation,
        objectId: r.objectId,
        status: r.status,
        reason: r.reason,
        requestId: r.requestId,
        durationMs: Math.round(r.durationMs * 1000) / 1000,
      }
      // Only admin/connection records carry these (KMIP operation lines keep their shape).
      if (r.client !== undefined) Object.assign(line, { client: r.client, serial: r.serial })
      if (fd !== undefined) {
        pending.push(`${JSON.stringify(line)}\n`)
        if (!scheduled) {
          scheduled = true
          setImmediate(flush)
        }
      }
      if (opts.linesToLogger !== false) logger?.info({ audit: line }, 'kmip operation')
    },
    flush,
    async close() {
      flush()
      if (fd !== undefined) closeSync(fd)
      fd = undefined
    },
  }
}
