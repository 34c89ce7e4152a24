/**
 * Hostile input over the socket: truncated, huge lengths, deep nesting, wrong types, unknown
 * tags, bad padding, a 100 MiB length prefix, random and mutated TTLV. Each gets a KMIP error
 * response or a clean close; the process never crashes, memory stays bounded, and another
 * client keeps being served throughout.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import fc from 'fast-check'
import { KmipTestClient } from '../../src/testing.js'
import { Tag, decodeTtlv, Operation, structure, text, find, optionalValue } from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'
import { createAes, encodeRequest, frame, requestMessage, startFixture } from '../helpers.js'
import type { Fixture } from '../helpers.js'

const validCreate = (): Buffer => requestMessage(Operation.Create, createAes())

/** Send raw bytes on a fresh connection: the decoded response, or 'closed'. */
async function probe(f: Fixture, wire: Uint8Array, timeoutMs = 5000): Promise<TtlvItem | 'closed'> {
  const c = await KmipTestClient.connect(f.server.port, await f.tls('mallory'))
  try {
    const res = await Promise.race([
      c.sendRaw(wire),
      new Promise<never>((_, rej) =>
        setTimeout(() => rej(new Error('no answer and no close')), timeoutMs),
      ),
    ])
    return decodeTtlv(res)
  } catch (e) {
    if ((e as Error).message === 'connection closed') return 'closed'
    throw e
  } finally {
    c.close()
  }
}

const failed = (r: TtlvItem | 'closed'): boolean => {
  if (r === 'closed') return true
  assert.equal(r.tag, Tag.ResponseMessage)
  const item = find(r, Tag.BatchItem)
  return optionalValue(item, Tag.ResultStatus, 'Enumeration') === 1
}

describe('bad input over the socket', () => {
  let f: Fixture
  let bystander: KmipTestClient
  before(async () => {
    f = await startFixture({ idleTimeoutMs: 5000, readTimeoutMs: 1500 })
    bystander = await f.client('bystander')
  })
  after(async () => {
    await f.close()
  })

  const stillServing = async (): Promise<void> => {
    // the fixture's idle timeout (5 s) may close an idle bystander during a long property run on
    // a loaded machine: that is the server working, so the bystander comes back like a client would
    if (bystander.closed) bystander = await f.client('bystander')
    const r = decodeTtlv(await bystander.sendRaw(validCreate()))
    assert.equal(optionalValue(find(r, Tag.BatchItem), Tag.ResultStatus, 'Enumeration'), 0)
  }

  test('handcrafted malformed messages', async () => {
    const good = Buffer.from(validCreate())
    const cases: Record<string, Buffer> = {
      // outer length says more than the inner items hold
      'inner length beyond parent': (() => {
        const b = Buffer.from(good)
        b.writeUInt32BE(0x7fffffff, 8 + 4)
        return b
      })(),
      'deep nesting (200 levels)': (() => {
        let inner = frame(Tag.RequestPayload, 1, Buffer.alloc(0))
        for (let i = 0; i < 200; i++) inner = frame(Tag.RequestPayload, 1, inner)
        return frame(Tag.RequestMessage, 1, inner)
      })(),
      'wrong type for Operation': encodeRequest([
        structure(Tag.BatchItem, [text(Tag.Operation, 'Create')]),
      ]),
      'unknown tag': frame(Tag.RequestMessage, 1, frame(0x42fff0, 2, Buffer.from([0, 0, 0, 1]))),
      'bad padding': (() => {
        const t = frame(Tag.UniqueIdentifier, 7, Buffer.from('abc'))
        t[t.length - 1] = 0x55
        return frame(Tag.RequestMessage, 1, t)
      })(),
      'unknown item type': frame(
        Tag.RequestMessage,
        1,
        frame(Tag.UniqueIdentifier, 0x0f, Buffer.alloc(8)),
      ),
      'not a request message': frame(Tag.ResponseMessage, 1, Buffer.alloc(0)),
      'batch count mismatch': encodeRequest([], { batchCount: 5 }),
      'unsupported version 9.9': requestMessage(
        Operation.Query,
        structure(Tag.RequestPayload, []),
        {
          version: [9, 9],
        },
      ),
      'not TTLV at all': Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
    }
    for (const [name, wire] of Object.entries(cases)) {
      const r = await probe(f, wire)
      assert.ok(failed(r), `${name}: must fail`)
    }
    await stillServing()
  })

  test('truncated frame: closed after the read timeout, nothing else affected', async () => {
    const good = Buffer.from(validCreate())
    const r = await probe(f, good.subarray(0, good.length - 10), 5000)
    assert.equal(r, 'closed')
    await stillServing()
  })

  test('100 MiB length prefix: clean close, no allocation', async () => {
    const before = process.memoryUsage().rss
    const h = Buffer.alloc(8)
    h.writeUIntBE(Tag.RequestMessage, 0, 3)
    h[3] = 1
    h.writeUInt32BE(100 * 1024 * 1024, 4)
    for (let i = 0; i < 5; i++)
      assert.equal(await probe(f, Buffer.concat([h, Buffer.alloc(4096)])), 'closed')
    assert.ok(process.memoryUsage().rss - before < 48 * 1024 * 1024, 'RSS stays bounded')
    await stillServing()
  })

  test('random and mutated TTLV (fast-check): error response or clean close', async () => {
    const good = Buffer.from(validCreate())
    const rssBefore = process.memoryUsage().rss
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ minLength: 8, maxLength: 300 }).map((b) => {
            const x = Buffer.from(b)
            x[0] = 0x42
            x[3] = 1
            x.writeUInt32BE(Math.max(0, x.length - 8), 4)
            return x
          }),
          fc
            .array(fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 0, max: 255 })), {
              minLength: 1,
              maxLength: 6,
            })
            .map((muts) => {
              const x = Buffer.from(good)
              for (const [at, v] of muts) if (at >= 8) x[at] = v
              return x
            }),
        ),
        async (wire) => {
          const r = await probe(f, wire, 3000)
          if (r !== 'closed') assert.equal(r.tag, Tag.ResponseMessage)
          // The bystander is served between probes too (and so never sits idle past the 5 s idle
          // timeout, which closed it once when the 120 probes took 6 s on a loaded machine).
          await stillServing()
        },
      ),
      { numRuns: 120, seed: 5696 },
    )
    assert.ok(process.memoryUsage().rss - rssBefore < 64 * 1024 * 1024, 'RSS stays bounded')
    await stillServing()
  })
})
