import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { join } from 'node:path'
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { Writable } from 'node:stream'
import { createLogger } from '@ward/core'
import { HostAgent, initHost, listenAdminSocket, callAgent, SOCKET_FILE } from '../../src/index.js'
import { tempDir } from '../helpers/harness.js'

function rawExchange(path: string, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(path)
    let out = ''
    s.setEncoding('utf8')
    s.on('data', (d: string) => {
      out += d
      if (out.endsWith('\n')) {
        s.destroy()
        resolve(out)
      }
    })
    s.on('error', reject)
    s.on('close', () => resolve(out))
    s.write(payload)
  })
}

test('admin socket: 0600 in a 0700 folder; bad requests get coded errors; the agent keeps serving', async (t) => {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  const D = join(dir, 'host')
  initHost(D, { kind: 'none' })
  assert.equal(statSync(D).mode & 0o777, 0o700)
  const lines: string[] = []
  const logger = createLogger('host', {
    destination: new Writable({
      write(c: Buffer, _e, cb) {
        lines.push(c.toString())
        cb()
      },
    }),
  })
  const agent = await HostAgent.boot({ dataDir: D, logger })
  const path = join(D, SOCKET_FILE)
  const server = await listenAdminSocket(agent, path, logger)
  t.after(async () => {
    server.close()
    await agent.close()
  })
  assert.equal(statSync(path).mode & 0o777, 0o600)
  await assert.rejects(listenAdminSocket(agent, path, logger), { code: 'ERR_HOST_AGENT_RUNNING' })
  for (const bad of [
    'not json\n',
    '[]\n',
    '{"id":1}\n',
    '{"id":"x","op":"keys.list"}\n',
    '{"id":1,"op":"keys.list","params":5}\n',
  ]) {
    const r = JSON.parse(await rawExchange(path, bad)) as { ok: boolean; error: { code: string } }
    assert.equal(r.ok, false)
    assert.equal(r.error.code, 'ERR_HOST_PROTOCOL')
  }
  const long = JSON.parse(await rawExchange(path, 'x'.repeat(70000))) as { error: { code: string } }
  assert.equal(long.error.code, 'ERR_HOST_PROTOCOL')
  await assert.rejects(callAgent(D, 'no.such.op'), { code: 'ERR_HOST_BAD_REQUEST' })
  await assert.rejects(callAgent(D, 'keys.add', { providerId: 'p', kekId: 'k', key: '' }), {
    code: 'ERR_HOST_BAD_ARGUMENT',
  })
  await assert.rejects(callAgent(D, 'keys.add', { providerId: 'p', kekId: 7, key: 'AAAA' }), {
    code: 'ERR_HOST_BAD_ARGUMENT',
  })
  await assert.rejects(callAgent(D, 'keys.remove', { providerId: 'p', kekId: 'nope' }), {
    code: 'ERR_HOST_KEY_NOT_FOUND',
  })
  await assert.rejects(callAgent(D, 'settings.encryption.set', {}), {
    code: 'ERR_HOST_BAD_ARGUMENT',
  })
  await assert.rejects(
    callAgent(D, 'settings.encryption.set', { mode: 'NONE', requireSecureBoot: true }),
    { code: 'ERR_HOST_MODE_REQUIRED' },
  )
  // two pipelined requests on one connection are answered in order
  const two = await new Promise<string>((resolve) => {
    const s = connect(path)
    let out = ''
    s.setEncoding('utf8')
    s.on('data', (d: string) => {
      out += d
      if (out.split('\n').length > 2) {
        s.destroy()
        resolve(out)
      }
    })
    s.write('{"id":1,"op":"keys.list"}\n{"id":2,"op":"settings.encryption.get"}\n')
  })
  assert.deepEqual(
    two
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { id: number }).id),
    [1, 2],
  )
  assert.deepEqual(await callAgent(D, 'keys.list'), [])
  assert.ok(lines.some((l) => l.includes('"code":"ERR_HOST_BAD_REQUEST"')))
})

test('client: no agent → says how to start it; data folder checks', async (t) => {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  await assert.rejects(callAgent(dir, 'keys.list'), {
    code: 'ERR_HOST_AGENT_NOT_RUNNING',
    message: /ward host serve --data-dir/,
  })
  const logger = createLogger('host', { level: 'silent' })
  await assert.rejects(HostAgent.boot({ dataDir: join(dir, 'missing'), logger }), {
    code: 'ERR_HOST_NOT_INITIALIZED',
  })
  await assert.rejects(HostAgent.boot({ dataDir: dir, logger }), {
    code: 'ERR_HOST_NOT_INITIALIZED',
  })
  const D = join(dir, 'h')
  initHost(D, { kind: 'none' })
  assert.throws(() => initHost(D, { kind: 'none' }), { code: 'ERR_HOST_ALREADY_INITIALIZED' })
  chmodSync(D, 0o755)
  await assert.rejects(HostAgent.boot({ dataDir: D, logger }), { code: 'ERR_HOST_DATA_DIR' })
  chmodSync(D, 0o700)
  writeFileSync(join(D, 'host.json'), '{"version":1,"tpm":"bogus"}')
  await assert.rejects(HostAgent.boot({ dataDir: D, logger }), { code: 'ERR_HOST_TPM_SPEC' })
})

