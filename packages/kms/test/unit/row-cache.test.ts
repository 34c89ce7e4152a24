// The SQLite store's row cache (storage/store.ts RowCache): coherent with the database across
// writes, Fresh marks and reads, bounded; and the one-server-per-data-dir guard it relies on.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { RowCache } from '../../src/storage/row-cache.js'
import type { ObjectRow } from '../../src/storage/store.js'
import { openSqliteStore } from '../../src/storage/sqlite.js'
import { captureLogger } from '../helpers.js'
import { initKms, startKmsServer } from '../../src/index.js'

const row = (id: string, extra: Partial<ObjectRow> = {}): ObjectRow => ({
  id,
  owner: 'vc',
  objectType: 2,
  state: 1,
  attrs: '[]',
  material: new Uint8Array([1, 2, 3]),
  format: 1,
  createdAt: 1,
  updatedAt: 1,
  ...extra,
})

test('RowCache: new objects enter on write, other writes only replace cached rows', () => {
  const c = new RowCache(3)
  c.written([row('a', { isNew: true }), row('b')])
  assert.equal(c.get('a')?.id, 'a')
  assert.equal(c.get('b'), undefined, 'an update of an uncached row stays out')
  c.written([row('a', { state: 2 })])
  assert.equal(c.get('a')?.state, 2, 'a cached row is replaced')
})

test('RowCache: a Fresh mark is never lost to a later write of an older copy', () => {
  const c = new RowCache()
  c.written([row('a', { isNew: true })])
  c.fetched('a')
  c.written([row('a', { fetched: false, state: 3 })])
  assert.equal(c.get('a')?.fetched, true)
  assert.equal(c.get('a')?.state, 3)
})

test('RowCache: bounded, the least recently used row goes first', () => {
  const c = new RowCache(2)
  c.read(row('a'))
  c.read(row('b'))
  c.get('a')
  c.read(row('c'))
  assert.equal(c.get('b'), undefined)
  assert.ok(c.get('a') !== undefined && c.get('c') !== undefined)
})

test('SQLite store: a created row is served from the cache, and stays coherent with the database', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-rowcache-'))
  const path = join(dir, 'kms.db')
  const store = await openSqliteStore(path)
  try {
    await store.putObjects([row('k1', { isNew: true })])
    // Served from memory: a row removed behind the store's back is still returned...
    const raw = new Database(path)
    raw.prepare('DELETE FROM kms_objects WHERE id = ?').run('k1')
    assert.equal((await store.getObject('k1'))?.id, 'k1')
    // ...and what the store writes is what both it and the database return.
    await store.putObjects([row('k1', { state: 2 })])
    assert.equal((await store.getObject('k1'))?.state, 2)
    await store.markFetched('k1')
    await store.putObjects([row('k1', { state: 3, fetched: false })])
    const got = await store.getObject('k1')
    assert.equal(got?.state, 3)
    assert.equal(got?.fetched, true, 'the Fresh mark survives the later write')
    await store.close()
    const db = raw.prepare('SELECT state, fetched FROM kms_objects WHERE id = ?').get('k1')
    assert.deepEqual(db, { state: 3, fetched: 1 })
    raw.close()
    // Objects never written by this store are read from the database.
    const again = await openSqliteStore(path)
    assert.equal((await again.getObject('k1'))?.fetched, true)
    assert.equal(await again.getObject('nope'), undefined)
    await again.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a second server on the same SQLite data dir is refused while the first runs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-two-servers-'))
  try {
    await initKms(dir)
    const quiet = { dataDir: dir, listen: '127.0.0.1:0', logger: captureLogger([]) }
    const first = await startKmsServer(quiet)
    try {
      await assert.rejects(
        startKmsServer(quiet),
        (e: Error & { code?: string }) =>
          e.code === 'ERR_KMS_RUNNING' && /stop it first/.test(e.message),
      )
    } finally {
      await first.close()
    }
    // Once it stopped, the data dir can be served again.
    const again = await startKmsServer(quiet)
    await again.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
