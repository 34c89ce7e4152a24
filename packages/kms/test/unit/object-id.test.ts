import { test } from 'node:test'
import assert from 'node:assert/strict'
import { RandomPool } from '../../src/crypto/random.js'
import { ObjectIds } from '../../src/model/id.js'

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

test('object ids are RFC 9562 version 7 UUIDs carrying the creation time', () => {
  const t = Date.UTC(2026, 10, 25, 5, 0, 0)
  const id = new ObjectIds(new RandomPool().bytes).next(t)
  assert.match(id, V7)
  assert.equal(parseInt(id.replace(/-/g, '').slice(0, 12), 16), t)
})

test('ids sort in creation order within one millisecond, across a backward clock step, and past 4,096 per ms', () => {
  const base = Date.now() + 10_000_000
  const gen = new ObjectIds(new RandomPool().bytes)
  const ids: string[] = []
  for (let i = 0; i < 5000; i++) ids.push(gen.next(base)) // same millisecond
  ids.push(gen.next(base - 60_000)) // clock stepped back a minute
  ids.push(gen.next(base + 5))
  for (const id of ids) assert.match(id, V7)
  assert.deepEqual([...ids].sort(), ids, 'lexicographic order is creation order')
  assert.equal(new Set(ids).size, ids.length)
})
