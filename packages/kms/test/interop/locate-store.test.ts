// Locate pushed into SQL (storage/store.ts locateQuery): the same answers as a brute-force filter
// on SQLite and PostgreSQL, name lookups through the index, and the backfill of rows written
// before the index existed.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import Database from 'better-sqlite3'
import { Tag, enumeration, int, structure, text, toJsonItem } from '@ward/kmip'
import { openPostgresStore } from '../../src/storage/postgres.js'
import { openSqliteStore } from '../../src/storage/sqlite.js'
import { migrations } from '../../src/storage/migrations.js'
import type { LocateFilter, ObjectRow, Store } from '../../src/storage/store.js'
import { createTestDb } from './pg.js'
import type { TestDb } from './pg.js'

interface Spec {
  id: string
  owner: string
  objectType: number
  state: number
  algorithm?: number
  length?: number
  names: string[]
  createdAt: number
}

function row(x: Spec): ObjectRow {
  const attrs: [string, unknown][] = []
  if (x.algorithm !== undefined)
    attrs.push([
      'Cryptographic Algorithm',
      toJsonItem(enumeration(Tag.AttributeValue, x.algorithm)),
    ])
  if (x.length !== undefined)
    attrs.push(['Cryptographic Length', toJsonItem(int(Tag.AttributeValue, x.length))])
  for (const n of x.names)
    attrs.push([
      'Name',
      toJsonItem(
        structure(Tag.AttributeValue, [text(Tag.NameValue, n), enumeration(Tag.NameType, 1)]),
      ),
    ])
  return {
    id: x.id,
    owner: x.owner,
    objectType: x.objectType,
    state: x.state,
    attrs: JSON.stringify(attrs),
    material: new Uint8Array([1, 2, 3]),
    format: 1,
    createdAt: x.createdAt,
    updatedAt: x.createdAt,
  }
}

// deterministic spread of objects over owners, types, states, algorithms, lengths and names
const specs: Spec[] = Array.from({ length: 400 }, (_, i) => ({
  id: `obj-${String(i).padStart(4, '0')}`,
  owner: ['alice', 'bob', 'carol'][i % 3]!,
  objectType: [2, 3, 4, 7][i % 4]!,
  state: (i % 6) + 1,
  ...(i % 5 !== 0 ? { algorithm: [3, 4, 6][i % 3]! } : {}),
  ...(i % 7 !== 0 ? { length: [128, 256, 2048][(i >> 1) % 3]! } : {}),
  names: i % 4 === 0 ? [] : [`name-${i % 37}`, ...(i % 9 === 0 ? [`alt-${i % 5}`] : [])],
  createdAt: 1_000 + i,
}))

function brute(identity: string, granted: ReadonlySet<string>, f: LocateFilter): string[] {
  return specs
    .filter(
      (x) =>
        (x.owner === identity || granted.has(x.id)) &&
        (f.objectType === undefined || x.objectType === f.objectType) &&
        (f.states === undefined || f.states.includes(x.state)) &&
        (f.algorithm === undefined || x.algorithm === f.algorithm) &&
        (f.cryptoLength === undefined || x.length === f.cryptoLength) &&
        (f.name === undefined || x.names.includes(f.name)),
    )
    .map((x) => x.id)
}

const filters: LocateFilter[] = [
  {},
  { objectType: 2 },
  { states: [1, 2, 3, 4] },
  { states: [5] },
  { algorithm: 3, cryptoLength: 256 },
  { name: 'name-5' },
  { name: 'alt-3', objectType: 3 },
  { name: 'no-such-name' },
  { objectType: 4, states: [1, 2], algorithm: 6 },
  { cryptoLength: 2048, states: [] },
]

async function checkStore(store: Store): Promise<void> {
  await store.putObjects(specs.map(row))
  // bob may see three of alice's objects
  const grantedToBob = new Set(['obj-0000', 'obj-0003', 'obj-0006'])
  for (const id of grantedToBob) await store.setGrant(id, 'bob', ['get'])
  for (const identity of ['alice', 'bob']) {
    const granted = identity === 'bob' ? grantedToBob : new Set<string>()
    for (const f of filters) {
      const got = (await store.locateVisible(identity, f)).map((r) => r.id)
      assert.deepEqual(got, brute(identity, granted, f), `${identity} ${JSON.stringify(f)}`)
    }
  }
  const [first] = await store.locateVisible('alice', { name: 'name-1' })
  assert.equal(first?.material, null, 'Locate rows carry no key material')
  // renaming an object moves it in the name index
  const renamed = { ...specs[1]!, names: ['renamed'] }
  await store.putObjects([row(renamed)])
  assert.deepEqual(
    (await store.locateVisible(renamed.owner, { name: 'renamed' })).map((r) => r.id),
    [renamed.id],
  )
  assert.ok(
    !(await store.locateVisible(renamed.owner, { name: 'name-1' })).some(
      (r) => r.id === renamed.id,
    ),
  )
}

describe('Locate in SQL', () => {
  let dir: string
  let db: TestDb
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ward-kms-locate-'))
    db = await createTestDb()
  })
  after(async () => {
    rmSync(dir, { recursive: true, force: true })
    await db.drop()
  })

  test('SQLite: same answers as a brute-force filter; name lookups use the index', async () => {
    const path = join(dir, 'a.db')
    const store = await openSqliteStore(path)
    try {
      await checkStore(store)
    } finally {
      await store.close()
    }
    const raw = new Database(path, { readonly: true })
    const plan = raw
      .prepare('EXPLAIN QUERY PLAN SELECT object_id FROM kms_object_names WHERE name = ?')
      .all('x') as { detail: string }[]
    raw.close()
    assert.ok(
      plan.some((p) => /USING (COVERING )?INDEX/.test(p.detail)),
      JSON.stringify(plan),
    )
  })

  test('PostgreSQL: same answers as a brute-force filter', async () => {
    const store = await openPostgresStore(db.url)
    try {
      await checkStore(store)
    } finally {
      await store.close()
    }
  })

  test('rows written before the index (schema v1) are indexed when the store opens', async () => {
    const path = join(dir, 'old.db')
    const raw = new Database(path)
    raw.exec('CREATE TABLE kms_schema_migrations (version INTEGER PRIMARY KEY)')
    for (const s of migrations('BLOB')[0]!) raw.exec(s)
    raw.prepare('INSERT INTO kms_schema_migrations (version) VALUES (1)').run()
    const old = row(specs[3]!)
    raw
      .prepare(
        'INSERT INTO kms_objects (id, owner, object_type, state, attrs, material, format, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(old.id, old.owner, old.objectType, old.state, old.attrs, null, 1, 1, 1)
    raw.close()
    const store = await openSqliteStore(path)
    try {
      const hits = await store.locateVisible(old.owner, {
        name: specs[3]!.names[0]!,
        algorithm: specs[3]!.algorithm!,
      })
      assert.deepEqual(
        hits.map((r) => r.id),
        [old.id],
      )
    } finally {
      await store.close()
    }
  })
})
