/**
 * The event log: append-only rows (time, type, severity, object, message with the type's text,
 * who caused it). Nothing updates or deletes an event.
 */
import type { Kysely } from 'kysely'
import type { Logger } from '@ward/core'
import type { CenterDb } from '../store/schema.js'
import { eventTypes, type EventArgs, type EventTypeId } from './types.js'

export interface EventRow {
  readonly id: number
  readonly at: number
  readonly type: EventTypeId
  readonly severity: string
  readonly object: string
  readonly message: string
  readonly principal: string
}

export interface EventLog {
  /** Append an event about `object` ('root' for the center), its message from the type's table. */
  post<T extends EventTypeId>(
    type: T,
    object: string,
    args: EventArgs<T>,
    principal?: string,
  ): Promise<EventRow>
  /** The newest events first; `object` narrows to one object, `after` to ids above it. */
  list(o?: { object?: string; limit?: number; after?: number }): Promise<EventRow[]>
}

export function eventLog(
  db: Kysely<CenterDb>,
  o: { now?: () => number; logger?: Logger } = {},
): EventLog {
  const now = o.now ?? Date.now
  return {
    async post(type, object, args, principal = 'system') {
      const t = eventTypes[type]
      const message = (t.message as (a: unknown) => string)(args)
      const row = { at: now(), type, severity: t.severity, object, message, principal }
      const r = await db.insertInto('events').values(row).returning('id').executeTakeFirstOrThrow()
      o.logger?.info({ event: type, object }, message)
      return { id: Number(r.id), ...row }
    },
    async list(q = {}) {
      let s = db.selectFrom('events').selectAll()
      if (q.object !== undefined) s = s.where('object', '=', q.object)
      if (q.after !== undefined) s = s.where('id', '>', q.after)
      const rows = await s
        .orderBy('id', 'desc')
        .limit(q.limit ?? 1000)
        .execute()
      return rows.map((r) => ({ ...r, id: Number(r.id), type: r.type as EventTypeId }))
    },
  }
}
