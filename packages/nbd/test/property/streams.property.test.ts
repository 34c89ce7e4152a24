import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import fc from 'fast-check'
import {
  CMD,
  CMD_FLAG,
  MAGIC,
  NBD_ERR,
  OPT,
  OptionReplyHeader,
  ServerGreeting,
  SimpleReply,
  decode,
  type NbdEvent,
} from '../../src/index.js'
import { NbdClient } from '../../src/testing/index.js'
import { goPrefix, memoryBackend, rawExchange, serve, type Running } from '../helpers.js'

const SIZE = 1 << 20
const MAX_PAYLOAD = 64 * 1024
const errnos = new Set<number>(Object.values(NBD_ERR))

interface Req {
  readonly type: number
  readonly flags: number
  readonly cookie: bigint
  readonly offset: bigint
  readonly length: number
  readonly payload: boolean
}

/** Request header bytes, built by hand (the property must not trust the codec under test). */
function header(r: Req): Buffer {
  const b = Buffer.alloc(28)
  b.writeUInt32BE(MAGIC.REQUEST, 0)
  b.writeUInt16BE(r.flags, 4)
  b.writeUInt16BE(r.type, 6)
  b.writeBigUInt64BE(r.cookie, 8)
  b.writeBigUInt64BE(r.offset, 16)
  b.writeUInt32BE(r.length, 24)
  return b
}

const u64 = (n: number | bigint): bigint => BigInt(n)
const reqArb: fc.Arbitrary<Req> = fc
  .record({
    type: fc.oneof(
      {
        weight: 8,
        arbitrary: fc.constantFrom(CMD.READ, CMD.WRITE, CMD.FLUSH, CMD.TRIM, CMD.WRITE_ZEROES),
      },
      { weight: 1, arbitrary: fc.constantFrom(CMD.DISC, CMD.CACHE, CMD.BLOCK_STATUS, CMD.RESIZE) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
    ),
    flags: fc.oneof(
      { weight: 6, arbitrary: fc.constant(0) },
      {
        weight: 2,
        arbitrary: fc.constantFrom(CMD_FLAG.FUA, CMD_FLAG.NO_HOLE, CMD_FLAG.DF, CMD_FLAG.FAST_ZERO),
      },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
    ),
    cookie: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    offset: fc.oneof(
      fc.constantFrom(
        u64(0),
        u64(SIZE),
        u64(SIZE - 512),
        u64(SIZE + 1),
        2n ** 53n,
        2n ** 63n,
        2n ** 64n - 1n,
      ),
      fc.integer({ min: 0, max: SIZE }).map(u64),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    ),
    length: fc.oneof(
      fc.constantFrom(0, 1, 512, 4096, MAX_PAYLOAD, MAX_PAYLOAD + 1, SIZE, 0xffffffff),
      fc.integer({ min: 0, max: 8192 }),
    ),
  })
  .map((r) => ({ ...r, payload: r.type === CMD.WRITE && r.length <= MAX_PAYLOAD }))

type Mutation =
  | { readonly kind: 'flip'; readonly at: number; readonly xor: number }
  | { readonly kind: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: 'truncate'; readonly at: number }

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('flip' as const),
      at: fc.nat(),
      xor: fc.integer({ min: 1, max: 255 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
)

function body(reqs: readonly Req[], mutations: readonly Mutation[]): Buffer {
  let b = Buffer.concat(
    reqs.flatMap((r) => (r.payload ? [header(r), Buffer.alloc(r.length, 0x5a)] : [header(r)])),
  )
  for (const m of mutations) {
    if (b.length === 0) break
    const at = m.at % b.length
    if (m.kind === 'flip') b[at] = b[at]! ^ m.xor
    else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)])
    else b = b.subarray(0, at)
  }
  return b
}

interface Expected {
  /** Replies owed, by cookie: the request type and length. */
  readonly owed: Map<bigint, { type: number; length: number }>
  /** Cookies seen twice (a mutation made them collide): the run is not judged. */
  readonly ambiguous: boolean
}

/**
 * The framing as the spec defines it, independently of the server: requests in order, a WRITE
 * carries `length` payload bytes; the stream stops at a bad magic, an oversized WRITE (the server
 * closes), NBD_CMD_DISC, or an incomplete request (the client half-closed).
 */
function model(b: Buffer): Expected {
  const owed = new Map<bigint, { type: number; length: number }>()
  let ambiguous = false
  for (let at = 0; at + 28 <= b.length;) {
    if (b.readUInt32BE(at) !== MAGIC.REQUEST) break
    const type = b.readUInt16BE(at + 6)
    const cookie = b.readBigUInt64BE(at + 8)
    const length = b.readUInt32BE(at + 24)
    if (type === CMD.DISC) break
    let next = at + 28
    if (type === CMD.WRITE) {
      if (length > MAX_PAYLOAD) break
      next += length
      if (next > b.length) break
    }
    if (owed.has(cookie)) ambiguous = true
    owed.set(cookie, { type, length })
    at = next
  }
  return { owed, ambiguous }
}

