import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { test } from 'node:test'
import {
  CLIENT_FLAG,
  CMD,
  CMD_FLAG,
  HANDSHAKE_FLAG,
  INFO,
  NBD_ERR,
  OPT,
  REP,
  TRANSMISSION_FLAG as TF,
  NbdServer,
  OptionReplyHeader,
  Request,
  ServerGreeting,
  SimpleReply,
  decode,
  encode,
} from '../../src/index.js'
import { NbdClient } from '../../src/testing/index.js'
import { RawPeer, goData, memoryBackend, option, serve, serveFile, sleep } from '../helpers.js'

const MiB = 1024 * 1024

async function readOptionReply(
  p: RawPeer,
): Promise<{ option: number; type: number; data: Buffer }> {
  const h = decode(OptionReplyHeader, await p.read(OptionReplyHeader.size))
  return {
    option: h.option,
    type: h.type,
    data: h.length ? await p.read(h.length) : Buffer.alloc(0),
  }
}

test('handshake: greeting, NBD_OPT_GO with block sizes, export info', async () => {
  const s = await serveFile(8 * MiB)
  try {
    const p = await RawPeer.open(s.path)
    const g = decode(ServerGreeting, await p.greet())
    assert.equal(g.handshakeFlags, HANDSHAKE_FLAG.FIXED_NEWSTYLE | HANDSHAKE_FLAG.NO_ZEROES)
    p.send(option(OPT.GO, goData('', [INFO.BLOCK_SIZE, INFO.NAME, INFO.DESCRIPTION])))
    const infos = new Map<number, Buffer>()
    for (;;) {
      const r = await readOptionReply(p)
      assert.equal(r.option, OPT.GO)
      if (r.type === REP.ACK) break
      assert.equal(r.type, REP.INFO)
      infos.set(r.data.readUInt16BE(0), r.data)
    }
    const exp = infos.get(INFO.EXPORT)!
    assert.equal(exp.length, 12)
    assert.equal(Number(exp.readBigUInt64BE(2)), 8 * MiB)
    const flags = exp.readUInt16BE(10)
    const want =
      TF.HAS_FLAGS |
      TF.SEND_FLUSH |
      TF.SEND_FUA |
      TF.SEND_TRIM |
      TF.SEND_WRITE_ZEROES |
      TF.CAN_MULTI_CONN
    assert.equal(flags, want)
    const bs = infos.get(INFO.BLOCK_SIZE)!
    assert.deepEqual(
      [bs.readUInt32BE(2), bs.readUInt32BE(6), bs.readUInt32BE(10)],
      [1, 4096, 32 * MiB],
    )
    assert.equal(infos.get(INFO.NAME)!.subarray(2).toString(), '')
    assert.equal(infos.has(INFO.DESCRIPTION), false) // none configured
    // transmission: a READ answers with a simple reply and the data
    p.send(encode(Request, { flags: 0, type: CMD.READ, cookie: 9n, offset: 0, length: 512 }))
    const rep = decode(SimpleReply, await p.read(16))
    assert.deepEqual(rep, { error: 0, cookie: 9n })
    assert.deepEqual(await p.read(512), Buffer.alloc(512))
    p.destroy()
  } finally {
    await s.stop()
  }
})

