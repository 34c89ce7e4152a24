/**
 * The NKP "not backed up" alarm in the alarms table: a leader's check (monitor.addCheck) raises
 * NkpNotBackedUp (object root, subject the provider id) for each native key provider that was
 * never backed up and clears it for the others; the 24 h re-raise after an acknowledgement is the
 * alarms' (reraiseDue). The provider's own row keeps its alarm state too (providers/native/).
 */
import type { Kysely } from 'kysely'
import type { CenterDb } from '../store/schema.js'
import type { Alarms } from './alarms.js'

export function nkpBackupCheck(db: Kysely<CenterDb>, alarms: Alarms): () => Promise<void> {
  return async () => {
    const rows = await db
      .selectFrom('native_providers')
      .select(['id', 'backed_up_at'])
      .orderBy('id')
      .execute()
    for (const r of rows) {
      const ref = { definition: 'NkpNotBackedUp', object: 'root', subject: r.id } as const
      if (r.backed_up_at !== null) await alarms.clear(ref)
      else
        await alarms.raise(
          ref,
          `Native key provider ${r.id} is not backed up: it cannot be used until it is (ward provider native export)`,
        )
    }
    // a provider deleted while its alarm was raised: nothing is left to back up
    const ids = new Set(rows.map((r) => r.id))
    for (const a of await alarms.list({ active: true }))
      if (a.definition === 'NkpNotBackedUp' && !ids.has(a.subject))
        await alarms.clear({ definition: 'NkpNotBackedUp', object: a.object, subject: a.subject })
  }
}
