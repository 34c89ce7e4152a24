/**
 * The audit log: one row per access decision (table `audit`) and the same record as a log line
 * (logger `audit`). Only allowlisted fields: who, the route, the privileges asked, the object,
 * the outcome and the missing privilege; never a header, a body, a password, a token or a
 * session id (a session or token appears, where needed, as the HMAC of accounts.auditId).
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from '@ward/core'
import type { Kysely } from 'kysely'
import type { CenterDb } from '../store/schema.js'

export type Outcome = 'allowed' | 'denied' | 'unauthenticated' | 'not-found' | 'locked-out'

export interface AuditEntry {
  readonly requestId: string
  readonly principal: string
  readonly method: string
  readonly route: string
  readonly privileges: readonly string[]
  readonly object: string
  readonly outcome: Outcome
  readonly missing?: string
  readonly status: number
}

type Row = CenterDb['audit']

/** Rows per INSERT (11 columns each: under SQLite's 999 bound parameters). */
const BATCH = 80

/**
 * Rows are written in groups: the decisions of one event-loop turn go in one INSERT (one commit),
 * and each `record` resolves once its row is in the database, so no request proceeds on an
 * unrecorded decision. Under load that is one commit per turn instead of one per request.
 */
export class AuditLog {
  readonly #db: Kysely<CenterDb>
  readonly #logger: Logger
  readonly #now: () => number
  #pending: Row[] = []
  #flush: Promise<void> | undefined

  constructor(db: Kysely<CenterDb>, logger: Logger, now: () => number = Date.now) {
    this.#db = db
    this.#logger = logger
    this.#now = now
  }

  record(e: AuditEntry): Promise<void> {
    const row: Row = {
      id: randomUUID(),
      at: this.#now(),
      request_id: e.requestId,
      principal: e.principal,
      method: e.method,
      route: e.route,
      privileges: e.privileges.join(','),
      object: e.object,
      outcome: e.outcome,
      missing: e.missing ?? '',
      status: e.status,
    }
    this.#logger.info({ audit: row }, 'audit')
    this.#pending.push(row)
    this.#flush ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#write())
    return this.#flush
  }

  async #write(): Promise<void> {
    const rows = this.#pending
    this.#pending = []
    this.#flush = undefined
    for (let i = 0; i < rows.length; i += BATCH)
      await this.#db
        .insertInto('audit')
        .values(rows.slice(i, i + BATCH))
        .execute()
  }
}
