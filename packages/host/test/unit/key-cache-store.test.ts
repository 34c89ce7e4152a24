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

const HEADER = 40

test('key store: adds and removes replay after reopen; file is 0600', (t) => {
  const { path, key, id } = storeFixture(t)
  const k = key()
  const s = KeyStore.create(path, k, id, 7n)
  s.appendAdd([
    { providerId: 'p', kekId: 'a', key: secret(1) },
    { providerId: 'p', kekId: 'b', key: secret(2) },
  ])
  assert.equal(s.appendRemove({ providerId: 'p', kekId: 'a' }), 8n)
  s.appendAdd([{ providerId: 'q', kekId: 'c', key: secret(3, 64) }])
  s.close()
  assert.equal(k.disposed, true, 'closing the store zeroes its key')
  assert.equal(statSync(path).mode & 0o777, 0o600)
  const o = KeyStore.open(path, key(), id, { anchor: 8n })
  assert.equal(o.truncatedTail, false)
  assert.equal(o.pendingAnchor, false)
  assert.equal(o.store.checkpoint, 8n)
  const got = o.entries.map((e) => [e.providerId, e.kekId, e.key.use((k) => k[0]), e.key.length])
  assert.deepEqual(got, [
    ['p', 'b', 2, 32],
    ['q', 'c', 3, 64],
  ])
  assert.equal(o.store.has({ providerId: 'p', kekId: 'b' }), true)
  assert.equal(o.store.has({ providerId: 'p', kekId: 'a' }), false)
  o.store.close()
})

test('key store: a torn final record (a prefix of the last write, or zeros) is cut off; the rest stays and appends continue', (t) => {
  const { path, key, id } = storeFixture(t)
  const s = KeyStore.create(path, key(), id, 1n)
  s.appendAdd([{ providerId: 'p', kekId: 'a', key: secret(1) }])
  s.appendAdd([{ providerId: 'p', kekId: 'b', key: secret(2) }])
  s.close()
  const full = readFileSync(path)
  const tails = [1, 5, 7, 9, 20, 40].map((cut) => full.subarray(0, full.length - cut))
  tails.push(Buffer.concat([full, Buffer.alloc(100)])) // size extended, data never written
  for (const bytes of tails) {
    writeFileSync(path, bytes)
    const o = KeyStore.open(path, key(), id, { anchor: 1n })
    assert.equal(o.truncatedTail, true)
    const expected = bytes.length > full.length ? ['a', 'b'] : ['a']
    assert.deepEqual(
      o.entries.map((e) => e.kekId),
      expected,
    )
    o.store.appendAdd([{ providerId: 'p', kekId: 'c', key: secret(3) }])
    o.store.close()
    const again = KeyStore.open(path, key(), id, { anchor: 1n })
    assert.deepEqual(
      again.entries.map((e) => e.kekId),
      [...expected, 'c'],
    )
    assert.equal(again.truncatedTail, false)
    again.store.close()
  }
})

test('key store: a bad length field, a damaged record (also the last one), another store id or another key is refused and the file left as it is', (t) => {
  const { path, key, id } = storeFixture(t)
  const s = KeyStore.create(path, key(), id, 1n)
  for (const k of ['a', 'b', 'c']) s.appendAdd([{ providerId: 'p', kekId: k, key: secret(1) }])
  s.close()
  const good = readFileSync(path)
  const refused = (bytes: Buffer, code: string, k = key(), sid = id): void => {
    writeFileSync(path, bytes)
    assert.throws(() => KeyStore.open(path, k, sid, { anchor: 1n }), { code })
    assert.deepEqual(readFileSync(path), bytes, 'the file was modified')
  }
  const set = (mutate: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(good)
    mutate(b)
    return b
  }
  // finding 6: one corrupted length field, in the first record or the last
  const lastAt = good.length - (8 + good.readUInt32BE(HEADER))
  for (const at of [HEADER, lastAt])
    for (const len of [0xffffff00, 0x7fff, 1, 2040]) {
      refused(
        set((b) => b.writeUInt32BE(len, at)),
        'ERR_HOST_KEYSTORE_CORRUPT',
      )
      // even with a matching check word: a length that runs past the end is only a torn tail
      // when it is the last record; in the first it swallows records and is refused
      if (at === HEADER && len !== 1)
        refused(
          set((b) => {
            b.writeUInt32BE(len, at)
            b.writeUInt32BE(~len >>> 0, at + 4)
          }),
          len > 2048 ? 'ERR_HOST_KEYSTORE_CORRUPT' : 'ERR_HOST_KEYSTORE_ROLLBACK',
        )
    }
  refused(
    set((b) => (b[HEADER + 8 + 14]! ^= 1)),
    'ERR_HOST_KEYSTORE_CORRUPT',
  ) // first record
  refused(
    set((b) => (b[b.length - 3]! ^= 1)),
    'ERR_HOST_KEYSTORE_CORRUPT',
  ) // last record
  refused(good, 'ERR_HOST_KEYSTORE_CORRUPT', key(), randomBytes(16))
  refused(good, 'ERR_HOST_KEYSTORE_CORRUPT', new Secret(new Uint8Array(32)))
  // records cannot be swapped (the sequence number is authenticated)
  const recLen = 8 + good.readUInt32BE(HEADER)
  refused(
    Buffer.concat([
      good.subarray(0, HEADER),
      good.subarray(HEADER + recLen, HEADER + 2 * recLen),
      good.subarray(HEADER, HEADER + recLen),
      good.subarray(HEADER + 2 * recLen),
    ]),
    'ERR_HOST_KEYSTORE_CORRUPT',
  )
  refused(Buffer.from('not a store at all'), 'ERR_HOST_KEYSTORE_CORRUPT')
  writeFileSync(path, good)
  KeyStore.open(path, key(), id, { anchor: 1n }).store.close()
})

