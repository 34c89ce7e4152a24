import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { BusyPoll } from '../../src/server/busy-poll.js'
import { openAudit } from '../../src/server/audit.js'
import type { Logger } from '@ward/core'

test('busy poll keeps the loop polling for its window after a touch, then stops', async () => {
  const p = new BusyPoll(300_000) // 300 ms: generous, so a loaded machine cannot fail it
  const start = performance.now()
  p.touch()
  assert.equal(p.polling, true)
  // Not one fixed sleep: on a loaded machine its timer can fire before the loop's first check
  // phase (0 or 1 turns seen, on Node 20 and 24 alike); wait for the turns inside the window.
  while (p.turns <= 1 && performance.now() - start < 250) await sleep(5)
  if (performance.now() - start < 250)
    assert.equal(p.polling, true, 'still polling inside the window')
  assert.ok(p.turns > 1, `the loop turned with a zero timeout (${p.turns} turns)`)
  await sleep(Math.max(0, 400 - (performance.now() - start)))
  assert.equal(p.polling, false, 'stopped once the window passed without a touch')
  const after = p.turns
  await sleep(20)
  assert.equal(p.turns, after, 'no turns once stopped')
})

test('a touch inside the window extends it; window 0 never polls', async () => {
  const p = new BusyPoll(200_000)
  const start = performance.now()
  p.touch()
  await sleep(150)
  const second = performance.now()
  p.touch()
  await sleep(100)
  // 250 ms after the first touch (window over), 100 ms after the second (window running)
  if (performance.now() - second < 190) assert.equal(p.polling, true)
  assert.ok(performance.now() - start > 200)
  await sleep(Math.max(0, 300 - (performance.now() - second)))
  assert.equal(p.polling, false)
  const off = new BusyPoll(0)
  off.touch()
  assert.equal(off.polling, false)
  assert.throws(() => new BusyPoll(-1), /0-1000000/)
  assert.throws(() => new BusyPoll(1.5), /0-1000000/)
})

test('audit lines of a turn are appended together at the end of the turn (0600 file)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-audit-'))
  try {
    const path = join(dir, 'audit.log')
    const a = openAudit(path, undefined)
    a.record({
      identity: 'vc',
      operation: 'create',
      objectId: 'id-1',
      status: 'success',
      requestId: 'r1',
      durationMs: 0.25,
    })
    a.record({
      identity: 'vc',
      operation: 'get',
      objectId: 'id-1',
      status: 'success',
      requestId: 'r2',
      durationMs: 0.1,
    })
    assert.equal(readFileSync(path, 'utf8'), '', 'nothing written inside the turn')
    await new Promise((r) => setImmediate(r))
    const lines = readFileSync(path, 'utf8').trim().split('\n')
    assert.equal(lines.length, 2)
    const line = JSON.parse(lines[0]!) as Record<string, unknown>
    assert.equal(line['identity'], 'vc')
    assert.equal(line['objectId'], 'id-1')
    assert.equal(line['status'], 'success')
    assert.equal(statSync(path).mode & 0o777, 0o600)
    await a.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a failed audit append (disk full) is logged once per burst, never thrown at the operation', () => {
  const errors: string[] = []
  const logger = { error: (_o: unknown, msg: string) => errors.push(msg), info: () => {} }
  const a = openAudit('/dev/full', logger as unknown as Logger, { linesToLogger: false })
  for (let i = 0; i < 5; i++) {
    assert.doesNotThrow(() =>
      a.record({
        identity: 'vc',
        operation: 'get',
        status: 'success',
        requestId: `r${i}`,
        durationMs: 0,
      }),
    )
    a.flush()
  }
  assert.equal(errors.length, 1)
  assert.match(errors[0]!, /audit\.log append failed/)
})
