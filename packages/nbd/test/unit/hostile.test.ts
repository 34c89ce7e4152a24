import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { test } from 'node:test'
import {
  CMD,
  NBD_ERR,
  OPT,
  REP,
  NbdServer,
  OptionReplyHeader,
  Request,
  SimpleReply,
  decode,
  encode,
  type NbdEvent,
} from '../../src/index.js'
import { NbdClient } from '../../src/testing/index.js'
import {
  RawPeer,
  goData,
  goPrefix,
  memoryBackend,
  option,
  rawExchange,
  serve,
  sleep,
  tempDir,
} from '../helpers.js'

const MiB = 1024 * 1024
const closeCodes = (events: readonly NbdEvent[]): string[] =>
  events.flatMap((e) => (e.type === 'close' && e.code !== undefined ? [e.code] : []))

/** A client that keeps working while attacks run: a write+read round trip within 2 s. */
async function stillServes(c: NbdClient, tag: number): Promise<void> {
  const d = Buffer.alloc(512, tag)
  const t = Date.now()
  await c.write(tag * 512, d)
  assert.deepEqual(await c.read(tag * 512, 512), d)
  assert.ok(Date.now() - t < 2000, 'the honest client was answered within 2 s')
}

test('garbage, bad magic, bad client flags, huge write: that connection closes, another is served', async () => {
  const s = await serve(memoryBackend(MiB))
  const good = await NbdClient.connect(s.path)
  try {
    const attacks: [string, Buffer, string][] = [
      ['garbage as client flags', randomBytes(4096), 'ERR_NBD_CLIENT_FLAGS'],
      [
        'bad option magic',
        Buffer.concat([Buffer.alloc(4, 0).fill(1, 3), Buffer.alloc(16, 0x41)]),
        'ERR_NBD_BAD_MAGIC',
      ],
      [
        'bad request magic',
        Buffer.concat([goPrefix(), Buffer.alloc(28, 0x55)]),
        'ERR_NBD_BAD_MAGIC',
      ],
      [
        'write over the maximum payload',
        Buffer.concat([
          goPrefix(),
          encode(Request, { flags: 0, type: CMD.WRITE, cookie: 1n, offset: 0, length: 0xffffffff }),
          randomBytes(1000),
        ]),
        'ERR_NBD_PAYLOAD_TOO_LARGE',
      ],
    ]
    let tag = 1
    for (const [what, bytes, code] of attacks) {
      const before = closeCodes(s.events).length
      const r = await rawExchange(s.path, bytes, { end: false, ms: 5000 })
      assert.equal(r.closed, true, `${what}: closed by the server`)
      await stillServes(good, tag++)
      for (let i = 0; i < 100 && closeCodes(s.events).length === before; i++) await sleep(10)
      assert.equal(closeCodes(s.events).at(-1), code, what)
    }
    assert.equal(s.server.connections, 1)
  } finally {
    await good.disconnect()
    await s.stop()
  }
})

test('huge lengths and out-of-range offsets are answered with errors on a live connection', async () => {
  const s = await serve(memoryBackend(MiB))
  try {
    const c = await NbdClient.connect(s.path)
    for (const [type, offset, length, want] of [
      [CMD.READ, 0, 0xffffffff, NBD_ERR.EINVAL],
      [CMD.READ, 2 ** 64 - 4096, 512, NBD_ERR.EINVAL],
      [CMD.TRIM, 2 ** 63, 0xffffffff, NBD_ERR.EINVAL],
      [CMD.WRITE_ZEROES, 0, 0xffffffff, NBD_ERR.ENOSPC],
      [CMD.WRITE_ZEROES, MiB, 1, NBD_ERR.ENOSPC],
    ] as const)
      assert.equal((await c.request(type, { offset, length })).error, want)
    // a WRITE at a 2^64-4096 offset: refused, payload skipped, stream in step
    assert.equal(
      (await c.request(CMD.WRITE, { offset: 2 ** 64 - 4096, payload: Buffer.alloc(4096) })).error,
      NBD_ERR.ENOSPC,
    )
    await stillServes(c, 3)
    await c.disconnect()
  } finally {
    await s.stop()
  }
})

