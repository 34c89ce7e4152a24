import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BufferPool } from '../../src/server/buffer-pool.js'
import { SimpleReply } from '../../src/protocol/messages.js'

test('pooled buffers have a simple reply header of room before their size class', () => {
  assert.equal(BufferPool.HEAD, SimpleReply.size)
  const pool = new BufferPool(1 << 20)
  const b = pool.take(256 * 1024)
  assert.equal(b.length, BufferPool.HEAD + 256 * 1024)
  assert.equal(pool.take(1).length, BufferPool.HEAD + 4096)
  assert.equal(pool.take(4097).length, BufferPool.HEAD + 8192)
  pool.give(b)
  assert.equal(pool.pooledBytes, 256 * 1024)
  assert.equal(pool.take(200 * 1024), b) // the same class is reused
  assert.equal(pool.pooledBytes, 0)
})

test('the pool keeps at most maxBytes of idle buffers', () => {
  const pool = new BufferPool(64 * 1024)
  const a = pool.take(64 * 1024)
  const b = pool.take(64 * 1024)
  pool.give(a)
  pool.give(b) // over the bound: dropped
  assert.equal(pool.pooledBytes, 64 * 1024)
  assert.equal(pool.take(64 * 1024), a)
  assert.notEqual(pool.take(64 * 1024), b)
})
