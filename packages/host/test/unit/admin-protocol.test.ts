import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLogger, isCodedError } from '@ward/core'
import {
  AdminOps,
  HostAgent,
  SOCKET_FILE,
  agentClient,
  initHost,
  listenAdminSocket,
  type AdminHandlers,
  type HandlersFor,
  type AdminOp,
  type AdminResult,
} from '../../src/index.js'
import { checkParams, int, op, opt, req, result, str } from '../../src/agent/schema.js'

/*
 * The table's derived types, checked by the compiler when the tests build: each
 * `@ts-expect-error` below fails the build if the line it marks stops being an error.
 */
type Equal<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const typeChecks = (h: AdminHandlers, client: ReturnType<typeof agentClient>): void => {
  const hasResult: Equal<AdminResult<'keys.has'>, { inCache: boolean }> = true
  const listResult: Equal<AdminResult<'keys.list'>, { providerId: string; kekId: string }[]> = true
  void [hasResult, listResult]
  // @ts-expect-error a handler map without one of the table's operations does not compile
  const missing: AdminHandlers = { ...h, 'keys.list': undefined }
  // @ts-expect-error a handler answering the wrong result type does not compile
  const mistyped: AdminHandlers = { ...h, 'keys.has': () => ({ inCache: 'yes' }) }
  // @ts-expect-error a handler reading a parameter its row does not declare does not compile
  const unknownParam: AdminHandlers['keys.has'] = (p) => ({ inCache: p.vmId === 'x' })
  // an area's handlers, kept apart and spread in: the map is still checked complete
  const keys: HandlersFor<'keys'> = {
    'keys.add': h['keys.add'],
    'keys.has': h['keys.has'],
    'keys.list': h['keys.list'],
    'keys.remove': h['keys.remove'],
    'keys.kdk.install': h['keys.kdk.install'],
  }
  const composed: AdminHandlers = { ...h, ...keys }
  const { 'keys.list': _dropped, ...withoutList } = keys
  // @ts-expect-error an area's map without one of its operations does not compile
  const incomplete: HandlersFor<'keys'> = withoutList
  void [missing, mistyped, unknownParam, composed, incomplete, _dropped]
  // @ts-expect-error an operation the table does not have
  void client.call('keys.clear')
  // @ts-expect-error a missing required parameter
  void client.call('keys.has', { providerId: 'p' })
  // @ts-expect-error a mistyped parameter
  void client.call('keys.has', { providerId: 'p', kekId: 7 })
  // @ts-expect-error an enum parameter outside its values
  void client.call('settings.encryption.set', { mode: 'tpm' })
  // operations without required parameters take none
  void client.call('keys.list')
  void client.call('settings.encryption.set', {})
}
void typeChecks

test('admin protocol: the typed client calls every kind of operation and gets its row’s result', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-host-protocol-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const D = join(dir, 'host')
  initHost(D, { kind: 'none' })
  const logger = createLogger('host', { level: 'silent' })
  const agent = await HostAgent.boot({ dataDir: D, logger })
  const server = await listenAdminSocket(agent, join(D, SOCKET_FILE), logger)
  t.after(async () => {
    server.close()
    await agent.close()
  })
  const client = agentClient(D)
  const status = await client.call('status')
  assert.equal(status.mode, 'NONE')
  assert.equal(status.cachedKeys, 0)
  assert.equal(typeof status.hostId, 'string')
  assert.equal(status.boot.verified, false)
  const key = Buffer.alloc(32, 7).toString('base64')
  const added = await client.call('keys.add', { providerId: 'p', kekId: 'k', key })
  assert.deepEqual(added, { providerId: 'p', kekId: 'k', persisted: false })
  assert.equal((await client.call('keys.has', { providerId: 'p', kekId: 'k' })).inCache, true)
  assert.deepEqual(await client.call('keys.list'), [{ providerId: 'p', kekId: 'k' }])
  assert.deepEqual(await client.call('keys.remove', { providerId: 'p', kekId: 'k' }), {
    removed: true,
  })
  assert.equal((await client.call('keys.has', { providerId: 'p', kekId: 'k' })).inCache, false)
  assert.deepEqual(await client.call('settings.encryption.get'), {
    mode: 'NONE',
    requireSecureBoot: false,
    requireExecInstalledOnly: false,
  })
  // the same typed answers in process (agent.handle), as on the socket
  assert.deepEqual(await agent.handle('security.keypersistence.get', {}), { enabled: false })
})

test('admin protocol: every row of the table has a handler in the agent (none answers "unknown" or an internal error)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-host-protocol-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const D = join(dir, 'host')
  initHost(D, { kind: 'none' })
  const agent = await HostAgent.boot({
    dataDir: D,
    logger: createLogger('host', { level: 'silent' }),
  })
  t.after(() => agent.close())
  // a minimal valid request per row: required strings get an id that is not in the cache
  const sample = (o: AdminOp): Record<string, unknown> =>
    Object.fromEntries(
      Object.entries(AdminOps[o].params)
        .filter(([, p]) => p.required)
        .map(([n]) => [n, n === 'key' ? Buffer.alloc(32, 1).toString('base64') : 'x']),
    )
  const ops = Object.keys(AdminOps) as AdminOp[]
  assert.ok(ops.length >= 12)
  for (const o of ops) {
    try {
      await agent.handleRequest(o, sample(o))
    } catch (e) {
      assert.ok(isCodedError(e), `${o}: ${String(e)}`)
      assert.notEqual(e.code, 'ERR_HOST_BAD_REQUEST', o)
      assert.notEqual(e.code, 'ERR_HOST_INTERNAL', o)
      assert.doesNotMatch(e.message, /is not a function/, o)
    }
  }
  await assert.rejects(agent.handleRequest('keys.clear', {}), { code: 'ERR_HOST_BAD_REQUEST' })
})

test('admin protocol schema: integer parameters, and the messages name the operation and the field', () => {
  const spec = op(
    { name: req(str), memoryMiB: req(int), cpus: opt(int) },
    result<{ ok: true }>(),
  ).params
  assert.deepEqual(checkParams('vm.example', spec, { name: 'a', memoryMiB: 512 }), {
    name: 'a',
    memoryMiB: 512,
  })
  const refused = (params: unknown, field: string, message: RegExp): void =>
    assert.throws(
      () => checkParams('vm.example', spec, params),
      (e: Error & { code: string; details: Record<string, unknown> }) => {
        assert.equal(e.code, 'ERR_HOST_BAD_ARGUMENT')
        assert.ok(e.message.startsWith('vm.example: '), e.message)
        assert.equal(e.details.param, field)
        assert.match(e.message, message)
        return true
      },
    )
  refused({ name: 'a', memoryMiB: 1.5 }, 'memoryMiB', /must be a whole number, not number/)
  refused({ name: 'a', memoryMiB: '512' }, 'memoryMiB', /must be a whole number, not string/)
  refused({ name: 'a', memoryMiB: 2 ** 53 }, 'memoryMiB', /whole number/)
  refused({ name: 'a' }, 'memoryMiB', /is required/)
  refused(
    { name: 'a', memoryMiB: 1, cpu: 2 },
    'cpu',
    /unknown parameter 'cpu' \(vm.example takes name, memoryMiB, cpus\)/,
  )
})
