/**
 * Triggered alarms: one row per (definition, object, subject) with its status, message, when it
 * was first and last raised, when it cleared, and whether and by whom it was acknowledged. Other
 * modules call `raise` while a condition holds and `clear` when it is gone; both are idempotent
 * (raising a raised alarm changes only its message). Every change of status and every
 * acknowledgement is an event. `reraiseDue` (the leader's alarm check) raises again the
 * acknowledged alarms of a definition with a re-raise period whose condition still holds. The
 * clock is injectable (tests of the 24 h re-raise).
 */
import type { Kysely } from 'kysely'
import { CenterError } from '../errors.js'
import type { EventLog } from '../events/events.js'
import type { AlarmsTable, CenterDb } from '../store/schema.js'
import { alarmDefinitions, type AlarmDefinitionId, type AlarmStatus } from './definitions.js'

export interface AlarmRef {
  readonly definition: AlarmDefinitionId
  /** An inventory id or 'root'. */
  readonly object: string
  /** What on the object (a provider id, a certificate's name); default ''. */
  readonly subject?: string
}

export interface AlarmRow {
  readonly definition: AlarmDefinitionId
  readonly name: string
  readonly object: string
  readonly subject: string
  readonly status: AlarmStatus
  readonly message: string
  readonly first_raised: number
  readonly last_raised: number
  readonly cleared_at: number | null
  readonly acknowledged: boolean
  readonly acknowledged_at: number | null
  readonly acknowledged_by: string | null
}

export interface Alarms {
  /** Raise (or keep raised) an alarm with `message`; answers whether its status changed. */
  raise(ref: AlarmRef, message: string): Promise<boolean>
  /** Clear it (green); answers whether its status changed. */
  clear(ref: AlarmRef): Promise<boolean>
  /** Acknowledge a raised alarm (ERR_CENTER_NOT_FOUND when none is raised). */
  acknowledge(ref: AlarmRef, user: string): Promise<AlarmRow>
  /** Raise again the acknowledged alarms whose re-raise period passed; answers how many. */
  reraiseDue(): Promise<number>
  list(o?: { object?: string; active?: boolean }): Promise<AlarmRow[]>
  get(ref: AlarmRef): Promise<AlarmRow | undefined>
}

const view = (r: AlarmsTable): AlarmRow => {
  const definition = r.definition as AlarmDefinitionId
  return {
    definition,
    name: alarmDefinitions[definition]?.name ?? r.definition,
    object: r.object,
    subject: r.subject,
    status: r.status as AlarmStatus,
    message: r.message,
    first_raised: Number(r.first_raised),
    last_raised: Number(r.last_raised),
    cleared_at: r.cleared_at === null ? null : Number(r.cleared_at),
    acknowledged: r.acknowledged === 1,
    acknowledged_at: r.acknowledged_at === null ? null : Number(r.acknowledged_at),
    acknowledged_by: r.acknowledged_by,
  }
}

export function alarmStore(
  db: Kysely<CenterDb>,
  events: EventLog,
  o: { now?: () => number } = {},
): Alarms {
  const now = o.now ?? Date.now
  const key = (ref: AlarmRef) => ({
    definition: ref.definition,
    object: ref.object,
    subject: ref.subject ?? '',
  })
  const where = (ref: AlarmRef) => {
    const k = key(ref)
    return <
      Q extends {
        where(c: 'definition' | 'object' | 'subject', op: '=', v: string): Q
      },
    >(
      q: Q,
    ): Q =>
      q
        .where('definition', '=', k.definition)
        .where('object', '=', k.object)
        .where('subject', '=', k.subject)
  }
  const label = (ref: AlarmRef) =>
    ref.subject !== undefined && ref.subject !== '' ? `${ref.object} (${ref.subject})` : ref.object
  const get = async (ref: AlarmRef): Promise<AlarmRow | undefined> => {
    const r = await where(ref)(db.selectFrom('alarms').selectAll()).executeTakeFirst()
    return r === undefined ? undefined : view(r)
  }
  return {
    get,
    async raise(ref, message) {
      const def = alarmDefinitions[ref.definition]
      const t = now()
      const cur = await get(ref)
      if (cur === undefined) {
        await db
          .insertInto('alarms')
          .values({
            ...key(ref),
            status: def.status,
            message,
            first_raised: t,
            last_raised: t,
            cleared_at: null,
            acknowledged: 0,
            acknowledged_at: null,
            acknowledged_by: null,
          })
          .onConflict((c) => c.doNothing())
          .execute()
      } else if (cur.status === 'green') {
        await where(ref)(
          db.updateTable('alarms').set({
            status: def.status,
            message,
            last_raised: t,
            cleared_at: null,
            acknowledged: 0,
            acknowledged_at: null,
            acknowledged_by: null,
          }),
        ).execute()
      } else {
        if (cur.message !== message)
          await where(ref)(db.updateTable('alarms').set({ message })).execute()
        return false
      }
      await events.post('AlarmStatusChangedEvent', ref.object, {
        alarm: def.name,
        object: label(ref),
        from: 'green',
        to: def.status,
      })
      return true
    },
    async clear(ref) {
      const cur = await get(ref)
      if (cur === undefined || cur.status === 'green') return false
      await where(ref)(
        db.updateTable('alarms').set({ status: 'green', cleared_at: now() }),
      ).execute()
      await events.post('AlarmStatusChangedEvent', ref.object, {
        alarm: cur.name,
        object: label(ref),
        from: cur.status,
        to: 'green',
      })
      return true
    },
    async acknowledge(ref, user) {
      const cur = await get(ref)
      if (cur === undefined || cur.status === 'green')
        throw new CenterError(
          'ERR_CENTER_NOT_FOUND',
          `no ${ref.definition} alarm is raised on ${label(ref)}; list them with ward alarm list`,
        )
      if (!cur.acknowledged) {
        await where(ref)(
          db
            .updateTable('alarms')
            .set({ acknowledged: 1, acknowledged_at: now(), acknowledged_by: user }),
        ).execute()
        await events.post(
          'AlarmAcknowledgedEvent',
          ref.object,
          { alarm: cur.name, object: label(ref) },
          user,
        )
      }
      return (await get(ref))!
    },
    async reraiseDue() {
      const t = now()
      let n = 0
      for (const [id, def] of Object.entries(alarmDefinitions)) {
        const period = (def as { reraiseMs?: number }).reraiseMs
        if (period === undefined) continue
        const due = await db
          .selectFrom('alarms')
          .selectAll()
          .where('definition', '=', id)
          .where('status', '!=', 'green')
          .where('acknowledged', '=', 1)
          .where('acknowledged_at', '<=', t - period)
          .execute()
        for (const r of due) {
          const ref = { definition: id as AlarmDefinitionId, object: r.object, subject: r.subject }
          await where(ref)(
            db.updateTable('alarms').set({
              acknowledged: 0,
              acknowledged_at: null,
              acknowledged_by: null,
              last_raised: t,
            }),
          ).execute()
          await events.post('AlarmReraisedEvent', r.object, { alarm: def.name, object: label(ref) })
          n++
        }
      }
      return n
    },
    async list(q = {}) {
      let s = db.selectFrom('alarms').selectAll()
      if (q.object !== undefined) s = s.where('object', '=', q.object)
      if (q.active === true) s = s.where('status', '!=', 'green')
      const rows = await s.orderBy('last_raised', 'desc').execute()
      return rows.map(view)
    },
  }
}
