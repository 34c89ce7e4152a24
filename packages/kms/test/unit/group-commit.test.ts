import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { PendingFetched } from '../../src/storage/fetched-marks.js'
import { GroupCommit } from '../../src/storage/group-commit.js'
import type { ObjectRow, Stmt } from '../../src/storage/store.js'

function recorder(
  fail = () => false,
  lazyMs = 30,
): {
  gc: GroupCommit
  commits: { sqls: string[]; durable: boolean }[]
} {
  const commits: { sqls: string[]; durable: boolean }[] = []
  const gc = new GroupCommit(async (stmts: Stmt[], durable: boolean) => {
    if (fail()) throw new Error('disk full')
    commits.push({ sqls: stmts.map((s) => s.sql), durable })
  }, lazyMs)
  return { gc, commits }
}

const stmt = (sql: string): Stmt => ({ sql, params: [] })

test('durable submissions of one turn share one durable commit', async () => {
  const { gc, commits } = recorder()
  await Promise.all([gc.submit([stmt('a')]), gc.submit([stmt('b')]), gc.submit([stmt('c')])])
  assert.deepEqual(commits, [{ sqls: ['a', 'b', 'c'], durable: true }])
})

test('a lazy write rides with the next durable commit instead of committing alone', async () => {
  const { gc, commits } = recorder()
  const lazy = gc.submit([stmt('mark')], 'lazy')
  await sleep(5)
  assert.equal(commits.length, 0, 'a lazy write alone does not start a commit at once')
  await gc.submit([stmt('put')])
  await lazy
  assert.deepEqual(commits, [{ sqls: ['mark', 'put'], durable: true }])
})

test('a lazy write alone is committed (not durable) after the lazy delay', async () => {
  const { gc, commits } = recorder()
  const t0 = performance.now()
  await gc.submit([stmt('mark')], 'lazy')
  assert.ok(performance.now() - t0 >= 25, 'waited for the lazy delay')
  assert.deepEqual(commits, [{ sqls: ['mark'], durable: false }])
})

test('a visible write starts a commit at once that is not durable; beside a durable one, it is', async () => {
  const { gc, commits } = recorder(() => false, 5000)
  const t0 = performance.now()
  await gc.submit([stmt('mark')], 'visible')
  assert.ok(performance.now() - t0 < 2500, 'did not wait for the 5 s lazy timer')
  await Promise.all([gc.submit([stmt('mark2')], 'visible'), gc.submit([stmt('put')])])
  assert.deepEqual(commits, [
    { sqls: ['mark'], durable: false },
    { sqls: ['mark2', 'put'], durable: true },
  ])
})

test('idle() commits pending lazy writes at once', async () => {
  const { gc, commits } = recorder(() => false, 5000)
  void gc.submit([stmt('mark')], 'lazy')
  const t0 = performance.now()
  await gc.idle()
  assert.ok(performance.now() - t0 < 2500, 'did not wait for the 5 s lazy timer')
  assert.deepEqual(commits, [{ sqls: ['mark'], durable: false }])
})

test('a failed commit rejects every waiter of its batch', async () => {
  let failing = true
  const { gc } = recorder(() => failing)
  const r = await Promise.allSettled([gc.submit([stmt('a')]), gc.submit([stmt('b')])])
  assert.deepEqual(
    r.map((x) => x.status),
    ['rejected', 'rejected'],
  )
  failing = false
  await gc.submit([stmt('c')])
})

const row = (id: string, fetched = false): ObjectRow => ({
  id,
  owner: 'o',
  objectType: 2,
  state: 1,
  attrs: '[]',
  material: null,
  format: 1,
  createdAt: 0,
  updatedAt: 0,
  fetched,
})

test('PendingFetched: visible at once, written lazily once, retried after a failed commit', async () => {
  let failing = true
  const { gc, commits } = recorder(() => failing)
  const p = new PendingFetched(gc)
  assert.equal(p.apply(row('k1')).fetched, false)
  p.mark('k1')
  p.mark('k1') // a second Get before the commit queues nothing more
  assert.equal(p.apply(row('k1')).fetched, true)
  assert.equal(p.apply(row('k2')).fetched, false)
  await gc.idle() // this commit fails
  assert.equal(commits.length, 0)
  assert.equal(p.apply(row('k1')).fetched, true, 'still reported served after a failed write')
  failing = false
  await sleep(1100) // the retry
  await gc.idle()
  const marks = commits.flatMap((c) => c.sqls).filter((s) => s.startsWith('UPDATE'))
  assert.equal(marks.length, 1)
  assert.equal(p.apply(row('k1')).fetched, false, 'committed: the store row is the truth again')
})

test('alone: a commit starts at once (before the turn ends) and still gathers its own turn', async () => {
  const commits: string[][] = []
  let alone = true
  const gc = new GroupCommit(
    async (stmts: Stmt[]) => {
      commits.push(stmts.map((s) => s.sql))
    },
    30,
    () => alone,
  )
  const a = gc.submit([stmt('a')])
  const b = gc.submit([stmt('b')])
  let immediateRan = false
  setImmediate(() => (immediateRan = true))
  await Promise.all([a, b])
  assert.equal(immediateRan, false, 'committed before the end of the turn')
  assert.deepEqual(commits, [['a', 'b']], 'submissions of the same synchronous run share it')
  alone = false
  const c = gc.submit([stmt('c')])
  setImmediate(() => (immediateRan = true))
  await c
  assert.equal(immediateRan, true, 'with others in flight it waits for the end of the turn')
})
