import { test } from 'node:test'
import assert from 'node:assert/strict'
import { inspect } from 'node:util'
import { Secret } from '../../src/secret.js'

test('Secret never prints or serialises its bytes', () => {
  const s = new Secret(new Uint8Array([0xde, 0xad, 0xbe, 0xef]))
  assert.equal(JSON.stringify({ s }), '{"s":"[secret]"}')
  assert.equal(String(s), '[secret]')
  assert.equal(inspect(s), 'Secret(<4 bytes>)')
  assert.doesNotMatch(inspect({ nested: s }), /dead|222|173/)
})

test('Secret.dispose zeroes the bytes and refuses later use', () => {
  const raw = new Uint8Array([1, 2, 3])
  const s = new Secret(raw)
  s.dispose()
  assert.deepEqual([...raw], [0, 0, 0])
  assert.throws(() => s.use((b) => b.length), { code: 'ERR_SECRET_DISPOSED' })
  assert.equal(s.disposed, true)
})

test('Secret.take copies then zeroes the source', () => {
  const raw = new Uint8Array([9, 9])
  const s = Secret.take(raw)
  assert.deepEqual([...raw], [0, 0])
  assert.deepEqual(
    s.use((b) => [...b]),
    [9, 9],
  )
})

test('Secret.equals compares contents', () => {
  assert.equal(new Secret(new Uint8Array([1, 2])).equals(new Secret(new Uint8Array([1, 2]))), true)
  assert.equal(new Secret(new Uint8Array([1, 2])).equals(new Secret(new Uint8Array([1, 3]))), false)
  assert.equal(new Secret(new Uint8Array([1])).equals(new Secret(new Uint8Array([1, 3]))), false)
})