test('a client stalled in the handshake is closed at the timeout; others are served meanwhile', async () => {
  const s = await serve(memoryBackend(MiB), { handshakeTimeoutMs: 300 })
  try {
    const stalled = await RawPeer.open(s.path) // reads the greeting, never answers
    const half = await RawPeer.open(s.path)
    await half.greet()
    half.send(option(OPT.GO).subarray(0, 10)) // half an option header
    const c = await NbdClient.connect(s.path)
    await stillServes(c, 1)
    assert.equal(await stalled.waitClosed(3000), true)
    assert.equal(await half.waitClosed(3000), true)
    await stillServes(c, 2) // transmission has no timeout
    assert.deepEqual(closeCodes(s.events), [
      'ERR_NBD_HANDSHAKE_TIMEOUT',
      'ERR_NBD_HANDSHAKE_TIMEOUT',
    ])
    await c.disconnect()
  } finally {
    await s.stop()
  }
})

test('exclusive: a second client is refused at NBD_OPT_GO while the first is connected', async () => {
  const s = await serve(memoryBackend(MiB), { exclusive: true })
  try {
    const first = await NbdClient.connect(s.path)
    await assert.rejects(
      NbdClient.connect(s.path),
      (e: { code?: string; details?: { reply?: string } }) => {
        assert.equal(e.code, 'ERR_NBD_OPTION_REFUSED')
        assert.equal(e.details?.reply, 'ERR_POLICY')
        return true
      },
    )
    // the refused client stays in option haggling: it may still ask for INFO, and ABORT cleanly
    const p = await RawPeer.open(s.path)
    await p.greet()
    p.send(option(OPT.GO, goData()))
    const h = decode(OptionReplyHeader, await p.read(20))
    assert.equal(h.type, REP.ERR_POLICY)
    assert.match((await p.read(h.length)).toString(), /in use/)
    p.send(option(OPT.INFO, goData()))
    for (;;) {
      const x = decode(OptionReplyHeader, await p.read(20))
      if (x.length) await p.read(x.length)
      if (x.type === REP.ACK) break
    }
    // NBD_OPT_EXPORT_NAME cannot be refused with an error: closed
    const q = await RawPeer.open(s.path)
    await q.greet()
    q.send(option(OPT.EXPORT_NAME))
    assert.equal(await q.waitClosed(), true)
    await stillServes(first, 1)
    await first.disconnect()
    // once the first left, the next one gets in
    let second: NbdClient | undefined
    for (let i = 0; i < 50 && second === undefined; i++) {
      second = await NbdClient.connect(s.path).catch(() => undefined)
      if (second === undefined) await sleep(20)
    }
    assert.ok(second)
    await stillServes(second, 2)
    await second.disconnect()
    p.destroy()
  } finally {
    await s.stop()
  }
  assert.ok(s.events.some((e) => e.type === 'refused' && e.code === 'ERR_NBD_BUSY'))
  assert.ok(closeCodes(s.events).includes('ERR_NBD_BUSY'))
})

test('too many connections are closed at accept; too many options close; oversized options are skipped', async () => {
  const s = await serve(memoryBackend(MiB), { maxConnections: 2, maxOptions: 5 })
  try {
    const a = await NbdClient.connect(s.path)
    const b = await RawPeer.open(s.path)
    const c = await RawPeer.open(s.path)
    assert.equal(await c.waitClosed(), true)
    assert.ok(closeCodes(s.events).includes('ERR_NBD_TOO_MANY_CONNECTIONS'))
    // b: an option with 1 MiB of data is skipped unread and refused TOO_BIG; then options go on
    await b.greet()
    b.send(option(0x777, randomBytes(MiB)))
    const h = decode(OptionReplyHeader, await b.read(20))
    assert.equal(h.type, REP.ERR_TOO_BIG)
    await b.read(h.length)
    for (let i = 0; i < 4; i++) {
      b.send(option(OPT.LIST))
      for (;;) {
        const x = decode(OptionReplyHeader, await b.read(20))
        if (x.length) await b.read(x.length)
        if (x.type === REP.ACK) break
      }
    }
    b.send(option(OPT.LIST)) // the sixth
    assert.equal(await b.waitClosed(), true)
    assert.ok(closeCodes(s.events).includes('ERR_NBD_TOO_MANY_OPTIONS'))
    await stillServes(a, 1)
    await a.disconnect()
  } finally {
    await s.stop()
  }
})

