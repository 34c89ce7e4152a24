import Database from 'better-sqlite3'
import {
  GroupCommit,
  PendingFetched,
  SELECT_OBJECT,
  backfillLocateIndex,
  locateQuery,
  migrations,
  rowFromDb,
  upsertObject,
} from './store.js'
import type { GrantRow, ObjectRow, Stmt, Store } from './store.js'

/**
 * SQLite store: WAL with synchronous=FULL, so a commit is on disk (fsync of the WAL) before
 * any reply is sent; group commit amortizes that fsync over concurrent requests.
 */
export async function openSqliteStore(path: string): Promise<Store> {
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.pragma('busy_timeout = 5000')
  migrate(db)
  const cache = new Map<string, Database.Statement>()
  const prep = (sql: string): Database.Statement => {
    let s = cache.get(sql)
    if (s === undefined) {
      s = db.prepare(sql)
      cache.set(sql, s)
    }
    return s
  }
  const runAll = db.transaction((stmts: Stmt[]) => {
    for (const s of stmts) prep(s.sql).run(...s.params)
  })
  // Every commit is synchronous=FULL: the WAL is fsynced before any reply. Lazy writes (first-Get
  // marks) ride with the next durable commit (GroupCommit), so they add no sync of their own.
  const gc = new GroupCommit(async (stmts) => {
    runAll(stmts)
  })
  const fetched = new PendingFetched(gc)
  await backfillLocateIndex(
    async (sql, params) => prep(sql).all(...params) as Record<string, unknown>[],
    (stmts) => gc.submit(stmts),
  )
  return {
    backend: 'sqlite',
    async getObject(id) {
      const r = prep(`${SELECT_OBJECT} WHERE id = ?`).get(id) as Record<string, unknown> | undefined
      return r === undefined ? undefined : fetched.apply(rowFromDb(r))
    },
    async locateVisible(identity, filter) {
      const q = locateQuery(identity, filter)
      return (prep(q.sql).all(...q.params) as Record<string, unknown>[]).map((r) =>
        fetched.apply(rowFromDb(r)),
      )
    },
    putObjects(rows: readonly ObjectRow[]) {
      return gc.submit(rows.flatMap(upsertObject))
    },
    async markFetched(id: string) {
      fetched.mark(id)
    },
    async getGrant(objectId, identity) {
      const r = prep('SELECT operations FROM kms_grants WHERE object_id = ? AND identity = ?').get(
        objectId,
        identity,
      ) as { operations: string } | undefined
      return r === undefined ? undefined : r.operations.split(',').filter(Boolean)
    },
    setGrant(objectId, identity, operations) {
      return gc.submit([
        operations === null
          ? {
              sql: 'DELETE FROM kms_grants WHERE object_id = ? AND identity = ?',
              params: [objectId, identity],
            }
          : {
              sql: 'INSERT INTO kms_grants (object_id, identity, operations) VALUES (?, ?, ?) ON CONFLICT (object_id, identity) DO UPDATE SET operations = excluded.operations',
              params: [objectId, identity, operations.join(',')],
            },
      ])
    },
    async listGrants(objectId) {
      const rows = (
        objectId === undefined
          ? prep('SELECT * FROM kms_grants ORDER BY object_id, identity').all()
          : prep('SELECT * FROM kms_grants WHERE object_id = ? ORDER BY identity').all(objectId)
      ) as { object_id: string; identity: string; operations: string }[]
      return rows.map((r): GrantRow => ({
        objectId: r.object_id,
        identity: r.identity,
        operations: r.operations.split(',').filter(Boolean),
      }))
    },
    async countByState() {
      const rows = prep('SELECT state, COUNT(*) AS n FROM kms_objects GROUP BY state').all() as {
        state: number
        n: number
      }[]
      return new Map(rows.map((r) => [r.state, r.n]))
    },
    async countOwners() {
      const rows = prep('SELECT DISTINCT owner FROM kms_objects ORDER BY owner').all() as {
        owner: string
      }[]
      return rows.map((r) => r.owner)
    },
    async close() {
      await gc.idle()
      db.close()
    },
  }
}

function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS kms_schema_migrations (version INTEGER PRIMARY KEY)')
  const done = new Set(
    (db.prepare('SELECT version FROM kms_schema_migrations').all() as { version: number }[]).map(
      (r) => r.version,
    ),
  )
  migrations('BLOB').forEach((stmts, i) => {
    if (done.has(i + 1)) return
    db.transaction(() => {
      for (const s of stmts) db.exec(s)
      db.prepare('INSERT INTO kms_schema_migrations (version) VALUES (?)').run(i + 1)
    })()
  })
}
