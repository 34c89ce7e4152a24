import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { Secret } from '@ward/core'
import { KeyCache, KeyStore } from '../../src/index.js'
import { tempDir } from '../helpers/harness.js'

const secret = (fill: number, n = 32): Secret => new Secret(new Uint8Array(n).fill(fill))

test('key cache: add, has, use, list (ids only), remove zeroes the key', () => {
  const c = new KeyCache()
  const raw = new Uint8Array(32).fill(9)
  const s = new Secret(raw)
  c.add('prov', 'kek', s)
  c.add('prov', 'kek0', secret(1))
  assert.equal(c.has('prov', 'kek'), true)
  assert.equal(c.has('prov', 'nope'), false)
  assert.equal(
    c.use('prov', 'kek', (k) => k[0]),
    9,
  )
  assert.deepEqual(c.list(), [
    { providerId: 'prov', kekId: 'kek' },
    { providerId: 'prov', kekId: 'kek0' },
  ])
  assert.equal(JSON.stringify(c.list()).includes('9,9'), false)
  assert.equal(c.remove('prov', 'kek'), true)
  assert.equal(
    raw.every((b) => b === 0),
    true,
    'evicted key zeroed',
  )
  assert.equal(c.remove('prov', 'kek'), false)
  assert.throws(() => c.use('prov', 'kek', () => 0), { code: 'ERR_HOST_KEY_NOT_FOUND' })
})

test('key cache: replacing a key zeroes the old value; clear zeroes all', () => {
  const c = new KeyCache()
  const a = new Uint8Array(32).fill(5)
  c.add('p', 'k', new Secret(a))
  c.add('p', 'k', secret(6))
  assert.equal(
    a.every((b) => b === 0),
    true,
  )
  const b = new Uint8Array(16).fill(7)
  c.add('p', 'k2', new Secret(b))
  c.clear()
  assert.equal(
    b.every((x) => x === 0),
    true,
  )
  assert.equal(c.size, 0)
})

test('key cache: ids and sizes are bounded', () => {
  const c = new KeyCache()
  assert.throws(() => c.add('', 'k', secret(1)), { code: 'ERR_HOST_BAD_ARGUMENT' })
  assert.throws(() => c.add('p'.repeat(256), 'k', secret(1)), { code: 'ERR_HOST_BAD_ARGUMENT' })
  assert.throws(() => c.add('p', 'a\nb', secret(1)), { code: 'ERR_HOST_BAD_ARGUMENT' })
  assert.throws(() => c.add('p', 'k', secret(1, 65)), { code: 'ERR_HOST_BAD_ARGUMENT' })
  assert.equal(c.size, 0)
})

test('key cache: a failing observer (persistence) leaves the cache unchanged', () => {
  const c = new KeyCache()
  c.observe({
    added: () => {
      throw new Error('disk full')
    },
    removed: () => undefined,
  })
  assert.throws(() => c.add('p', 'k', secret(1)), /disk full/)
  assert.equal(c.has('p', 'k'), false)
})

/** The store takes ownership of (and zeroes) the key it is given: hand it a fresh copy each time. */
function storeFixture(t: { after: (fn: () => void) => void }): {
  path: string
  key: () => Secret
  id: Buffer
} {
  const { dir, cleanup } = tempDir()
  t.after(cleanup)
  const raw = randomBytes(32)
  return {
    path: join(dir, 'keystore.journal'),
    key: () => new Secret(new Uint8Array(raw)),
    id: randomBytes(16),
  }
}

test('key store: adds and removes replay after reopen; file is 0600', (t) => {
  const { path, key, id } = storeFixture(t)
  const k = key()
  const s = KeyStore.create(path, k, id)
  s.appendAdd([
    { providerId: 'p', kekId: 'a', key: secret(1) },
    { providerId: 'p', kekId: 'b', key: secret(2) },
  ])
  s.appendRemove({ providerId: 'p', kekId: 'a' })
  s.appendAdd([{ providerId: 'q', kekId: 'c', key: secret(3, 64) }])
  s.close()
  assert.equal(k.disposed, true, 'closing the store zeroes its key')
  assert.equal(statSync(path).mode & 0o777, 0o600)
  const o = KeyStore.open(path, key(), id)
  assert.equal(o.truncatedTail, false)
  const got = o.entries.map((e) => [e.providerId, e.kekId, e.key.use((k) => k[0]), e.key.length])
  assert.deepEqual(got, [
    ['p', 'b', 2, 32],
    ['q', 'c', 3, 64],
  ])
  o.store.close()
})