test('backpressure: a client that never reads its replies stops being read; memory stays bounded', async () => {
  let calls = 0
  let concurrent = 0
  let maxConcurrent = 0
  const b = memoryBackend(4 * MiB)
  b.read = async (_o, length) => {
    calls++
    concurrent++
    maxConcurrent = Math.max(maxConcurrent, concurrent)
    await sleep(1)
    concurrent--
    return Buffer.alloc(length, 1)
  }
  const s = await serve(b)
  try {
    const p = await RawPeer.open(s.path)
    p.socket.pause() // read nothing back
    const reqs: Buffer[] = [goPrefix()]
    const n = 200
    for (let i = 0; i < n; i++)
      reqs.push(
        encode(Request, {
          flags: 0,
          type: CMD.READ,
          cookie: BigInt(i),
          offset: 0,
          length: MiB,
        }) as Buffer,
      )
    p.send(Buffer.concat(reqs))
    await sleep(1000)
    // 200 MiB asked: only what fits in 16 slots plus the kernel socket buffers was read
    assert.ok(calls < 64, `backend reads while the client does not read: ${calls}`)
    assert.ok(maxConcurrent <= 16, `concurrent backend calls ${maxConcurrent}`)
    // another client is served meanwhile
    const c = await NbdClient.connect(s.path)
    await stillServes(c, 1)
    await c.disconnect()
    // reading again: every reply arrives, well-formed
    p.socket.resume()
    const seen = new Set<bigint>()
    await p.read(18 + 20 + 12 + 20 + 14 + 20, 10000) // greeting; GO replies: INFO export, INFO block size, ACK
    for (let i = 0; i < n; i++) {
      const r = decode(SimpleReply, await p.read(16, 20000))
      assert.equal(r.error, 0)
      seen.add(r.cookie)
      await p.read(MiB, 20000)
    }
    assert.equal(seen.size, n)
    p.destroy()
  } finally {
    await s.stop()
  }
})

test('the unix socket: 0700 folder required, 0600 socket, stale replaced, live and files refused', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const b = memoryBackend(4096)
    const wide = join(dir, 'wide')
    mkdirSync(wide, { mode: 0o755 })
    chmodSync(wide, 0o755)
    await assert.rejects(new NbdServer(b).listen(join(wide, 's.sock')), {
      code: 'ERR_NBD_SOCKET_DIR',
    })
    chmodSync(wide, 0o710)
    await assert.rejects(new NbdServer(b).listen(join(wide, 's.sock')), {
      code: 'ERR_NBD_SOCKET_DIR',
    })
    const link = join(dir, 'link')
    const ok = join(dir, 'ok')
    mkdirSync(ok, { mode: 0o700 })
    symlinkSync(ok, link)
    await assert.rejects(new NbdServer(b).listen(join(link, 's.sock')), {
      code: 'ERR_NBD_SOCKET_DIR',
    })
    await assert.rejects(new NbdServer(b).listen(join(dir, 'missing', 's.sock')), {
      code: 'ERR_NBD_SOCKET_DIR',
    })
    await assert.rejects(new NbdServer(b).listen('relative.sock'), { code: 'ERR_NBD_SOCKET_PATH' })
    await assert.rejects(new NbdServer(b).listen(join(ok, 'x'.repeat(120))), {
      code: 'ERR_NBD_SOCKET_PATH',
    })
    writeFileSync(join(ok, 'file'), 'not a socket')
    await assert.rejects(new NbdServer(b).listen(join(ok, 'file')), { code: 'ERR_NBD_SOCKET_PATH' })
    // a live socket is refused, a stale one replaced
    const path = join(ok, 's.sock')
    const srv = new NbdServer(b)
    await srv.listen(path)
    assert.equal(statSync(path).mode & 0o777, 0o600)
    await assert.rejects(new NbdServer(b).listen(path), { code: 'ERR_NBD_SOCKET_PATH' })
    await srv.close()
    // a socket left behind by a killed process
    const r = spawnSync(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(join(ok, 'stale.sock'))}, () => process.kill(process.pid, 'SIGKILL'))`,
    ])
    assert.equal(r.signal, 'SIGKILL')
    assert.ok(statSync(join(ok, 'stale.sock')).isSocket())
    const again = new NbdServer(b)
    await again.listen(join(ok, 'stale.sock'))
    const c = await NbdClient.connect(join(ok, 'stale.sock'))
    assert.equal(c.size, 4096)
    await c.disconnect()
    await again.close()
  } finally {
    cleanup()
  }
})

test('attach(): serves a caller-owned net.Server; handle(): serves one socket', async () => {
  const { dir, cleanup } = tempDir()
  const net = createServer({ allowHalfOpen: true })
  const path = join(dir, 'n.sock')
  await new Promise<void>((r) => net.listen(path, () => r()))
  const srv = new NbdServer(memoryBackend(8192))
  srv.attach(net)
  try {
    const c = await NbdClient.connect(path)
    await c.write(0, Buffer.from('hi'))
    assert.deepEqual(await c.read(0, 2), Buffer.from('hi'))
    await c.disconnect()
  } finally {
    await srv.close()
    await new Promise<void>((r) => net.close(() => r()))
    cleanup()
  }
})
