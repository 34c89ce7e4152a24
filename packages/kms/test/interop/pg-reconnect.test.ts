/**
 * A PostgreSQL store survives the database dropping its idle connections (a restart, a failover,
 * pg_terminate_backend): the process does not die on the pool's 'error' event and the next
 * request works on a new connection.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import pg from 'pg'
import { openPostgresStore } from '../../src/storage/postgres.js'
import { createTestDb, type TestDb } from './pg.js'

let db: TestDb
before(async () => {
  db = await createTestDb()
})
after(async () => {
  await db.drop()
})

test('idle connections terminated by the database: no crash, the next request reconnects', async () => {
  const store = await openPostgresStore(db.url)
  try {
    // Open pooled connections on both pools (queries and an object lock), then leave them idle.
    await store.countByState()
    await store.listGrants()
    assert.ok(store.exclusive !== undefined)
    await store.exclusive('x', async () => {})
    const name = new URL(db.url).pathname.slice(1)
    const admin = new pg.Client({ connectionString: db.url })
    await admin.connect()
    const { rows } = await admin.query(
      'SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [name],
    )
    await admin.end()
    assert.ok(rows.length >= 1, 'the store had idle connections to terminate')
    // The pools see the terminations as 'error' events on idle clients.
    await new Promise((r) => setTimeout(r, 300))
    assert.equal((await store.countByState()) instanceof Map, true)
    assert.deepEqual(await store.listGrants(), [])
    await store.exclusive('y', async () => {})
  } finally {
    await store.close()
  }
})
