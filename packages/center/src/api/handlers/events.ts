/** Handlers of leadership status, events and alarms (ha/, events/, alarms/). */
import type { AlarmRow } from '../../alarms/alarms.js'
import { isAlarmDefinition } from '../../alarms/definitions.js'
import { CenterError } from '../../errors.js'
import type { EventRow } from '../../events/events.js'
import type { Handlers } from '../context.js'

type EventHandlers = Pick<Handlers, 'ha.status' | 'event.list' | 'alarm.list' | 'alarm.acknowledge'>

const iso = (ms: number): string => new Date(ms).toISOString()
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms))

const eventView = (e: EventRow) => ({
  id: e.id,
  time: iso(e.at),
  type: e.type,
  severity: e.severity,
  object: e.object,
  message: e.message,
  user: e.principal,
})

export const alarmView = (a: AlarmRow) => ({
  definition: a.definition,
  name: a.name,
  object: a.object,
  subject: a.subject,
  status: a.status,
  message: a.message,
  first_raised: iso(a.first_raised),
  last_raised: iso(a.last_raised),
  cleared: isoOrNull(a.cleared_at),
  acknowledged: a.acknowledged,
  acknowledged_time: isoOrNull(a.acknowledged_at),
  acknowledged_by: a.acknowledged_by,
})

export const eventHandlers: EventHandlers = {
  async 'ha.status'(ctx) {
    return ctx.services.leadership.status()
  },
  async 'event.list'(ctx, { query }) {
    const rows = await ctx.services.events.list({
      ...(query.object !== undefined ? { object: query.object } : {}),
      ...(query.after !== undefined ? { after: Number(query.after) } : {}),
      limit: query.limit !== undefined ? Number(query.limit) : 100,
    })
    const out = []
    for (const e of rows) if (await ctx.visible(e.object)) out.push(eventView(e))
    return out
  },
  async 'alarm.list'(ctx, { query }) {
    const rows = await ctx.services.alarms.list(
      query.object !== undefined ? { object: query.object } : {},
    )
    const out = []
    for (const a of rows) if (await ctx.visible(a.object)) out.push(alarmView(a))
    return out
  },
  async 'alarm.acknowledge'(ctx, { body }) {
    // the schema's pattern admits exactly the definitions' ids
    if (!isAlarmDefinition(body.definition))
      throw new CenterError('ERR_CENTER_BAD_REQUEST', `no alarm definition ${body.definition}`)
    const a = await ctx.services.alarms.acknowledge(
      {
        definition: body.definition,
        object: body.object,
        ...(body.subject !== undefined ? { subject: body.subject } : {}),
      },
      ctx.user ?? 'unknown',
    )
    return alarmView(a)
  },
}
