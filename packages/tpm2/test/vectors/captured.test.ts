// Replays exchanges recorded from swtpm (data/captured/swtpm-0.7.json, see capture.ts): Ward must
// send the recorded command bytes exactly, and decode each response so that re-encoding its
// parameters gives the received bytes back (nothing lost, nothing invented).
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import {
  PasswordSession,
  ScriptedTransport,
  Tpm,
  TpmResponseError,
  encode,
  type Field,
} from '../../src/index.js'
import { cases } from './captured-cases.js'

interface Exchange {
  name: string
  source: string
  command: string
  response: string
}
const recorded = JSON.parse(
  readFileSync(
    new URL('../../../test/vectors/data/captured/swtpm-0.7.json', import.meta.url),
    'utf8',
  ),
) as Exchange[]

test('every case has a recording', () => {
  assert.deepEqual(
    recorded.map((r) => r.name),
    cases.map((c) => c.name),
  )
})

for (const c of cases) {
  const x = recorded.find((r) => r.name === c.name)!
  test(`${c.name} [${x.source}]`, async () => {
    const resp = Buffer.from(x.response, 'hex')
    const t = new ScriptedTransport([resp])
    const tpm = new Tpm(t)
    const sessions = Array.from({ length: c.sessions }, () => new PasswordSession())
    const rc = resp.readUInt32BE(6)
    if (rc !== 0) {
      await assert.rejects(tpm.runUnknown(c.command, c.args, { sessions }), (e: unknown) => {
        assert.ok(e instanceof TpmResponseError)
        assert.equal(e.rc, rc)
        return true
      })
    } else {
      const result = (await tpm.runUnknown(c.command, c.args, { sessions })) as Record<
        string,
        unknown
      >
      let at = 10 + 4 * c.command.responseHandles.length
      let end = resp.length
      if (c.sessions > 0) {
        const paramSize = resp.readUInt32BE(at)
        at += 4
        end = at + paramSize
      }
      assert.equal(
        Buffer.from(encode(c.command.response as Field, result)).toString('hex'),
        resp.subarray(at, end).toString('hex'),
      )
    }
    assert.equal(Buffer.from(t.sent[0]!).toString('hex'), x.command)
  })
}
