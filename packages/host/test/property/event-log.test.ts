import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { encodeEventLog, parseEventLog, replay, HostError } from '../../src/index.js'

const event = fc.record({
  pcr: fc.integer({ min: 0, max: 23 }),
  type: fc.constantFrom(0x4, 0xd, 0x80000001, 0x80000002),
  data: fc.uint8Array({ maxLength: 200 }),
})

test('event log: encode → parse gives the events back and replay equals extending by hand', () => {
  fc.assert(
    fc.property(fc.array(event, { maxLength: 30 }), (events) => {
      const parsed = parseEventLog(encodeEventLog(events))
      assert.equal(parsed.length, events.length)
      const pcrs = new Map<number, Buffer>()
      for (const [i, e] of events.entries()) {
        assert.equal(parsed[i]!.pcr, e.pcr)
        assert.equal(parsed[i]!.type, e.type)
        assert.deepEqual(new Uint8Array(parsed[i]!.data), e.data)
        const d = createHash('sha256').update(e.data).digest()
        pcrs.set(
          e.pcr,
          createHash('sha256')
            .update(pcrs.get(e.pcr) ?? Buffer.alloc(32))
            .update(d)
            .digest(),
        )
      }
      assert.deepEqual(replay(parsed), pcrs)
    }),
    { seed: 4242, numRuns: 200 },
  )
})

test('event log: random bytes and mutated logs only ever throw ERR_HOST_EVENTLOG', () => {
  const valid = encodeEventLog([
    { pcr: 7, type: 0x80000001, data: Buffer.from('secure boot') },
    { pcr: 12, type: 0xd, data: Buffer.from('ward 0.1.0') },
  ])
  const check = (bytes: Uint8Array): void => {
    try {
      parseEventLog(bytes)
    } catch (e) {
      assert.ok(e instanceof HostError, String(e))
      assert.equal(e.code, 'ERR_HOST_EVENTLOG')
    }
  }
  fc.assert(fc.property(fc.uint8Array({ maxLength: 400 }), check), { seed: 7, numRuns: 500 })
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: valid.length - 1 }),
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: valid.length }),
      (i, b, cut) => {
        const m = Buffer.from(valid)
        m[i] = b
        check(m)
        check(m.subarray(0, cut))
      },
    ),
    { seed: 8, numRuns: 1000 },
  )
  assert.throws(() => parseEventLog(valid.subarray(0, valid.length - 1)), {
    code: 'ERR_HOST_EVENTLOG',
  })
})
