import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  ScriptedTransport,
  Tpm,
  TpmError,
  TpmResponseError,
  TPM_RC,
  commands,
  getRandom,
  readPcrs,
  listHandles,
  nvRead,
} from '../../src/index.js'

/** A response: tag, size, rc, then body. */
function rsp(body: string, o: { tag?: number; rc?: number; size?: number } = {}): Uint8Array {
  const b = Buffer.from(body, 'hex')
  const h = Buffer.alloc(10)
  h.writeUInt16BE(o.tag ?? 0x8001)
  h.writeUInt32BE(o.size ?? 10 + b.length, 2)
  h.writeUInt32BE(o.rc ?? 0, 6)
  return Buffer.concat([h, b])
}

test('GetRandom: the command bytes are Part 3 §16.1 and the response decodes', async () => {
  const t = new ScriptedTransport([rsp('0004deadbeef')])
  const tpm = new Tpm(t)
  const r = await tpm.run(commands.GetRandom, { bytesRequested: 16 })
  assert.equal(Buffer.from(t.sent[0]!).toString('hex'), '80010000000c0000017b0010')
  assert.equal(Buffer.from(r.randomBytes).toString('hex'), 'deadbeef')
})

test('response codes are decoded once: base, handle/parameter/session subject', async () => {
  const cases: [number, number, string | undefined, number | undefined][] = [
    [0x98e, TPM_RC.AUTH_FAIL, 'session', 1],
    [0x1d5, TPM_RC.SIZE, 'parameter', 1],
    [0x2c4, TPM_RC.VALUE, 'parameter', 2],
    [0x18b, TPM_RC.HANDLE, 'handle', 1],
    [0x28b, TPM_RC.HANDLE, 'handle', 2],
    [0x99d, TPM_RC.POLICY_FAIL, 'session', 1],
    [0x902, TPM_RC.OBJECT_MEMORY, undefined, undefined],
    [0x14c, TPM_RC.NV_DEFINED, undefined, undefined],
  ]
  for (const [rc, base, kind, index] of cases) {
    const tpm = new Tpm(new ScriptedTransport([rsp('', { rc })]))
    await assert.rejects(tpm.run(commands.GetRandom, { bytesRequested: 1 }), (e: unknown) => {
      assert.ok(e instanceof TpmResponseError)
      assert.equal(e.code, 'ERR_TPM_RC')
      assert.equal(e.rc, rc)
      assert.equal(e.base, base)
      assert.equal(e.subject?.kind, kind)
      assert.equal(e.subject?.index, index)
      assert.equal(e.expose, false)
      return true
    })
  }
})

test('TPM_RC_RETRY is retried, other warnings are not', async () => {
  const t = new ScriptedTransport([
    rsp('', { rc: TPM_RC.RETRY }),
    rsp('', { rc: TPM_RC.YIELDED }),
    rsp('000101'),
  ])
  const r = await new Tpm(t).run(commands.GetRandom, { bytesRequested: 1 })
  assert.equal(r.randomBytes[0], 1)
  assert.equal(t.sent.length, 3)
  const t2 = new ScriptedTransport([rsp('', { rc: TPM_RC.OBJECT_MEMORY })])
  await assert.rejects(new Tpm(t2).run(commands.GetRandom, { bytesRequested: 1 }), {
    code: 'ERR_TPM_RC',
  })
  assert.equal(t2.sent.length, 1)
})

const malformed: [string, Uint8Array][] = [
  ['size field larger than the bytes', rsp('0004deadbeef', { size: 40 })],
  ['size field smaller than the bytes', rsp('0004deadbeef', { size: 12 })],
  ['TPM2B longer than the response', rsp('0010dead')],
  ['TPM2B over its bound (65 > 64)', rsp('0041' + '00'.repeat(65))],
  ['trailing bytes after the parameters', rsp('0001aa00')],
  ['error code with a body', rsp('0001aa', { rc: 0x101 })],
  ['sessions tag on a command without sessions', rsp('0001aa', { tag: 0x8002 })],
  ['unknown tag', rsp('0001aa', { tag: 0x1234 })],
  ['header only, truncated', Buffer.from('8001000000', 'hex')],
  ['empty', new Uint8Array(0)],
]
for (const [name, bytes] of malformed)
  test(`malformed response → coded error: ${name}`, async () => {
    const tpm = new Tpm(new ScriptedTransport([bytes]))
    await assert.rejects(tpm.run(commands.GetRandom, { bytesRequested: 4 }), (e: unknown) => {
      assert.ok(e instanceof TpmError, String(e))
      assert.match(e.code, /^ERR_TPM_(DECODE|RC)$/)
      return true
    })
  })