test('NBD_OPT_EXPORT_NAME with and without zeroes; named exports', async () => {
  const s = await serve(memoryBackend(4096), { exportName: 'disk0', description: 'the disk' })
  try {
    // NO_ZEROES negotiated: 10 bytes
    const a = await RawPeer.open(s.path)
    await a.greet()
    a.send(option(OPT.EXPORT_NAME, Buffer.from('disk0')))
    const r = await a.read(10)
    assert.equal(Number(r.readBigUInt64BE(0)), 4096)
    a.send(encode(Request, { flags: 0, type: CMD.FLUSH, cookie: 1n, offset: 0, length: 0 }))
    assert.deepEqual(decode(SimpleReply, await a.read(16)), { error: 0, cookie: 1n })
    a.destroy()
    // without NO_ZEROES: 10 + 124 zero bytes, and the empty default name works too
    const b = await RawPeer.open(s.path)
    await b.greet(CLIENT_FLAG.C_FIXED_NEWSTYLE)
    b.send(option(OPT.EXPORT_NAME))
    const r2 = await b.read(134)
    assert.deepEqual(r2.subarray(10), Buffer.alloc(124))
    b.destroy()
    // an unknown name cannot be answered: the connection is closed
    const c = await RawPeer.open(s.path)
    await c.greet()
    c.send(option(OPT.EXPORT_NAME, Buffer.from('other')))
    assert.equal(await c.waitClosed(), true)
    // GO with an unknown name: NBD_REP_ERR_UNKNOWN, the connection stays in option haggling
    const d = await RawPeer.open(s.path)
    await d.greet()
    d.send(option(OPT.GO, goData('nope')))
    assert.equal((await readOptionReply(d)).type, REP.ERR_UNKNOWN)
    d.send(option(OPT.INFO, goData('disk0', [INFO.DESCRIPTION])))
    const seen: number[] = []
    for (;;) {
      const x = await readOptionReply(d)
      if (x.type === REP.ACK) break
      seen.push(x.data.readUInt16BE(0))
      if (x.data.readUInt16BE(0) === INFO.DESCRIPTION)
        assert.equal(x.data.subarray(2).toString(), 'the disk')
    }
    assert.deepEqual(seen.sort(), [INFO.EXPORT, INFO.DESCRIPTION, INFO.BLOCK_SIZE].sort())
    d.destroy()
  } finally {
    await s.stop()
  }
  const closes = s.events.filter((e) => e.type === 'close' && e.code === 'ERR_NBD_EXPORT_UNKNOWN')
  assert.equal(closes.length, 1)
})

test('NBD_OPT_LIST, unknown and unsupported options, malformed GO, ABORT', async () => {
  const s = await serve(memoryBackend(4096), { exportName: 'x' })
  try {
    const p = await RawPeer.open(s.path)
    await p.greet()
    p.send(option(OPT.LIST))
    const l = await readOptionReply(p)
    assert.equal(l.type, REP.SERVER)
    assert.equal(l.data.readUInt32BE(0), 1)
    assert.equal(l.data.subarray(4).toString(), 'x')
    assert.equal((await readOptionReply(p)).type, REP.ACK)
    p.send(option(OPT.LIST, Buffer.from('junk')))
    assert.equal((await readOptionReply(p)).type, REP.ERR_INVALID)
    for (const o of [
      OPT.STARTTLS,
      OPT.STRUCTURED_REPLY,
      OPT.SET_META_CONTEXT,
      OPT.LIST_META_CONTEXT,
      0x1234,
      0xffffffff,
    ]) {
      p.send(option(o, Buffer.from('data is skipped')))
      const x = await readOptionReply(p)
      assert.equal(x.option, o)
      assert.equal(x.type, REP.ERR_UNSUP)
    }
    // GO data malformed three ways
    const bad = [
      Buffer.alloc(5),
      (() => {
        const b = goData('x')
        b.writeUInt32BE(1000, 0)
        return b
      })(),
      Buffer.concat([goData('x'), Buffer.alloc(1)]),
    ]
    for (const b of bad) {
      p.send(option(OPT.GO, b))
      assert.equal((await readOptionReply(p)).type, REP.ERR_INVALID)
    }
    // still in option haggling: GO works
    p.send(option(OPT.GO, goData('x')))
    for (;;) if ((await readOptionReply(p)).type === REP.ACK) break
    p.destroy()
    const q = await RawPeer.open(s.path)
    await q.greet()
    q.send(option(OPT.ABORT))
    assert.equal((await readOptionReply(q)).type, REP.ACK)
    assert.equal(await q.waitClosed(), true)
  } finally {
    await s.stop()
  }
})

