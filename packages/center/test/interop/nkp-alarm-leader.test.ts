/**
 * The NKP "not backed up" alarm is checked by the HA leader only: two centers on one PostgreSQL
 * (createCenter with background work on, a short lease and a short alarm period), a native key
 * provider that was never backed up; each time its alarm is made due again, only the leader's
 * check raises it (its log line; the follower's log has none); after the leader closes, the other
 * center takes the lead and raises it.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createLogger } from '@ward/core'
import { createCenter, initCenter, type Center } from '../../src/center.js'
import { createTestDb } from '../pg.js'

const ALARM_LINE = 'alarm: native key provider not backed up'

interface Node {
  readonly center: Center
  readonly logs: string[]
  raised(): number
}

async function node(dataDir: string, db: string): Promise<Node> {
  const logs: string[] = []
  const logger = createLogger('center', {
    destination: { write: (s: string) => void logs.push(s) },
  })
  const center = await createCenter({
    dataDir,
    db,
    logger,
    background: true,
    ha: { ttlMs: 1500, renewMs: 500 },
    alarmCheckMs: 100,
  })
  return {
    center,
    logs,
    raised: () => logs.filter((l) => l.includes(ALARM_LINE)).length,
  }
}

async function until(what: string, f: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

test('the NKP not-backed-up alarm is raised by the HA leader only (two centers on PostgreSQL)', async (t) => {
  const pg = await createTestDb()
  const dir = mkdtempSync(join(tmpdir(), 'ward-nkp-leader-'))
  const C = join(dir, 'center')
  await initCenter({ dataDir: C, db: pg.url, admin: 'admin', password: Buffer.from('pw pw pw pw') })
  const a = await node(C, pg.url)
  const b = await node(C, pg.url)
  const nodes = [a, b]
  t.after(async () => {
    for (const n of nodes) await n.center.close().catch(() => undefined)
    await pg.drop()
    rmSync(dir, { recursive: true, force: true })
  })
  await until('a leader', () => nodes.filter((n) => n.center.leadership.isLeader()).length === 1)
  const leader = nodes.find((n) => n.center.leadership.isLeader())!
  const follower = nodes.find((n) => n !== leader)!
  await leader.center.nkp.create({ provider: 'nkp-leader', tpmRequired: false })
  const db = follower.center.store.db
  const due = (): Promise<unknown> =>
    db.updateTable('native_providers').set({ alarm_raised_at: null }).execute()
  // made due again and again: each time one check raises it, always the leader's
  const followerBefore = follower.raised()
  for (let i = 0; i < 8; i++) {
    const before = leader.raised()
    await due()
    await until(`raise ${i + 1}`, () => leader.raised() > before)
    // the follower's timer ran as often meanwhile (same period): it never raised it
    await sleep(300)
  }
  assert.equal(follower.raised(), followerBefore, 'the follower never raises the alarm')
  const row = await db
    .selectFrom('native_providers')
    .select(['alarm_raises'])
    .executeTakeFirstOrThrow()
  assert.ok(row.alarm_raises >= 8, `raised ${row.alarm_raises} times`)

  // the leader goes: the other takes the lead and raises the alarm from then on
  await leader.center.close()
  nodes.splice(nodes.indexOf(leader), 1)
  await until('the follower leads', () => follower.center.leadership.isLeader())
  const before = follower.raised()
  await due()
  await until('the new leader raises it', () => follower.raised() > before)
})