test('key store: anchored to the journal counter: an older or cut journal is refused, one checkpoint ahead is a pending increment', (t) => {
  const { path, key, id } = storeFixture(t)
  const s = KeyStore.create(path, key(), id, 10n)
  for (const k of ['a', 'b', 'c']) s.appendAdd([{ providerId: 'p', kekId: k, key: secret(1) }])
  s.close()
  const before = readFileSync(path)
  let o = KeyStore.open(path, key(), id, { anchor: 10n })
  // a removal: the journal says 11 before the counter is incremented (a crash here)
  assert.equal(o.store.appendRemove({ providerId: 'p', kekId: 'b' }), 11n)
  o.store.close()
  const after = readFileSync(path)
  o = KeyStore.open(path, key(), id, { anchor: 10n })
  assert.equal(o.pendingAnchor, true, 'a crash before the increment: finish it')
  assert.deepEqual(
    o.entries.map((e) => e.kekId),
    ['a', 'c'],
  )
  o.store.close()
  // once the counter is 11: the older journal, or the current one cut at the old size, is refused
  for (const old of [before, after.subarray(0, before.length)]) {
    writeFileSync(path, old)
    assert.throws(() => KeyStore.open(path, key(), id, { anchor: 11n }), {
      code: 'ERR_HOST_KEYSTORE_ROLLBACK',
    })
    assert.deepEqual(readFileSync(path), old)
  }
  // the removal's checkpoint cut off (a "torn" tail made by hand): refused too
  writeFileSync(path, after.subarray(0, after.length - 5))
  assert.throws(() => KeyStore.open(path, key(), id, { anchor: 11n }), {
    code: 'ERR_HOST_KEYSTORE_ROLLBACK',
  })
  // a journal further ahead than one checkpoint does not belong to this counter
  writeFileSync(path, after)
  assert.throws(() => KeyStore.open(path, key(), id, { anchor: 9n }), {
    code: 'ERR_HOST_KEYSTORE_ROLLBACK',
  })
  // no anchor (another TPM): accepted as found
  o = KeyStore.open(path, key(), id, { anchor: undefined })
  assert.equal(o.store.checkpoint, 11n)
  // the counter moved past (someone else incremented): anchor the journal at its value
  o.store.appendCheckpoint(14n)
  o.store.close()
  KeyStore.open(path, key(), id, { anchor: 14n }).store.close()
})

test('key store: compaction keeps live keys only, keeps the checkpoint, and starts a new epoch (no splicing of old and new files)', (t) => {
  const { path, key, id } = storeFixture(t)
  const s = KeyStore.create(path, key(), id, 3n)
  for (let i = 0; i < 200; i++) {
    s.appendAdd([{ providerId: 'p', kekId: `k${i}`, key: secret(i & 0xff) }])
    if (i >= 2 && i < 199) s.appendRemove({ providerId: 'p', kekId: `k${i}` })
  }
  s.close()
  const old = readFileSync(path)
  const size = old.length
  const o = KeyStore.open(path, key(), id, { anchor: 200n }) // compacts: 3 live keys
  assert.deepEqual(
    o.entries.map((e) => e.kekId),
    ['k0', 'k1', 'k199'],
  )
  assert.equal(o.store.records, 4)
  assert.equal(o.store.checkpoint, 200n)
  o.store.close()
  const compacted = readFileSync(path)
  assert.ok(compacted.length < size / 10)
  assert.notDeepEqual(compacted.subarray(24, 40), old.subarray(24, 40), 'new epoch')
  // the old file's records do not authenticate after the new header
  writeFileSync(path, Buffer.concat([compacted.subarray(0, 40), old.subarray(40)]))
  assert.throws(() => KeyStore.open(path, key(), id, { anchor: 200n }), {
    code: 'ERR_HOST_KEYSTORE_CORRUPT',
  })
  writeFileSync(path, compacted)
  appendFileSync(path, Buffer.alloc(0))
  assert.deepEqual(
    KeyStore.open(path, key(), id, { anchor: 200n }).entries.map((e) => e.kekId),
    ['k0', 'k1', 'k199'],
  )
})
