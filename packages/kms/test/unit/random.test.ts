import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RandomPool } from '../../src/crypto/random.js'

const freshRandom = new RandomPool().bytes

test('RandomPool: right lengths, never the same bytes twice across pool refills', () => {
  const seen = new Set<string>()
  // 3,000 × 32 bytes crosses the 4 KiB pool ~23 times; odd sizes misalign the cursor.
  for (let i = 0; i < 3000; i++) {
    const n = i % 7 === 0 ? 13 : 32
    const b = freshRandom(n)
    assert.equal(b.length, n)
    const hex = b.toString('hex')
    assert.ok(!seen.has(hex), 'a value came out twice')
    seen.add(hex)
  }
  // Bytes are spread: over 96 KB each byte value should appear (a zeroed pool would not).
  const all = Buffer.concat(Array.from({ length: 3000 }, () => freshRandom(32)))
  assert.equal(new Set(all).size, 256)
  assert.equal(freshRandom(1000).length, 1000, 'large requests bypass the pool')
  assert.equal(freshRandom(0).length, 0)
})

test('RandomPool: each result owns its memory (zeroing one never touches another)', () => {
  const a = freshRandom(32)
  const b = freshRandom(32)
  const copy = Buffer.from(b)
  a.fill(0)
  assert.deepEqual(b, copy)
  assert.notEqual(a.buffer, b.buffer)
})
