import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { createLogger } from '@ward/core'
import {
  AdminOps,
  callAgent,
  listenAdminSocket,
  streamsProgress,
  SOCKET_FILE,
  type HostAgent,
  type OpContext,
} from '../../src/index.js'
import { tempDir } from '../helpers/harness.js'

// Progress on the admin socket: declared per row (`op(params, result, { progress: true })`),
// sent as `{id, progress: {done, total}}` lines before the one answer to a request that asks for
// it (`progress: true`), throttled, and never to a request that does not ask (old clients) or
// for a row that does not stream progress.

/** All the lines one raw request gets, up to the answer (a line with `ok`). */
function exchange(path: string, payload: string): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const s = connect(path)
    let out = ''
    s.setEncoding('utf8')
    s.on('data', (d: string) => {
      out += d
      const lines = out.split('\n').filter((l) => l !== '')
      const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
      if (out.endsWith('\n') && parsed.some((x) => 'ok' in x)) {
        s.destroy()
        resolve(parsed)
      }
    })
    s.on('error', reject)
    s.write(payload)
  })
}

test('admin protocol: the rows that stream progress are the VM crypto tasks and the clone', () => {
  const rows = Object.entries(AdminOps)
    .filter(([, spec]) => (spec.options as { progress?: boolean }).progress === true)
    .map(([op]) => op)
    .sort()
  assert.deepEqual(rows, ['vm.clone', 'vm.decrypt', 'vm.encrypt', 'vm.recrypt'])
  assert.equal(streamsProgress('vm.encrypt'), true)
  assert.equal(streamsProgress('keys.list'), false)
  assert.equal(streamsProgress('no.such.op'), false)
  assert.equal(streamsProgress('__proto__'), false)
})

test('admin socket: progress lines before the answer when asked for and streamed; one answer otherwise', async (t) => {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  mkdirSync(join(dir, 'h'), { mode: 0o700 })
  const path = join(dir, 'h', SOCKET_FILE)
  const seen: { op: string; asked: boolean }[] = []
  // the socket layer only: an agent whose every operation reports 50 steps at once, then 2 more
  // after a pause (the throttle lets the first, the pause's and the finished one through)
  const agent = {
    async handleRequest(op: string, _params: unknown, ctx: OpContext = {}): Promise<unknown> {
      seen.push({ op, asked: ctx.onProgress !== undefined })
      if (ctx.onProgress) {
        for (let i = 1; i <= 50; i++) ctx.onProgress({ done: i, total: 100 })
        await new Promise((r) => setTimeout(r, 400))
        ctx.onProgress({ done: 60, total: 100 })
        ctx.onProgress({ done: 100, total: 100 })
      }
      return { op }
    },
  } as unknown as HostAgent
  const logger = createLogger('host', {
    destination: new Writable({ write: (_c, _e, cb) => cb() }),
  })
  const server = await listenAdminSocket(agent, path, logger)
  t.after(() => server.close())

  // an old client (no progress field): exactly one line, the answer
  const old = await exchange(path, '{"id":7,"op":"vm.encrypt","params":{}}\n')
  assert.deepEqual(old, [{ id: 7, ok: true, result: { op: 'vm.encrypt' } }])
  // asked for: throttled progress lines with the request's id, then the answer
  const asked = await exchange(path, '{"id":8,"op":"vm.decrypt","params":{},"progress":true}\n')
  assert.deepEqual(asked, [
    { id: 8, progress: { done: 1, total: 100 } },
    { id: 8, progress: { done: 60, total: 100 } },
    { id: 8, progress: { done: 100, total: 100 } },
    { id: 8, ok: true, result: { op: 'vm.decrypt' } },
  ])
  // asked for on a row that does not stream progress: the handler gets no callback, one answer
  assert.deepEqual(await exchange(path, '{"id":9,"op":"keys.list","progress":true}\n'), [
    { id: 9, ok: true, result: { op: 'keys.list' } },
  ])
  assert.deepEqual(await exchange(path, '{"id":10,"op":"vm.encrypt","progress":false}\n'), [
    { id: 10, ok: true, result: { op: 'vm.encrypt' } },
  ])
  assert.deepEqual(
    seen.map((s) => s.asked),
    [false, true, false, false],
  )
  // a progress field that is not a boolean is a malformed request
  const bad = await exchange(path, '{"id":11,"op":"vm.encrypt","progress":"yes"}\n')
  assert.equal(bad.length, 1)
  assert.equal((bad[0]!.error as { code: string }).code, 'ERR_HOST_PROTOCOL')

  // the client: onProgress sees each progress message, then the call resolves to the answer
  const got: { done: number; total: number }[] = []
  const r = await callAgent(dir + '/h', 'vm.encrypt', {}, { onProgress: (p) => got.push(p) })
  assert.deepEqual(r, { op: 'vm.encrypt' })
  assert.deepEqual(got, [
    { done: 1, total: 100 },
    { done: 60, total: 100 },
    { done: 100, total: 100 },
  ])
  // without onProgress the client does not ask
  assert.deepEqual(await callAgent(dir + '/h', 'vm.encrypt', {}), { op: 'vm.encrypt' })
  assert.equal(seen.at(-1)!.asked, false)
})