test('key store: a torn final record (crash) is cut off; the rest stays and appends continue', (t) => {
  const { path, key, id } = storeFixture(t)
  const s = KeyStore.create(path, key(), id)
  s.appendAdd([{ providerId: 'p', kekId: 'a', key: secret(1) }])
  s.appendAdd([{ providerId: 'p', kekId: 'b', key: secret(2) }])
  s.close()
  const full = readFileSync(path)
  for (const cut of [1, 5, 20, 40]) {
    writeFileSync(path, full.subarray(0, full.length - cut))
    const o = KeyStore.open(path, key(), id)
    assert.equal(o.truncatedTail, true)
    assert.deepEqual(
      o.entries.map((e) => e.kekId),
      ['a'],
    )
    o.store.appendAdd([{ providerId: 'p', kekId: 'c', key: secret(3) }])
    o.store.close()
    const again = KeyStore.open(path, key(), id)
    assert.deepEqual(
      again.entries.map((e) => e.kekId),
      ['a', 'c'],
    )
    assert.equal(again.truncatedTail, false)
    again.store.close()
  }
})

test('key store: a modified middle record, another store id or another key is refused', (t) => {
  const { path, key, id } = storeFixture(t)
  const s = KeyStore.create(path, key(), id)
  for (const k of ['a', 'b', 'c']) s.appendAdd([{ providerId: 'p', kekId: k, key: secret(1) }])
  s.close()
  const good = readFileSync(path)
  const bad = Buffer.from(good)
  bad[24 + 4 + 14]! ^= 1 // inside the first record's ciphertext
  writeFileSync(path, bad)
  assert.throws(() => KeyStore.open(path, key(), id), { code: 'ERR_HOST_KEYSTORE_CORRUPT' })
  writeFileSync(path, good)
  assert.throws(() => KeyStore.open(path, key(), randomBytes(16)), {
    code: 'ERR_HOST_KEYSTORE_CORRUPT',
  })
  assert.throws(() => KeyStore.open(path, new Secret(new Uint8Array(32)), id), {
    code: 'ERR_HOST_KEYSTORE_CORRUPT',
  })
  // records cannot be swapped (the sequence number is authenticated)
  const recLen = 4 + good.readUInt32BE(24)
  const swapped = Buffer.concat([
    good.subarray(0, 24),
    good.subarray(24 + recLen, 24 + 2 * recLen),
    good.subarray(24, 24 + recLen),
    good.subarray(24 + 2 * recLen),
  ])
  writeFileSync(path, swapped)
  assert.throws(() => KeyStore.open(path, key(), id), { code: 'ERR_HOST_KEYSTORE_CORRUPT' })
  writeFileSync(path, Buffer.from('not a store at all'))
  assert.throws(() => KeyStore.open(path, key(), id), { code: 'ERR_HOST_KEYSTORE_CORRUPT' })
})

test('key store: compaction keeps live keys only', (t) => {
  const { path, key, id } = storeFixture(t)
  const s = KeyStore.create(path, key(), id)
  for (let i = 0; i < 200; i++) {
    s.appendAdd([{ providerId: 'p', kekId: `k${i}`, key: secret(i & 0xff) }])
    if (i >= 2) s.appendRemove({ providerId: 'p', kekId: `k${i}` })
  }
  s.close()
  const size = statSync(path).size
  const o = KeyStore.open(path, key(), id) // compacts: 398 records for 2 live keys
  assert.deepEqual(
    o.entries.map((e) => e.kekId),
    ['k0', 'k1'],
  )
  assert.equal(o.store.records, 2)
  o.store.close()
  assert.ok(statSync(path).size < size / 10)
  appendFileSync(path, Buffer.alloc(0))
  assert.deepEqual(
    KeyStore.open(path, key(), id).entries.map((e) => e.kekId),
    ['k0', 'k1'],
  )
})
