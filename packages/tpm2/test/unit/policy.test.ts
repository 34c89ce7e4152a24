import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { test } from 'node:test'
import { EK_POLICY, policyPcrDigest, policySecretDigest } from '../../src/index.js'

test('PolicySecret(TPM_RH_ENDORSEMENT) offline equals the TCG EK authPolicy 837197…', () => {
  const name = Buffer.from('4000000b', 'hex') // a permanent handle's Name is the handle
  assert.deepEqual(Buffer.from(policySecretDigest(name)), EK_POLICY)
})

test('PolicyPCR offline digest follows Part 3 §23.7 (formula spelled out for sha256:7)', () => {
  const pcr7 = createHash('sha256').update('anything').digest()
  const expected = createHash('sha256')
    .update(Buffer.alloc(32))
    .update(Buffer.from('0000017f' + '00000001' + '000b' + '03' + '800000', 'hex'))
    .update(createHash('sha256').update(pcr7).digest())
    .digest()
  assert.deepEqual(Buffer.from(policyPcrDigest([7], new Map([[7, pcr7]]))), expected)
  // PCR order in the value digest is ascending whatever order the caller lists them in
  const v = new Map([
    [0, createHash('sha256').update('a').digest()],
    [7, pcr7],
  ])
  assert.deepEqual(policyPcrDigest([7, 0], v), policyPcrDigest([0, 7], v))
  assert.throws(() => policyPcrDigest([0, 7], new Map([[7, pcr7]])), { code: 'ERR_TPM_ARG' })
})