test('sessions area: parameterSize beyond the response and missing session entries are refused', async () => {
  // NV_Read with a password session: handles none in response, paramSize, params, session ack
  const okBody = '00000004' + '0002abcd' + '0000' + '01' + '0000'
  // without a size, nvRead asks NV_ReadPublic first: a truncated answer is refused
  const tpm = new Tpm(new ScriptedTransport([rsp('000e01c00002000b')]))
  await assert.rejects(nvRead(tpm, 0x01c00002), { code: 'ERR_TPM_DECODE' })
  const tpm2 = new Tpm(new ScriptedTransport([rsp('000000ff0002abcd', { tag: 0x8002 })]))
  await assert.rejects(nvRead(tpm2, 0x01c00002, { size: 2 }), { code: 'ERR_TPM_DECODE' })
  const tpm3 = new Tpm(new ScriptedTransport([rsp('000000040002abcd', { tag: 0x8002 })]))
  await assert.rejects(nvRead(tpm3, 0x01c00002, { size: 2 }), { code: 'ERR_TPM_DECODE' })
  const tpm4 = new Tpm(new ScriptedTransport([rsp(okBody, { tag: 0x8002 })]))
  assert.equal(Buffer.from(await nvRead(tpm4, 0x01c00002, { size: 2 })).toString('hex'), 'abcd')
})

test('NV_Read returning fewer bytes than asked is refused', async () => {
  const body = '00000003' + '0001ab' + '0000' + '01' + '0000'
  const tpm = new Tpm(new ScriptedTransport([rsp(body, { tag: 0x8002 })]))
  await assert.rejects(nvRead(tpm, 0x01c00002, { size: 2 }), { code: 'ERR_TPM_DECODE' })
})

test('PCR_Read whose selection and values disagree is refused', async () => {
  // updateCounter, selection sha256 pcr 0+1, but a single digest
  const body = '00000001' + '00000001000b03030000' + '00000001' + '0020' + '00'.repeat(32)
  const tpm = new Tpm(new ScriptedTransport([rsp(body)]))
  await assert.rejects(readPcrs(tpm, [0, 1]), { code: 'ERR_TPM_DECODE' })
  const wrongSize = '00000001' + '00000001000b03010000' + '00000001' + '0014' + '00'.repeat(20)
  await assert.rejects(readPcrs(new Tpm(new ScriptedTransport([rsp(wrongSize)])), [0]), {
    code: 'ERR_TPM_DECODE',
  })
})

test('GetCapability with an unexpected capability selector is refused', async () => {
  const body = '00' + '00000009' + '00000000'
  await assert.rejects(listHandles(new Tpm(new ScriptedTransport([rsp(body)])), 'persistent'), {
    code: 'ERR_TPM_DECODE',
  })
})

test('getRandom loops until the requested length and refuses an empty answer', async () => {
  const t = new ScriptedTransport([rsp('0003010203'), rsp('00020405')])
  assert.equal(Buffer.from(await getRandom(new Tpm(t), 5)).toString('hex'), '0102030405')
  await assert.rejects(getRandom(new Tpm(new ScriptedTransport([rsp('0000')])), 4), {
    code: 'ERR_TPM_DECODE',
  })
})

test('transport failures surface as coded errors', async () => {
  const tpm = new Tpm(new ScriptedTransport([new TpmError('ERR_TPM_TRANSPORT', 'gone')]))
  await assert.rejects(tpm.run(commands.GetRandom, { bytesRequested: 1 }), {
    code: 'ERR_TPM_TRANSPORT',
  })
  await assert.rejects(
    new Tpm(new ScriptedTransport([])).run(commands.GetRandom, { bytesRequested: 1 }),
    { code: 'ERR_TPM_TRANSPORT' },
  )
})

test('lock() serializes operations and is re-entrant', async () => {
  const tpm = new Tpm(new ScriptedTransport([]))
  const order: string[] = []
  const a = tpm.lock(async () => {
    order.push('a1')
    await new Promise((r) => setTimeout(r, 20))
    await tpm.lock(async () => order.push('a-nested'))
    order.push('a2')
  })
  const b = tpm.lock(async () => order.push('b'))
  await Promise.all([a, b])
  assert.deepEqual(order, ['a1', 'a-nested', 'a2', 'b'])
})
