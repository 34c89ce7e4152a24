import pg from 'pg'
import { PendingFetched } from './fetched-marks.js'
import { GroupCommit } from './group-commit.js'
import { migrations } from './migrations.js'
import {
  SELECT_OBJECT,
  backfillLocateIndex,
  locateQuery,
  setGrantStmt,
  upsertObject,
} from './statements.js'
import type { GrantRow, ObjectRow, Store } from './store.js'

/** `?` → `$n` (our statements never contain a literal question mark). */
const pgSql = (sql: string): string => {
  let n = 0
  return sql.replace(/\?/g, () => `$${++n}`)
}

/** PostgreSQL store: same schema and statements as SQLite; group commit over one connection. */
export async function openPostgresStore(url: string): Promise<Store> {
  const pool = new pg.Pool({ connectionString: url, max: 4 })
  await migrate(pool)
  const q = async (
    sql: string,
    params: readonly unknown[] = [],
  ): Promise<Record<string, unknown>[]> =>
    (await pool.query(pgSql(sql), params as unknown[])).rows as Record<string, unknown>[]
  const gc = new GroupCommit(async (stmts, durable) => {
    const c = await pool.connect()
    try {
      await c.query('BEGIN')
      // Lazy writes: committed and visible, WAL flushed by a later synchronous commit.
      if (!durable) await c.query('SET LOCAL synchronous_commit = off')
      for (const s of stmts) await c.query(pgSql(s.sql), s.params as unknown[])
      await c.query('COMMIT')
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined)
      throw e
    } finally {
      c.release()
    }
  })
  const fetched = new PendingFetched(gc)
  await backfillLocateIndex(q, (stmts) => gc.submit(stmts))
  return {
    backend: 'postgres',
    async getObject(id) {
      const [r] = await q(`${SELECT_OBJECT} WHERE id = ?`, [id])
      return r === undefined ? undefined : fetched.fromDb(r)
    },
    async locateVisible(identity, filter) {
      const l = locateQuery(identity, filter)
      return (await q(l.sql, l.params)).map((r) => fetched.fromDb(r))
    },
    putObjects(rows: readonly ObjectRow[]) {
      return gc.submit(rows.flatMap(upsertObject))
    },
    async markFetched(id: string) {
      fetched.mark(id)
    },
    async getGrant(objectId, identity) {
      const [r] = await q(
        'SELECT operations FROM kms_grants WHERE object_id = ? AND identity = ?',
        [objectId, identity],
      )
      return r === undefined ? undefined : String(r['operations']).split(',').filter(Boolean)
    },
    setGrant(objectId, identity, operations) {
      return gc.submit([setGrantStmt(objectId, identity, operations)])
    },
    async listGrants(objectId) {
      const rows =
        objectId === undefined
          ? await q('SELECT * FROM kms_grants ORDER BY object_id, identity')
          : await q('SELECT * FROM kms_grants WHERE object_id = ? ORDER BY identity', [objectId])
      return rows.map((r): GrantRow => ({
        objectId: String(r['object_id']),
        identity: String(r['identity']),
        operations: String(r['operations']).split(',').filter(Boolean),
      }))
    },
    async countByState() {
      const rows = await q('SELECT state, COUNT(*) AS n FROM kms_objects GROUP BY state')
      return new Map(rows.map((r) => [Number(r['state']), Number(r['n'])]))
    },
    async countOwners() {
      return (await q('SELECT DISTINCT owner FROM kms_objects ORDER BY owner')).map((r) =>
        String(r['owner']),
      )
    },
    async close() {
      await gc.idle()
      await pool.end()
    },
  }
}

async function migrate(pool: pg.Pool): Promise<void> {
  const c = await pool.connect()
  try {
    // Serialize concurrent migrators (several nodes starting at once).
    await c.query('SELECT pg_advisory_lock(5696)')
    await c.query('CREATE TABLE IF NOT EXISTS kms_schema_migrations (version INTEGER PRIMARY KEY)')
    const done = new Set(
      (await c.query('SELECT version FROM kms_schema_migrations')).rows.map(
        (r: { version: number }) => Number(r.version),
      ),
    )
    const all = migrations('BYTEA')
    for (let i = 0; i < all.length; i++) {
      if (done.has(i + 1)) continue
      await c.query('BEGIN')
      for (const s of all[i]!) await c.query(s)
      await c.query('INSERT INTO kms_schema_migrations (version) VALUES ($1)', [i + 1])
      await c.query('COMMIT')
    }
  } finally {
    await c.query('SELECT pg_advisory_unlock(5696)').catch(() => undefined)
    c.release()
  }
}