test('READ, WRITE, FUA, FLUSH, TRIM, WRITE_ZEROES against a file, byte-exact', async () => {
  const s = await serveFile(4 * MiB)
  try {
    const c = await NbdClient.connect(s.path)
    assert.equal(c.size, 4 * MiB)
    assert.deepEqual(c.blockSize, { minimum: 1, preferred: 4096, maximum: 32 * MiB })
    const data = randomBytes(MiB + 333)
    await c.write(12345, data)
    assert.deepEqual(await c.read(12345, data.length), data)
    assert.deepEqual(readFileSync(s.image).subarray(12345, 12345 + data.length), data)
    const syncs = s.backend.stats.syncs
    await c.write(0, Buffer.from('fua!'), { fua: true })
    assert.equal(s.backend.stats.fuaWrites, 1)
    assert.equal(s.backend.stats.syncs, syncs + 1) // durable before the reply
    await c.flush()
    assert.equal(s.backend.stats.flushes, 1)
    await c.trim(0, MiB)
    assert.equal(s.backend.stats.trims, 1)
    await c.writeZeroes(12345, 1000, { noHole: true })
    assert.deepEqual(await c.read(12345, 1000), Buffer.alloc(1000))
    assert.deepEqual(await c.read(13345, 10), data.subarray(1000, 1010))
    // zero-length requests succeed without touching the backend
    const reads = s.backend.stats.reads
    assert.equal((await c.request(CMD.READ, { offset: 100, length: 0 })).error, 0)
    assert.equal((await c.request(CMD.WRITE, { offset: 100, length: 0 })).error, 0)
    assert.equal(s.backend.stats.reads, reads)
    // the last byte, exactly at the end
    await c.write(4 * MiB - 1, Buffer.from([0xab]))
    assert.deepEqual(await c.read(4 * MiB - 1, 1), Buffer.from([0xab]))
    await c.disconnect()
  } finally {
    await s.stop()
  }
})

test('FLUSH is answered only after the backend flush resolved', async () => {
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  let flushed = false
  const b = memoryBackend(4096, {
    flush: async () => {
      await gate
      flushed = true
    },
  })
  const s = await serve(b)
  try {
    const c = await NbdClient.connect(s.path)
    let replied = false
    const f = c.flush().then(() => (replied = true))
    // other requests are served meanwhile
    await c.write(0, Buffer.from('abc'))
    assert.deepEqual(await c.read(0, 3), Buffer.from('abc'))
    await sleep(50)
    assert.equal(replied, false)
    release()
    await f
    assert.equal(flushed, true)
    await c.disconnect()
  } finally {
    await s.stop()
  }
})

test('out-of-range and malformed requests get their NBD error and the connection goes on', async () => {
  const s = await serve(memoryBackend(64 * 1024))
  try {
    const c = await NbdClient.connect(s.path)
    const cases: [number, { offset?: number; length?: number; flags?: number }, number][] = [
      [CMD.READ, { offset: 64 * 1024, length: 1 }, NBD_ERR.EINVAL],
      [CMD.READ, { offset: 2 ** 53, length: 1 }, NBD_ERR.EINVAL],
      [CMD.READ, { offset: 0, length: 33 * MiB }, NBD_ERR.EINVAL],
      [CMD.TRIM, { offset: 1, length: 64 * 1024 }, NBD_ERR.EINVAL],
      [CMD.WRITE_ZEROES, { offset: 0, length: 64 * 1024 + 1 }, NBD_ERR.ENOSPC],
      [CMD.FLUSH, { offset: 1 }, NBD_ERR.EINVAL],
      [CMD.CACHE, { offset: 0, length: 1 }, NBD_ERR.EINVAL],
      [CMD.BLOCK_STATUS, { offset: 0, length: 1 }, NBD_ERR.EINVAL],
      [77, { offset: 0, length: 4 }, NBD_ERR.EINVAL],
      [CMD.READ, { offset: 0, length: 1, flags: CMD_FLAG.DF }, NBD_ERR.EINVAL],
    ]
    for (const [type, a, want] of cases)
      assert.equal((await c.request(type, a)).error, want, JSON.stringify([type, a]))
    // a WRITE past the end: ENOSPC, its payload skipped, the stream stays in step
    const w = await c.request(CMD.WRITE, { offset: 64 * 1024 - 10, payload: Buffer.alloc(100, 7) })
    assert.equal(w.error, NBD_ERR.ENOSPC)
    await c.write(0, Buffer.from('still here'))
    assert.deepEqual(await c.read(0, 10), Buffer.from('still here'))
    await c.disconnect()
  } finally {
    await s.stop()
  }
})

test('read-only export: EPERM for writes, READ_ONLY advertised', async () => {
  const s = await serve(memoryBackend(4096), { readOnly: true })
  try {
    const c = await NbdClient.connect(s.path)
    assert.ok((c.flags & TF.READ_ONLY) !== 0)
    assert.equal((await c.request(CMD.WRITE, { payload: Buffer.alloc(10) })).error, NBD_ERR.EPERM)
    assert.equal((await c.request(CMD.TRIM, { length: 10 })).error, NBD_ERR.EPERM)
    assert.equal((await c.request(CMD.WRITE_ZEROES, { length: 10 })).error, NBD_ERR.EPERM)
    assert.equal((await c.read(0, 4)).length, 4)
    await c.disconnect()
  } finally {
    await s.stop()
  }
})

