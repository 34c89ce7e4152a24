import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { Secret } from '@ward/core'
import { Barrier } from '../../src/barrier/barrier.js'

test('barrier: round trip, id binding, tamper detection, disposal', () => {
  const b = new Barrier(new Secret(randomBytes(32)))
  const pt = randomBytes(40)
  const sealed = b.seal('obj-1', pt)
  assert.equal(sealed.indexOf(pt), -1)
  assert.deepEqual(b.open('obj-1', sealed), pt)
  assert.throws(() => b.open('obj-2', sealed), { code: 'ERR_KMS_BARRIER' })
  const t = Buffer.from(sealed)
  t[20] = t[20]! ^ 1
  assert.throws(() => b.open('obj-1', t), { code: 'ERR_KMS_BARRIER' })
  assert.throws(() => b.open('obj-1', sealed.subarray(0, 10)), { code: 'ERR_KMS_BARRIER' })
  const other = new Barrier(new Secret(randomBytes(32)))
  assert.throws(() => other.open('obj-1', sealed), { code: 'ERR_KMS_BARRIER' })
  b.dispose()
  assert.throws(() => b.seal('x', pt), { code: 'ERR_SECRET_DISPOSED' })
})
