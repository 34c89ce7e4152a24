// Transports and power control against a real swtpm and against misbehaving fake servers.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createServer, type Server, type Socket } from 'node:net'
import { after, before, test } from 'node:test'
import {
  DeviceTransport,
  SwtpmTransport,
  Tpm,
  commands,
  getRandom,
  openTpm,
  seal,
  startup,
  unseal,
  listHandles,
} from '../../src/index.js'
import { openLab, type Lab } from './helpers.js'

let lab: Lab
before(async () => {
  lab = await openLab()
})
after(async () => {
  await lab?.close()
})

test('CMD_STOP halts the TPM (TPM_RC_FAILURE), CMD_INIT + TPM2_Startup bring it back', async () => {
  const tpm = lab.sw.tpm
  await lab.sw.control.stop()
  await assert.rejects(getRandom(tpm, 8), { code: 'ERR_TPM_RC', base: 0x101 })
  await lab.sw.control.init()
  await assert.rejects(getRandom(tpm, 8), { code: 'ERR_TPM_RC', base: 0x100 })
  await startup(tpm)
  await startup(tpm) // already started: tolerated
  assert.equal((await getRandom(tpm, 8)).length, 8)
  await lab.sw.control.setLocality(0)
  await assert.rejects(lab.sw.control.setLocality(9), { code: 'ERR_TPM_ARG' })
})

test('one command at a time: parallel callers on one Tpm, parallel seal/unseal within 3 object slots', async () => {
  const tpm = lab.sw.tpm
  const rs = await Promise.all(Array.from({ length: 20 }, () => getRandom(tpm, 16)))
  assert.equal(new Set(rs.map((r) => Buffer.from(r).toString('hex'))).size, 20)
  const secrets = Array.from({ length: 4 }, () => randomBytes(32))
  const blobs = await Promise.all(secrets.map((s) => seal(tpm, s, { pcrs: [0] })))
  const out = await Promise.all(blobs.map((b) => unseal(tpm, b)))
  out.forEach((o, i) => assert.deepEqual(Buffer.from(o), secrets[i]))
  assert.deepEqual(await listHandles(tpm, 'transient'), [])
})

test('a second client gets the swtpm once the first closes its connection (openTpm spec)', async () => {
  await lab.sw.transport.close()
  const { tpm, control } = openTpm(lab.sw.spec)
  assert.ok(control)
  assert.equal((await getRandom(tpm, 4)).length, 4)
  await tpm.transport.close()
  assert.equal((await getRandom(lab.sw.tpm, 4)).length, 4)
})

async function fake(onConn: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onConn)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const a = server.address()
  return { server, port: typeof a === 'object' && a ? a.port : 0 }
}

test('transport: timeout, refused connection, bad sizes and extra bytes are coded errors', async () => {
  const silent = await fake(() => undefined)
  const t1 = new Tpm(new SwtpmTransport(`swtpm:127.0.0.1:${silent.port}`, { timeoutMs: 200 }))
  await assert.rejects(t1.run(commands.GetRandom, { bytesRequested: 1 }), {
    code: 'ERR_TPM_TIMEOUT',
  })
  await t1.transport.close()
  silent.server.close()

  const tiny = await fake((s) =>
    s.on('data', () => s.write(Buffer.from('80010000000500000000', 'hex'))),
  )
  const t2 = new Tpm(new SwtpmTransport(`swtpm:127.0.0.1:${tiny.port}`, { timeoutMs: 2000 }))
  await assert.rejects(t2.run(commands.GetRandom, { bytesRequested: 1 }), {
    code: 'ERR_TPM_DECODE',
  })
  await t2.transport.close()
  tiny.server.close()

  const huge = await fake((s) =>
    s.on('data', () => s.write(Buffer.from('80017fffffff00000000', 'hex'))),
  )
  const t3 = new Tpm(new SwtpmTransport(`swtpm:127.0.0.1:${huge.port}`, { timeoutMs: 2000 }))
  await assert.rejects(t3.run(commands.GetRandom, { bytesRequested: 1 }), {
    code: 'ERR_TPM_DECODE',
  })
  huge.server.close()

  const extra = await fake((s) =>
    s.on('data', () => s.write(Buffer.from('80010000000c000000000000ffff', 'hex'))),
  )
  const t4 = new Tpm(new SwtpmTransport(`swtpm:127.0.0.1:${extra.port}`, { timeoutMs: 2000 }))
  await assert.rejects(t4.run(commands.GetRandom, { bytesRequested: 1 }), {
    code: 'ERR_TPM_DECODE',
  })
  extra.server.close()

  const closer = await fake((s) => s.on('data', () => s.end(Buffer.from('8001', 'hex'))))
  const t5 = new Tpm(new SwtpmTransport(`swtpm:127.0.0.1:${closer.port}`, { timeoutMs: 2000 }))
  await assert.rejects(t5.run(commands.GetRandom, { bytesRequested: 1 }), {
    code: 'ERR_TPM_TRANSPORT',
  })
  closer.server.close()
  // the port is closed now: connection refused
  await assert.rejects(t5.run(commands.GetRandom, { bytesRequested: 1 }), {
    code: 'ERR_TPM_TRANSPORT',
  })

  await assert.rejects(
    new Tpm(new DeviceTransport('/dev/ward-no-such-tpm')).run(commands.GetRandom, {
      bytesRequested: 1,
    }),
    {
      code: 'ERR_TPM_TRANSPORT',
    },
  )
  assert.throws(() => openTpm('tcp:1.2.3.4:5'), { code: 'ERR_TPM_ARG' })
})

test('kill -9 of swtpm: the next command fails with a transport error, not a hang', async () => {
  await lab.sw.kill()
  await assert.rejects(getRandom(lab.sw.tpm, 4), { code: 'ERR_TPM_TRANSPORT' })
})
