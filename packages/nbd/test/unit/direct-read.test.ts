// Direct reads (src/server/direct-read.ts): connections accepted by listen() read their input
// into the connection's own buffers (a 4 KiB staging buffer, or the rest of the WRITE payload
// being received). Whatever the socket boundaries, the bytes that reach the backend are exactly
// the bytes sent; input held while the connection is full survives later reads; a payload cut
// short by the client's end is not served; sockets the server did not accept read as before.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { test } from 'node:test'
import {
  CMD,
  NBD_ERR,
  NbdServer,
  OPT,
  OptionReplyHeader,
  REP,
  Request,
  SimpleReply,
  decode,
  encode,
} from '../../src/index.js'
import { adoptForDirectReads } from '../../src/server/direct-read.js'
import { NbdClient } from '../../src/testing/index.js'
import { RawPeer, goData, memoryBackend, option, serve, sleep, tempDir } from '../helpers.js'

const MiB = 1024 * 1024
const SIZE = 4 * MiB

/** A deterministic sequence in [0, 1) (xorshift32), so a failure can be replayed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x / 2 ** 32
  }
}

interface Write {
  readonly cookie: bigint
  readonly offset: number
  readonly data: Buffer
}

/** WRITE requests of awkward sizes (1 byte to 1 MiB + 1) at awkward offsets, non-overlapping. */
function writes(rand: () => number, count: number): Write[] {
  const sizes = [1, 15, 16, 17, 511, 4095, 4096, 4097, 8191, 65_536, 65_537, 262_144, MiB + 1]
  const out: Write[] = []
  let at = 0
  for (let i = 0; i < count; i++) {
    const n = i < sizes.length ? sizes[i]! : 1 + Math.floor(rand() * 20_000)
    at += Math.floor(rand() * 3)
    if (at + n > SIZE) break
    out.push({ cookie: BigInt(1000 + i), offset: at, data: randomBytes(n) })
    at += n
  }
  return out
}

const requestBytes = (w: Write): Buffer =>
  Buffer.concat([
    encode(Request, {
      flags: 0,
      type: CMD.WRITE,
      cookie: w.cookie,
      offset: w.offset,
      length: w.data.length,
    }),
    w.data,
  ])

/** Reads `count` simple replies; returns their cookies in arrival order, asserting no errors. */
async function replies(peer: RawPeer, count: number): Promise<bigint[]> {
  const cookies: bigint[] = []
  for (let i = 0; i < count; i++) {
    const r = decode(SimpleReply, await peer.read(SimpleReply.size, 20_000))
    assert.equal(r.error, 0, `reply ${i} is not an error`)
    cookies.push(r.cookie)
  }
  return cookies
}

/** Greeting, GO and its replies: the peer is in transmission. */
async function enter(peer: RawPeer): Promise<void> {
  await peer.greet()
  peer.send(option(OPT.GO, goData()))
  for (;;) {
    const h = decode(OptionReplyHeader, await peer.read(OptionReplyHeader.size))
    await peer.read(h.length)
    if (h.type === REP.ACK) return
    assert.equal(h.type, REP.INFO)
  }
}

test('listen(): a connection reads directly on this runtime; a socket given to attach() reads as before', async () => {
  const s = await serve(memoryBackend(SIZE))
  const { dir, cleanup } = tempDir()
  const own = createServer({ allowHalfOpen: true })
  const path = join(dir, 'own.sock')
  await new Promise<void>((r) => own.listen(path, () => r()))
  const events: { directReads: boolean }[] = []
  const attached = new NbdServer(memoryBackend(SIZE), {
    onEvent: (e) => {
      if (e.type === 'open') events.push(e)
    },
  })
  attached.attach(own)
  try {
    for (const [target, where] of [
      [s.path, 'listen()'],
      [path, 'attach()'],
    ] as const) {
      const c = await NbdClient.connect(target)
      const d = randomBytes(300_000)
      await c.write(4096, d)
      assert.deepEqual(await c.read(4096, d.length), d, where)
      await c.disconnect()
    }
    const opened = s.events.filter((e) => e.type === 'open')
    assert.deepEqual(
      opened.map((e) => e.directReads),
      [true],
      'the pinned Node allows re-wrapping the accepted handle (direct-read.ts)',
    )
    assert.deepEqual(
      events.map((e) => e.directReads),
      [false],
    )
  } finally {
    await s.stop()
    await attached.close()
    await new Promise<void>((r) => own.close(() => r()))
    cleanup()
  }
})

for (const [name, seed, piece] of [
  ['one socket write', 1, () => Infinity],
  ['pieces of 1 to 9,000 bytes', 2, undefined],
  ['pieces around the 4 KiB staging size', 3, (r: () => number) => 4090 + Math.floor(r() * 12)],
] as const)
  test(`WRITE payloads arrive byte-exact whatever the socket boundaries: ${name}`, async () => {
    const backend = memoryBackend(SIZE)
    const s = await serve(backend)
    const rand = prng(seed)
    const ws = writes(rand, 60)
    const stream = Buffer.concat(ws.map(requestBytes))
    const peer = await RawPeer.open(s.path)
    try {
      await enter(peer)
      const size = piece ?? ((r: () => number) => 1 + Math.floor(r() * 9000))
      for (let at = 0; at < stream.length;) {
        const n = Math.min(stream.length - at, size(rand))
        peer.send(stream.subarray(at, at + n))
        at += n
        if (rand() < 0.3) await sleep(1) // let the server read what is there
      }
      const got = await replies(peer, ws.length)
      assert.deepEqual(
        [...got].sort((a, b) => (a < b ? -1 : 1)),
        ws.map((w) => w.cookie),
      )
      for (const w of ws)
        assert.ok(
          backend.data.subarray(w.offset, w.offset + w.data.length).equals(w.data),
          `write ${w.cookie} (${w.data.length} bytes at ${w.offset}) landed byte-exact`,
        )
    } finally {
      peer.destroy()
      await s.stop()
    }
  })