test('backend failures answer EIO / mapped errors; the connection continues', async () => {
  let fail: string | undefined = 'EIO'
  const b = memoryBackend(4096)
  const inner = b.write.bind(b)
  b.write = async (o, d, f) => {
    if (fail !== undefined) throw Object.assign(new Error('disk says no'), { code: fail })
    return inner(o, d, f)
  }
  const s = await serve(b)
  try {
    const c = await NbdClient.connect(s.path)
    assert.equal((await c.request(CMD.WRITE, { payload: Buffer.alloc(10) })).error, NBD_ERR.EIO)
    fail = 'ENOSPC'
    assert.equal((await c.request(CMD.WRITE, { payload: Buffer.alloc(10) })).error, NBD_ERR.ENOSPC)
    fail = undefined
    await c.write(0, Buffer.from('ok'))
    // a backend returning the wrong length: EIO, never the wrong bytes
    b.read = async () => Buffer.alloc(3)
    assert.equal((await c.request(CMD.READ, { length: 10 })).error, NBD_ERR.EIO)
    // a backend throwing synchronously
    b.flush = () => {
      throw new Error('sync throw')
    }
    assert.equal((await c.request(CMD.FLUSH)).error, NBD_ERR.EIO)
    await c.disconnect()
  } finally {
    await s.stop()
  }
  const errs = s.events.filter((e) => e.type === 'backend-error')
  assert.equal(errs.length, 4)
  assert.deepEqual(
    errs.map((e) => e.type === 'backend-error' && [e.command, e.errno]),
    [
      ['WRITE', 'EIO'],
      ['WRITE', 'ENOSPC'],
      ['READ', 'EIO'],
      ['FLUSH', 'EIO'],
    ],
  )
})

test('WRITE_ZEROES without backend support writes zeroes; FUA then flushes', async () => {
  const b = memoryBackend(3 * MiB)
  b.data.fill(0xee)
  const s = await serve(b)
  try {
    const c = await NbdClient.connect(s.path)
    await c.writeZeroes(10, 2 * MiB + 5, { fua: true })
    assert.ok(b.data.subarray(10, 10 + 2 * MiB + 5).every((x) => x === 0))
    assert.equal(b.data[9], 0xee)
    assert.equal(b.data[10 + 2 * MiB + 5], 0xee)
    assert.deepEqual(b.calls.slice(-4), [
      'write 10 1048576',
      'write 1048586 1048576',
      'write 2097162 5',
      'flush',
    ])
    await c.disconnect()
  } finally {
    await s.stop()
  }
})

test('requests are served concurrently and replies may be out of order (matched by cookie)', async () => {
  const gates: (() => void)[] = []
  const b = memoryBackend(4096)
  b.read = (offset, length) =>
    new Promise((r) => gates.push(() => r(Buffer.alloc(length, offset & 0xff))))
  const s = await serve(b)
  try {
    const c = await NbdClient.connect(s.path)
    const a = c.read(1, 8)
    const bb = c.read(2, 8)
    while (gates.length < 2) await sleep(5)
    gates[1]!() // second finishes first
    assert.deepEqual(await bb, Buffer.alloc(8, 2))
    gates[0]!()
    assert.deepEqual(await a, Buffer.alloc(8, 1))
    await c.disconnect()
  } finally {
    await s.stop()
  }
})

test('NBD_CMD_DISC: requests in flight are answered, then the server closes', async () => {
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const b = memoryBackend(4096)
  const inner = b.read.bind(b)
  b.read = async (o, l) => {
    await gate
    return inner(o, l)
  }
  const s = await serve(b)
  try {
    const p = await RawPeer.open(s.path)
    await p.greet()
    p.send(option(OPT.GO, goData()))
    for (;;) if ((await readOptionReply(p)).type === REP.ACK) break
    p.send(
      Buffer.concat([
        encode(Request, { flags: 0, type: CMD.READ, cookie: 5n, offset: 0, length: 4 }),
        encode(Request, { flags: 0, type: CMD.DISC, cookie: 6n, offset: 0, length: 0 }),
        encode(Request, { flags: 0, type: CMD.READ, cookie: 7n, offset: 0, length: 4 }), // after DISC: ignored
      ]),
    )
    await sleep(30)
    release()
    assert.deepEqual(decode(SimpleReply, await p.read(16)), { error: 0, cookie: 5n })
    await p.read(4)
    assert.equal(await p.waitClosed(), true)
  } finally {
    await s.stop()
  }
})

