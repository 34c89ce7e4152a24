import { test } from 'node:test'
import assert from 'node:assert/strict'
import { TpmClient, TpmRcError, policyPcrDigest } from '../../src/tpm/tpm-client.js'
import type { TpmTransport } from '../../src/tpm/transport.js'

/** A scripted transport: answers each command with the next canned response. */
function scripted(responses: Buffer[]): TpmTransport & { sent: Buffer[] } {
  const sent: Buffer[] = []
  return {
    sent,
    async send(cmd) {
      sent.push(Buffer.from(cmd))
      const r = responses.shift()
      if (!r) throw new Error('no more responses')
      return r
    },
    async close() {},
  }
}

const resp = (tag: number, rc: number, body: Buffer = Buffer.alloc(0)): Buffer => {
  const b = Buffer.alloc(10)
  b.writeUInt16BE(tag, 0)
  b.writeUInt32BE(10 + body.length, 2)
  b.writeUInt32BE(rc, 6)
  return Buffer.concat([b, body])
}

test('TPM client: command framing (TPM2_Startup) and a counted command', async () => {
  const t = scripted([resp(0x8001, 0)])
  const c = new TpmClient(t)
  await c.startup()
  assert.equal(t.sent[0]!.toString('hex'), '80010000000c0000014400' + '00')
  assert.equal(c.commands, 1)
})

test('TPM client: error responses keep the RC and its format-1 base', async () => {
  const c = new TpmClient(scripted([resp(0x8001, 0x99d)]))
  await assert.rejects(
    c.startup(),
    (e: unknown) =>
      e instanceof TpmRcError && e.rc === 0x99d && e.base === 0x9d && e.code === 'ERR_HOST_TPM_RC',
  )
})

test('TPM client: malformed responses are coded errors, never crashes', async () => {
  const bad: Buffer[] = [
    Buffer.alloc(3),
    Buffer.from('8001000000ff00000000', 'hex'), // size larger than received
    resp(0x8002, 0, Buffer.from([0, 0])), // session response without parameterSize
    resp(0x8002, 0, Buffer.from('000000ff', 'hex')), // parameterSize past the end
  ]
  for (const r of bad) {
    const c = new TpmClient(scripted([r]))
    await assert.rejects(c.pcrExtend(7, Buffer.alloc(32)), { code: 'ERR_HOST_TPM_PROTOCOL' })
  }
  const pcrBad: Buffer[] = [
    resp(0x8001, 0, Buffer.alloc(4)),
    resp(0x8001, 0, Buffer.from('00000001' + '00000001' + '000b03800000' + '00000002', 'hex')), // count mismatch
    resp(
      0x8001,
      0,
      Buffer.from(
        '00000001' + '00000001' + '000b03800000' + '00000001' + '0010' + '00'.repeat(16),
        'hex',
      ),
    ), // 16-byte digest
    resp(0x8001, 0, Buffer.from('00000001' + '00000001' + '000b09800000', 'hex')), // sizeofSelect 9
    resp(0x8001, 0, Buffer.from('00000001' + '00000000' + '00000000', 'hex')), // PCR missing
  ]
  for (const r of pcrBad) {
    const c = new TpmClient(scripted([r]))
    await assert.rejects(c.pcrRead([7]), { code: 'ERR_HOST_TPM_PROTOCOL' })
  }
  const unsealBad = resp(0x8002, 0, Buffer.from('00000004' + '0010abcd', 'hex'))
  await assert.rejects(new TpmClient(scripted([unsealBad])).unseal(0x80000001, 0x03000000), {
    code: 'ERR_HOST_TPM_PROTOCOL',
  })
})

test('TPM client: PCR_Read parses the selection it got back', async () => {
  const digest = Buffer.alloc(32, 0xab)
  const body = Buffer.concat([
    Buffer.from('00000005' + '00000001' + '000b03801000' + '00000002', 'hex'),
    Buffer.from('0020', 'hex'),
    digest,
    Buffer.from('0020', 'hex'),
    Buffer.alloc(32, 1),
  ])
  const c = new TpmClient(scripted([resp(0x8001, 0, body)]))
  const m = await c.pcrRead([7, 12])
  assert.deepEqual(m.get(7), digest)
  assert.deepEqual(m.get(12), Buffer.alloc(32, 1))
})

test('PolicyPCR digest: order of the PCR list does not matter, values do', () => {
  const v = new Map([
    [7, Buffer.alloc(32, 1)],
    [12, Buffer.alloc(32, 2)],
  ])
  assert.deepEqual(policyPcrDigest([7, 12], v), policyPcrDigest([12, 7], v))
  assert.notDeepEqual(
    policyPcrDigest([7, 12], v),
    policyPcrDigest(
      [7, 12],
      new Map([
        [7, Buffer.alloc(32, 1)],
        [12, Buffer.alloc(32, 3)],
      ]),
    ),
  )
  assert.throws(() => policyPcrDigest([13], v), { code: 'ERR_HOST_TPM_PROTOCOL' })
})