test('a full connection (maxInflight 1, slow backend): pipelined input held meanwhile survives the reads that follow', async () => {
  const data = Buffer.alloc(SIZE)
  let slow = 0
  const backend = memoryBackend(SIZE, {
    write: async (offset, d) => {
      const copy = Buffer.from(d) // the payload buffer is the server's again once this settles
      await sleep(slow++ % 4 === 0 ? 5 : 0)
      copy.copy(data, offset)
    },
  })
  const s = await serve(backend, { maxInflight: 1 })
  const rand = prng(4)
  // small requests: many headers per staging read, some cut by its end
  const ws: Write[] = []
  for (let i = 0, at = 0; i < 200; i++) {
    const n = 1 + Math.floor(rand() * 700)
    ws.push({ cookie: BigInt(i + 1), offset: at, data: randomBytes(n) })
    at += n + 5
  }
  const peer = await RawPeer.open(s.path)
  try {
    await enter(peer)
    peer.send(Buffer.concat(ws.map(requestBytes)))
    const got = await replies(peer, ws.length)
    assert.deepEqual(
      got,
      ws.map((w) => w.cookie),
      'one at a time, in order',
    )
    for (const w of ws)
      assert.ok(
        data.subarray(w.offset, w.offset + w.data.length).equals(w.data),
        `write ${w.cookie}`,
      )
  } finally {
    peer.destroy()
    await s.stop()
  }
})

test('the client ends in the middle of a payload read straight into its buffer: the earlier request is answered, the cut one is not served', async () => {
  const backend = memoryBackend(SIZE)
  const s = await serve(backend)
  const first = { cookie: 1n, offset: 0, data: randomBytes(8192) }
  const peer = await RawPeer.open(s.path)
  try {
    await enter(peer)
    peer.send(requestBytes(first))
    assert.deepEqual(await replies(peer, 1), [1n])
    const cut = encode(Request, { flags: 0, type: CMD.WRITE, cookie: 2n, offset: MiB, length: MiB })
    peer.send(cut)
    await sleep(20) // the header alone: the payload that follows is read into its own buffer
    peer.send(Buffer.alloc(300_000, 0xee))
    await sleep(20)
    peer.socket.end()
    assert.equal(await peer.waitClosed(5000), true, 'the server ends the connection')
    assert.ok(backend.data.subarray(0, 8192).equals(first.data))
    assert.equal(backend.data.subarray(MiB, 2 * MiB).indexOf(0xee), -1, 'the cut write never ran')
    assert.deepEqual(
      backend.calls.filter((c) => c.startsWith('write')),
      ['write 0 8192'],
    )
    // and the server goes on
    const c = await NbdClient.connect(s.path)
    const d = randomBytes(100_000)
    await c.write(MiB, d)
    assert.deepEqual(await c.read(MiB, d.length), d)
    await c.disconnect()
  } finally {
    peer.destroy()
    await s.stop()
  }
})

test('a refused WRITE (past the end) is skipped through the staging buffer; the next request is served', async () => {
  const backend = memoryBackend(SIZE)
  const s = await serve(backend)
  const peer = await RawPeer.open(s.path)
  try {
    await enter(peer)
    const bad = encode(Request, {
      flags: 0,
      type: CMD.WRITE,
      cookie: 7n,
      offset: SIZE - 100,
      length: 200_000,
    })
    peer.send(Buffer.concat([bad, Buffer.alloc(200_000, 0xab)]))
    const good = { cookie: 8n, offset: 0, data: randomBytes(5000) }
    peer.send(requestBytes(good))
    const r1 = decode(SimpleReply, await peer.read(SimpleReply.size))
    assert.deepEqual([r1.cookie, r1.error], [7n, NBD_ERR.ENOSPC])
    assert.deepEqual(await replies(peer, 1), [8n])
    assert.ok(backend.data.subarray(0, 5000).equals(good.data))
  } finally {
    peer.destroy()
    await s.stop()
  }
})

test('adoptForDirectReads leaves a socket that already reads, or is no net socket, as it is', async () => {
  const { dir, cleanup } = tempDir()
  const path = join(dir, 'x.sock')
  const accepted: Socket[] = []
  const srv = createServer({ allowHalfOpen: true }, (sock) => accepted.push(sock))
  await new Promise<void>((r) => srv.listen(path, () => r()))
  try {
    const { connect } = await import('node:net')
    const client = connect(path)
    await new Promise<void>((r) => client.once('connect', () => r()))
    for (let i = 0; i < 100 && accepted.length === 0; i++) await sleep(10)
    const reader = { target: () => Buffer.alloc(16), received: () => undefined }
    // not accepted paused: it is reading already
    assert.equal(adoptForDirectReads(accepted[0]!, reader), undefined)
    const got = new Promise<Buffer>((r) => accepted[0]!.once('data', r))
    client.write('still works')
    assert.equal((await got).toString(), 'still works')
    // something that only looks like a socket
    const fake = Object.create(accepted[0]!) as Socket & { _handle: unknown }
    Object.defineProperty(fake, '_handle', { value: {} })
    assert.equal(adoptForDirectReads(fake, reader), undefined)
    client.destroy()
  } finally {
    for (const a of accepted) a.destroy()
    await new Promise<void>((r) => srv.close(() => r()))
    cleanup()
  }
})