/** Split the server's transmission output into simple replies; every one must be well-formed. */
function checkReplies(out: Buffer, e: Expected): void {
  const owed = new Map(e.owed)
  let at = 0
  while (at < out.length) {
    assert.ok(out.length - at >= 16, `truncated reply at ${at}`)
    const r = decode(SimpleReply, out, at) // magic checked
    at += 16
    assert.ok(r.error === 0 || errnos.has(r.error), `error value ${r.error}`)
    const req = owed.get(r.cookie)
    assert.ok(req !== undefined, `reply for cookie ${r.cookie} not owed (or answered twice)`)
    owed.delete(r.cookie)
    if (req.type === CMD.READ && r.error === 0) {
      assert.ok(req.length <= MAX_PAYLOAD)
      at += req.length
      assert.ok(at <= out.length, 'READ payload cut short')
    }
  }
  assert.equal(owed.size, 0, `${owed.size} requests never answered`)
}

let s: Running
let honest: NbdClient
const events: NbdEvent[] = []

before(async () => {
  s = await serve(memoryBackend(SIZE), {
    maxPayload: MAX_PAYLOAD,
    handshakeTimeoutMs: 1000,
    maxInflight: 4,
    onEvent: (e) => events.push(e),
  })
  honest = await NbdClient.connect(s.path, { timeoutMs: 5000 })
})

after(async () => {
  await honest.disconnect()
  await s.stop()
})

/** Output after the greeting and the GO replies (INFO export, INFO block size, ACK). */
const PREFIX_OUT = ServerGreeting.size + (20 + 12) + (20 + 14) + 20

test(
  'random and mutated request streams: no exception, no hang, every reply well-formed',
  { timeout: 120_000 },
  async () => {
    const prefix = goPrefix()
    let judged = 0
    await fc.assert(
      fc.asyncProperty(
        fc.array(reqArb, { minLength: 1, maxLength: 24 }),
        fc.array(mutationArb, { maxLength: 3 }),
        async (reqs, mutations) => {
          const b = body(reqs, mutations)
          const expected = model(b)
          const r = await rawExchange(s.path, Buffer.concat([prefix, b]), { end: true, ms: 8000 })
          assert.equal(r.closed, true, 'the server ended the connection (no hang)')
          assert.ok(r.output.length >= PREFIX_OUT)
          // the handshake replies are intact
          let at = ServerGreeting.size
          for (let i = 0; i < 3; i++) {
            const h = decode(OptionReplyHeader, r.output, at)
            assert.equal(h.option, OPT.GO)
            at += 20 + h.length
          }
          if (expected.ambiguous) return
          judged++
          checkReplies(r.output.subarray(PREFIX_OUT), expected)
        },
      ),
      { numRuns: 150 },
    )
    assert.ok(judged > 100)
    // the long-lived client was unaffected, and nothing was an internal error
    await honest.write(0, Buffer.from('alive'))
    assert.deepEqual(await honest.read(0, 5), Buffer.from('alive'))
    assert.equal(
      events.filter((e) => e.type === 'close' && e.code === 'ERR_NBD_INTERNAL').length,
      0,
    )
  },
)

test(
  'random and mutated handshakes: closed in time, greeting intact, other clients served',
  { timeout: 120_000 },
  async () => {
    const good = goPrefix()
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
          fc
            .tuple(fc.nat(), fc.integer({ min: 1, max: 255 }), fc.nat({ max: good.length }))
            .map(([at, xor, cut]) => {
              const b = Buffer.from(good)
              b[at % b.length] = b[at % b.length]! ^ xor
              return b.subarray(0, cut)
            }),
        ),
        async (bytes) => {
          const r = await rawExchange(s.path, bytes, { end: true, ms: 5000 })
          assert.equal(r.closed, true)
          assert.equal(r.output.readBigUInt64BE(0), MAGIC.NBDMAGIC)
        },
      ),
      { numRuns: 100 },
    )
    // a peer that does not half-close but stalls: the handshake timeout ends it
    const stalled = await rawExchange(s.path, good.subarray(0, 7), { end: false, ms: 5000 })
    assert.equal(stalled.closed, true)
    await honest.write(8, Buffer.from('still'))
    assert.deepEqual(await honest.read(8, 5), Buffer.from('still'))
    assert.equal(
      events.filter((e) => e.type === 'close' && e.code === 'ERR_NBD_INTERNAL').length,
      0,
    )
  },
)
