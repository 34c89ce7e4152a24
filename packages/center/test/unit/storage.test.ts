/**
 * Storage on SQLite and PostgreSQL: one migration set, applied once (re-opening keeps the
 * version), a newer schema refused; ids from one counter stay unique under concurrent creates;
 * files 0600 in a 0700 data dir; key material sealed under the master key and bound to its row.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { Secret } from '@ward/core'
import { Sealer } from '../../src/seal/sealer.js'
import { openStore } from '../../src/store/open.js'
import { migrationList } from '../../src/store/migrations.js'
import { newId } from '../../src/inventory/ids.js'
import { startTestCenter } from '../helpers.js'
import { createTestDb } from '../pg.js'

for (const pg of [false, true])
  test(`storage (${pg ? 'PostgreSQL' : 'SQLite'}): migrations once, newer schema refused, unique ids, sealed rows`, async () => {
    const t = await startTestCenter({ pg })
    try {
      const { store } = t.center
      assert.equal(store.dialect, pg ? 'postgres' : 'sqlite')
      // every migration of this build, in order, the initial one first
      assert.deepEqual(store.versions, Object.keys(migrationList(store.dialect)).sort())
      assert.equal(store.versions[0], '0001-initial')
      const ids = await Promise.all(Array.from({ length: 25 }, () => newId(store.db, 'vm')))
      assert.equal(new Set(ids).size, 25)
      // a sealed blob round-trips through the byte column, and opens only for its own row
      const kdk = randomBytes(32)
      const sealed = t.center.sealer.seal('key_providers/p1', kdk)
      await store.db
        .insertInto('key_providers')
        .values({
          id: 'p1',
          name: 'nkp',
          type: 'native',
          spec: '{}',
          sealed,
          created_at: Date.now(),
        })
        .execute()
      const row = await store.db
        .selectFrom('key_providers')
        .selectAll()
        .where('id', '=', 'p1')
        .executeTakeFirstOrThrow()
      assert.ok(!Buffer.from(row.sealed!).includes(kdk))
      assert.ok(
        t.center.sealer
          .open('key_providers/p1', row.sealed!)
          .use((b) => Buffer.from(b).equals(kdk)),
      )
      assert.throws(() => t.center.sealer.open('key_providers/p2', row.sealed!), {
        code: 'ERR_CENTER_SEALED',
      })
      const other = new Sealer(new Secret(randomBytes(32)))
      assert.throws(() => other.open('key_providers/p1', row.sealed!), {
        code: 'ERR_CENTER_SEALED',
      })
      if (!pg) {
        assert.equal(statSync(t.dataDir).mode & 0o777, 0o700)
        for (const f of ['master.key', 'center.db'])
          assert.equal(statSync(join(t.dataDir, f)).mode & 0o777, 0o600, f)
      }
    } finally {
      await t.close()
    }
  })

test('a database with a migration this build does not know is refused (SQLite and PostgreSQL)', async () => {
  const pgDb = await createTestDb()
  const t = await startTestCenter()
  try {
    for (const o of [{ sqlitePath: join(t.dataDir, 'center.db') }, { url: pgDb.url }]) {
      const s = await openStore(o)
      const again = await openStore(o)
      assert.deepEqual(again.versions, s.versions, 'opening again applies nothing')
      await again.close()
      await (
        s.db as never as {
          insertInto(t: string): { values(v: unknown): { execute(): Promise<unknown> } }
        }
      )
        .insertInto('ward_migration')
        .values({ name: '9999-future', timestamp: new Date().toISOString() })
        .execute()
      await s.close()
      await assert.rejects(openStore(o), { code: 'ERR_CENTER_SCHEMA_NEWER' })
    }
  } finally {
    await t.close()
    await pgDb.drop()
  }
})
