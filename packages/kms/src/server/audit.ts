/**
 * The audit stream: one JSON line per operation with allowlisted fields only (identity,
 * operation, object id, outcome, request id, duration); never key material or payloads.
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
}

export interface Audit {
  record(r: AuditRecord): void
  close(): Promise<void>
}

/**
 * Lines are appended with one write(2) each, on the calling thread, before the reply goes out:
 * a client never sees a result whose audit line is not yet in the file (page cache; not fsynced),
 * and no thread-pool hand-off is paid per operation. A failed append is logged, not thrown: the
 * operation already happened.
 */
export function openAudit(
  path: string | undefined,
  logger: Logger | undefined,
  opts: { readonly linesToLogger?: boolean } = {},
): Audit {
  let fd: number | undefined = path === undefined ? undefined : openSync(path, 'a', 0o600)
  let failures = 0
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
      if (fd !== undefined) {
        try {
          writeSync(fd, `${JSON.stringify(line)}\n`)
        } catch (e) {
          // Said once per burst of failures (disk full, say), not once per operation.
          if (failures++ % 1000 === 0)
            logger?.error(
              { err: e, failures },
              'audit.log append failed; audit lines are being lost',
            )
        }
      }
      if (opts.linesToLogger !== false) logger?.info({ audit: line }, 'kmip operation')
    },
    async close() {
      if (fd !== undefined) closeSync(fd)
      fd = undefined
    },
  }
}
