/**
 * Issue 10 (low): one client opening streaming Encrypt contexts up to the server-wide limit
 * locked every other client out for 5 minutes. Each identity now has its own limit
 * (`ward kms serve --max-streams-per-client`). Its neighbour: the Log operation let one client
 * write 1,000 × 4 KiB of text to the server log per request; now 100 per identity per 10 s.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, test } from 'node:test'
import {
  BatchErrorContinuationOption,
  BlockCipherMode,
  Operation,
  PaddingMethod,
  ResultReason,
  Tag,
  bool,
  bytes,
  enumeration,
  requiredValue,
  structure,
  text,
} from '@ward/kmip'
import type { KmipTestClient } from '../../src/testing.js'
import { P, startFixture, uid, registerSymmetric } from '../helpers.js'
import type { Fixture } from '../helpers.js'

let f: Fixture
before(async () => {
  f = await startFixture({ maxStreamsPerClient: 4 })
})
after(async () => {
  await f.close()
})

async function key(c: KmipTestClient): Promise<string> {
  const r = await c.call(Operation.Register, registerSymmetric({ key: randomBytes(16), usage: 12 }))
  const id = requiredValue(r, Tag.UniqueIdentifier, 'TextString')
  await c.call(Operation.Activate, P(uid(id)))
  return id
}

const open = (c: KmipTestClient, id: string) =>
  c.batch([
    {
      op: Operation.Encrypt,
      payload: P(
        uid(id),
        structure(Tag.CryptographicParameters, [
          enumeration(Tag.BlockCipherMode, BlockCipherMode.CBC),
          enumeration(Tag.PaddingMethod, PaddingMethod.PKCS5),
        ]),
        bytes(Tag.Data, randomBytes(16)),
        bool(Tag.InitIndicator, true),
      ),
    },
  ])

test('one identity hits its own stream limit; another identity still opens streams', async () => {
  const greedy = await f.client('greedy', 2, 0)
  const other = await f.client('other', 2, 0)
  const gk = await key(greedy)
  const ok = await key(other)
  for (let i = 0; i < 4; i++) assert.equal((await open(greedy, gk))[0]!.status, 0)
  const [refused] = await open(greedy, gk)
  assert.equal(refused!.status, 1)
  assert.equal(refused!.reason, ResultReason.GeneralFailure)
  assert.match(refused!.message ?? '', /ERR_KMS_STREAM_LIMIT/)
  const [theirs] = await open(other, ok)
  assert.equal(theirs!.status, 0)
  assert.ok(requiredValue(theirs!.payload, Tag.CorrelationValue, 'ByteString').length === 16)
})

test('Log: one identity is limited to 100 messages per 10 s (the rest fail, not logged); another still logs', async () => {
  const chatty = await f.client('chatty', 2, 1)
  const quiet = await f.client('quiet', 2, 1)
  const items = Array.from({ length: 150 }, (_, i) => ({
    op: Operation.Log,
    payload: P(text(Tag.LogMessage, `line ${i} ${'x'.repeat(4000)}`)),
  }))
  const headers = [
    enumeration(Tag.BatchErrorContinuationOption, BatchErrorContinuationOption.Continue),
  ]
  const r = await chatty.batch(items, headers)
  assert.equal(r.filter((i) => i.status === 0).length, 100)
  const refused = r.filter((i) => i.status !== 0)
  assert.equal(refused.length, 50)
  assert.match(refused[0]!.message ?? '', /ERR_KMS_LOG_RATE/)
  const [ok] = await quiet.batch([
    { op: Operation.Log, payload: P(text(Tag.LogMessage, 'quiet one')) },
  ])
  assert.equal(ok!.status, 0)
  const logged = f.logLines.filter((l) => l.includes('KMIP Log operation'))
  assert.equal(logged.filter((l) => l.includes('"identity":"chatty"')).length, 100)
  assert.equal(logged.filter((l) => l.includes('quiet one')).length, 1)
})