test('server close: in-flight requests finish, handshakes are cut, the socket file goes', async () => {
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const b = memoryBackend(4096)
  b.flush = () => gate
  const s = await serve(b)
  const c = await NbdClient.connect(s.path)
  const pending = await RawPeer.open(s.path) // stays in the handshake
  const f = c.flush()
  await sleep(20)
  const closing = s.server.close({ timeoutMs: 5000 })
  assert.equal(await pending.waitClosed(), true)
  release()
  await f // answered before the connection ended
  await closing
  assert.throws(() => statSync(s.path), { code: 'ENOENT' })
  await assert.rejects(s.server.listen(s.path), { code: 'ERR_NBD_SHUTDOWN' })
  await s.stop()
})

test('constructor checks options and backend size', () => {
  const b = memoryBackend(4096)
  const bad: object[] = [
    { minBlockSize: 3 },
    { minBlockSize: 131072 },
    { preferredBlockSize: 256 },
    { preferredBlockSize: 1000 },
    { maxPayload: 33 * MiB },
    { maxPayload: 1000 },
    { exclusive: true, multiConn: true },
    { exportName: 'x'.repeat(4097) },
    { handshakeTimeoutMs: 0 },
    { maxInflight: 0 },
  ]
  for (const o of bad)
    assert.throws(() => new NbdServer(b, o), { code: 'ERR_NBD_ARG' }, JSON.stringify(o))
  for (const size of [-1, 1.5, 2 ** 53, 2n ** 60n, Number.NaN])
    assert.throws(() => new NbdServer({ ...b, size }), { code: 'ERR_NBD_ARG' }, String(size))
  assert.equal(new NbdServer({ ...b, size: 2n ** 40n }).size, 2 ** 40)
  // exclusive never advertises multi-conn, even over a shared-cache backend
  const shared = { ...b, sharedCache: true }
  assert.ok((new NbdServer(shared).transmissionFlags & TF.CAN_MULTI_CONN) !== 0)
  assert.equal(new NbdServer(shared, { exclusive: true }).transmissionFlags & TF.CAN_MULTI_CONN, 0)
  assert.equal(new NbdServer(b).transmissionFlags & TF.CAN_MULTI_CONN, 0)
})

test('readInto backends: each reply carries its own bytes; a failed readInto answers EIO', async () => {
  const size = 1 << 20
  const b = memoryBackend(size)
  b.data.set(randomBytes(size))
  let fail = false
  b.readInto = async (offset, target) => {
    await sleep(target.length % 3) // replies complete out of order
    if (fail) throw Object.assign(new Error('media error'), { code: 'EIO' })
    target.set(b.data.subarray(offset, offset + target.length))
  }
  const s = await serve(b)
  try {
    const c = await NbdClient.connect(s.path)
    const reads = [0, 4096, 1, 65536 + 7, 300_000, size - 5].map(
      (o, i) => [o, Math.min(size - o, 4096 * (i + 1) + i)] as const,
    )
    for (let round = 0; round < 3; round++) {
      const got = await Promise.all(reads.map(([o, n]) => c.read(o, n)))
      for (const [i, [o, n]] of reads.entries())
        assert.deepEqual(got[i], b.data.subarray(o, o + n), `read ${o}+${n}`)
    }
    fail = true
    assert.equal((await c.request(CMD.READ, { offset: 0, length: 8192 })).error, NBD_ERR.EIO)
    fail = false
    assert.deepEqual(await c.read(0, 8192), b.data.subarray(0, 8192))
    await c.disconnect()
  } finally {
    await s.stop()
  }
  const errs = s.events.filter((e) => e.type === 'backend-error')
  assert.deepEqual(
    errs.map((e) => e.type === 'backend-error' && [e.command, e.errno]),
    [['READ', 'EIO']],
  )
})
