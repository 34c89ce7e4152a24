/*
 * The task runner on its own (SQLite and PostgreSQL): the executors here are the test's, the rows
 * and the runner are the center's. Resume of a running row by a new runner (a restart), retries
 * while the host is away, coded errors, the leader hook, one task at a time per object.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { createLogger } from '@ward/core'
import { CenterError } from '../../src/errors.js'
import { TaskRunner, type Executor, type TaskContext } from '../../src/tasks/runner.js'
import { TaskStore, taskObject, taskView, type TaskView } from '../../src/tasks/store.js'
import { startTestCenter } from '../helpers.js'

const logs: string[] = []
const logger = createLogger('center', { destination: { write: (s: string) => void logs.push(s) } })

async function until(f: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`)
    await sleep(20)
  }
}

for (const pg of [false, true])
  test(`task runner (${pg ? 'PostgreSQL' : 'SQLite'}): resume, retry, errors, leader, one per object`, async () => {
    const t = await startTestCenter({ pg })
    const store = new TaskStore(t.center.store.db)
    const view = async (id: string): Promise<TaskView> => taskView((await store.get(id))!)
    const runners: TaskRunner[] = []
    const runner = (
      executors: Record<string, Executor>,
      o: { isLeader?: () => boolean; onLeader?: (cb: () => void) => void } = {},
    ): TaskRunner => {
      const r = new TaskRunner({ store, executors, logger, retryMs: 50, maxRetryMs: 200, ...o })
      runners.push(r)
      r.start()
      return r
    }
    try {
      // a task id names its object
      const id0 = await store.create({
        kind: 'k',
        object: 'vm-12',
        host: null,
        user: 'u',
        params: {},
      })
      assert.match(id0, /^task-[0-9a-f]{16}-vm-12$/)
      assert.equal(taskObject(id0), 'vm-12')
      assert.equal((await view(id0)).state, 'queued')

      // 1. a restart: the first runner saves a step and stops mid-task; a new one resumes it
      let release: () => void = () => undefined
      const seen: TaskContext[] = []
      const twoSteps: Executor = async (c) => {
        seen.push(c)
        if (c.params.first !== true) {
          await c.save({ first: true })
          c.progress(5, 10)
          await new Promise<void>((r) => (release = r))
        }
        return { resumedAt: c.attempt, first: c.params.first }
      }
      const a = runner({ k: twoSteps })
      await until(async () => (await view(id0)).progress_done === 5, 'the first step')
      a.close() // the center stops (kill -9: its outcome is never written)
      release()
      await a.idle()
      let v = await view(id0)
      assert.equal(v.state, 'running', 'a stopped center leaves its task running')
      assert.equal(v.attempts, 1)
      runner({ k: twoSteps })
      await until(async () => (await view(id0)).state === 'success', 'the resumed task')
      v = await view(id0)
      assert.deepEqual(v.result, { resumedAt: 2, first: true })
      assert.equal(v.attempts, 2)
      assert.equal(v.progress, 100)
      assert.ok(v.started !== null && v.completed !== null)
      assert.equal(seen.at(-1)!.params.first, true, 'the resumed run saw the saved step')
      for (const r of runners.splice(0)) r.close()

      // 2. a host away: transient errors are retried until it answers; others fail coded
      let calls = 0
      const flaky: Executor = async () => {
        if (++calls < 3)
          throw new CenterError('ERR_CENTER_HOST_UNREACHABLE', 'host host-1 is unreachable')
        return { ok: true }
      }
      const refused: Executor = async () => {
        throw new CenterError('ERR_CENTER_HOST_REFUSED', 'VM v is powered on: power it off first', {
          hostCode: 'ERR_HOST_VM_POWER_STATE',
        })
      }
      const broken: Executor = async () => {
        throw new Error('something with a secret-looking detail: s3cr3t')
      }
      const mk = (kind: string, object: string): Promise<string> =>
        store.create({ kind, object, host: null, user: 'u', params: {} })
      const f = await mk('flaky', 'vm-20')
      const r = await mk('refused', 'vm-21')
      const b = await mk('broken', 'vm-22')
      const u = await mk('unknown-kind', 'vm-23')
      runner({ flaky, refused, broken })
      for (const id of [f, r, b, u])
        await until(async () => ['success', 'error'].includes((await view(id)).state), id)
      assert.equal((await view(f)).state, 'success')
      assert.equal((await view(f)).attempts, 3)
      assert.deepEqual((await view(r)).error, {
        code: 'ERR_CENTER_HOST_REFUSED',
        message: 'VM v is powered on: power it off first',
        hostCode: 'ERR_HOST_VM_POWER_STATE',
      })
      const be = (await view(b)).error!
      assert.equal(be.code, 'ERR_CENTER_INTERNAL')
      assert.ok(!be.message.includes('s3cr3t'), 'an uncoded error is not copied into the row')
      assert.equal((await view(u)).error!.code, 'ERR_CENTER_TASK_KIND')
      for (const x of runners.splice(0)) x.close()

      // 3. the leader hook: a follower runs nothing; on becoming the leader it starts at once
      let leader = false
      let becameLeader: () => void = () => undefined
      const l = await mk('flaky', 'vm-30')
      calls = 10
      runner({ flaky }, { isLeader: () => leader, onLeader: (cb) => (becameLeader = cb) })
      await sleep(300)
      assert.equal((await view(l)).state, 'queued', 'a follower runs no task')
      leader = true
      becameLeader()
      await until(async () => (await view(l)).state === 'success', 'the leader ran it', 5000)
      for (const x of runners.splice(0)) x.close()

      // 4. one at a time per object, oldest first
      const order: string[] = []
      let open = 0
      let most = 0
      const slow: Executor = async (c) => {
        open++
        most = Math.max(most, open)
        order.push(c.id)
        await sleep(50)
        open--
        return null
      }
      const same: string[] = []
      for (let i = 0; i < 3; i++) {
        same.push(await mk('slow', 'vm-40'))
        await sleep(5) // created_at orders them (milliseconds)
      }
      runner({ slow })
      for (const id of same)
        await until(async () => (await view(id)).state === 'success', `serialized ${id}`)
      assert.equal(most, 1)
      assert.deepEqual(order, same)
    } finally {
      for (const r of runners) r.close()
      await t.close()
    }
  })