test('admin socket: every operation refuses a missing, unknown or mistyped parameter, naming the operation and the parameter', async (t) => {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  const D = join(dir, 'host')
  initHost(D, { kind: 'none' })
  const logger = createLogger('host', { level: 'silent' })
  const agent = await HostAgent.boot({ dataDir: D, logger })
  const server = await listenAdminSocket(agent, join(D, SOCKET_FILE), logger)
  t.after(async () => {
    server.close()
    await agent.close()
  })
  const bad = async (
    op: string,
    params: Record<string, unknown>,
    param: string,
    message: RegExp,
  ): Promise<void> => {
    await assert.rejects(callAgent(D, op, params), (e: Error & { code: string }) => {
      assert.equal(e.code, 'ERR_HOST_BAD_ARGUMENT', `${op} ${JSON.stringify(params)}`)
      assert.ok(e.message.startsWith(`${op}: `), e.message)
      assert.ok(e.message.includes(`'${param}'`), e.message)
      assert.match(e.message, message)
      return true
    })
  }
  // the case: a string "true" was read as false (and the keys kept)
  await bad(
    'security.keypersistence.disable',
    { removeAllStoredKeys: 'true' },
    'removeAllStoredKeys',
    /must be true or false, not string/,
  )
  await bad(
    'security.keypersistence.disable',
    { removeAllStoredKeys: 1 },
    'removeAllStoredKeys',
    /not number/,
  )
  await bad(
    'security.keypersistence.disable',
    { removeAll: true },
    'removeAll',
    /unknown parameter/,
  )
  await bad(
    'settings.encryption.set',
    { requireSecureBoot: 'T' },
    'requireSecureBoot',
    /true or false/,
  )
  await bad('settings.encryption.set', { mode: 'tpm' }, 'mode', /one of TPM, NONE, not 'tpm'/)
  await bad('settings.encryption.set', { mode: 'TPM', secureBoot: true }, 'secureBoot', /unknown/)
  await bad('keys.add', { providerId: 'p', kekId: 'k' }, 'key', /is required/)
  await bad('keys.add', { providerId: 'p', kekId: 'k', key: ['AAAA'] }, 'key', /not an array/)
  await bad('keys.add', { providerId: 'p', kekId: null, key: 'AAAA' }, 'kekId', /not null/)
  await bad('keys.has', { providerId: 'p', kekId: 'k', extra: 1 }, 'extra', /unknown/)
  await bad('keys.remove', { providerId: {}, kekId: 'k' }, 'providerId', /not object/)
  for (const op of [
    'status',
    'settings.encryption.get',
    'settings.encryption.recovery.list',
    'settings.encryption.recovery.rotate',
    'security.keypersistence.get',
    'security.keypersistence.enable',
    'keys.list',
  ])
    await bad(op, { x: 1 }, 'x', /takes no parameters/)
  // nothing was changed by the refused requests
  assert.deepEqual(await callAgent(D, 'security.keypersistence.get'), { enabled: false })
  assert.deepEqual(await callAgent(D, 'keys.list'), [])
  // the envelope: params must be an object, no other fields
  for (const line of [
    '{"id":1,"op":"keys.list","params":[]}\n',
    '{"id":1,"op":"keys.list","params":{},"extra":true}\n',
  ]) {
    const r = JSON.parse(await rawExchange(join(D, SOCKET_FILE), line)) as {
      error: { code: string }
    }
    assert.equal(r.error.code, 'ERR_HOST_PROTOCOL', line)
  }
})

test('admin socket: listening does not change the process umask (other code creating files meanwhile keeps its modes)', async (t) => {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  const D = join(dir, 'host')
  initHost(D, { kind: 'none' })
  const logger = createLogger('host', { level: 'silent' })
  const agent = await HostAgent.boot({ dataDir: D, logger })
  t.after(() => agent.close())
  const made = join(dir, 'made-meanwhile')
  const listening = listenAdminSocket(agent, join(D, SOCKET_FILE), logger)
  // runs while listenAdminSocket awaits the listen callback
  queueMicrotask(() => mkdirSync(made, { mode: 0o755 }))
  const server = await listening
  t.after(() => server.close())
  assert.equal(statSync(made).mode & 0o700, 0o700, 'a folder made meanwhile lost its owner bits')
  assert.equal(statSync(join(D, SOCKET_FILE)).mode & 0o777, 0o600)
  assert.deepEqual(
    readdirSync(D).filter((f) => f.startsWith('.')),
    [],
    'no staging folder left',
  )
  await new Promise<void>((r) => server.close(() => r()))
  assert.equal(existsSync(join(D, SOCKET_FILE)), false, 'closing removes the socket')
})
