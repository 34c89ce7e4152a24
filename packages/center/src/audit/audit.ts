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

export class AuditLog {
  readonly #db: Kysely<CenterDb>
  readonly #logger: Logger
  readonly #now: () => number

  constructor(db: Kysely<CenterDb>, logger: Logger, now: () => number = Date.now) {
    this.#db = db
    this.#logger = logger
    this.#now = now
  }

  async record(e: AuditEntry): Promise<void> {
    const row = {
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
    await this.#db.insertInto('audit').values(row).execute()
    this.#logger.info({ audit: row }, 'audit')
  }
}
