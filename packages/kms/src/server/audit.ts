/**
 * The audit stream: one JSON line per operation with allowlisted fields only (identity,
 * operation, object id, outcome, request id, duration); never key material or payloads.
 */
import { createWriteStream } from 'node:fs'
import type { WriteStream } from 'node:fs'
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

export function openAudit(path: string | undefined, logger: Logger | undefined): Audit {
  const file: WriteStream | undefined =
    path === undefined ? undefined : createWriteStream(path, { flags: 'a', mode: 0o600 })
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
      file?.write(`${JSON.stringify(line)}\n`)
      logger?.info({ audit: line }, 'kmip operation')
    },
    close: () =>
      new Promise((resolve) => (file === undefined ? resolve() : file.end(() => resolve()))),
  }
}
