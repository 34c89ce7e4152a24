import { createHash } from 'node:crypto'
import pg from 'pg'
import { GroupCommit } from './group-commit.js'
import { migrations } from './migrations.js'
import {
  SELECT_OBJECT,
  backfillLocateIndex,
  locateQuery,
  markFetchedStmt,
  rowFromDb,
  setGrantStmt,
  upsertObject,
} from './statements.js'
import type { GrantRow, ObjectRow, Stmt, Store } from './store.js'

/** `?` → `$n` (our statements never contain a literal question mark). */
const pgSql = (sql: string): string => {
  let n = 0
  return sql.replace(/\?/g, () => `$${++n}`)
}

/**
 * Advisory lock key space of object locks: `pg_advisory_xact_lock(OBJECT_LOCKS, hash of the id)`.
 * The two-key form never meets the one-key lock of migrate() (PostgreSQL keeps them apart).
 */
const OBJECT_LOCKS = 5696
/** SQLSTATEs of a transaction PostgreSQL aborted for another's sake: retried. */
const RETRY = new Set(['40P01', '40001']) // deadlock_detected, serialization_failure
const ATTEMPTS = 3

/** The object-lock key of `id` (a 32-bit hash; two ids that collide merely share a lock). */
const lockKey = (id: string): number => createHash('sha256').update(id).digest().readInt32BE(0)

/**
 * PostgreSQL store: same schema and statements as SQLite; group commit over a small pool.
 * Several servers may share the database (docs/kms.md "Several servers on one PostgreSQL"), so
 * this store keeps no copy of a row between requests: every read goes to the database, every
 * write is committed before it resolves (first-Get marks too, see markFetched), and object locks
 * are the database's (exclusive).
 */
export async function openPostgresStore(url: string): Promise<Store> {
  const pool = new pg.Pool({ connectionString: url, max: 4 })
  // Lock holders wait on their own connections: a holder waiting for its group commit never
  // holds a connection that commit needs.
  const locks = new pg.Pool({ connectionString: url, max: 8 })
  // An idle pooled connection that the database drops (a restart, a failover, an admin's
  // pg_terminate_backend) is reported as an 'error' event: with no listener it would end the
  // process. The pool has already discarded that connection; the next query opens a new one.
  for (const p of [pool, locks]) p.on('error', () => {})
  try {
    await migrate(pool)
  } catch (e) {
    await Promise.all([pool.end(), locks.end()])
    throw e
  }
  const q = async (
    sql: string,
    params: readonly unknown[] = [],
  ): Promise<Record<string, unknown>[]> =>
    (await pool.query(pgSql(sql), params as unknown[])).rows as Record<string, unknown>[]
  const commit = async (stmts: readonly Stmt[], durable: boolean): Promise<void> => {
    const c = await pool.connect()
    let broken: Error | undefined
    try {
      await c.query('BEGIN')
      // Not durable (first-Get marks): committed and visible, WAL flushed by a later commit.
      if (!durable) await c.query('SET LOCAL synchronous_commit = off')
      for (const s of stmts) await c.query(pgSql(s.sql), s.params as unknown[])
      await c.query('COMMIT')
    } catch (e) {
      await c.query('ROLLBACK').catch((r: Error) => (broken = r))
      throw e
    } finally {
      c.release(broken)
    }
  }
  const gc = new GroupCommit(async (stmts, durable) => {
    // Writes of servers sharing the database may touch the same rows in another order (a
    // first-Get mark beside another object's save): PostgreSQL then aborts one transaction,
    // which is retried whole.
    for (let attempt = 1; ; attempt++) {
      try {
        return await commit(stmts, durable)
      } catch (e) {
        if (attempt >= ATTEMPTS || !RETRY.has(String((e as { code?: unknown }).code))) throw e
      }
    }
  })
  await backfillLocateIndex(q, (stmts) => gc.submit(stmts))
  return {
    backend: 'postgres',
    async getObject(id) {
      const [r] = await q(`${SELECT_OBJECT} WHERE id = ?`, [id])
      return r === undefined ? undefined : rowFromDb(r)
    },
    async locateVisible(identity, filter) {
      const l = locateQuery(identity, filter)
      return (await q(l.sql, l.params)).map(rowFromDb)
    },
    putObjects(rows: readonly ObjectRow[]) {
      return gc.submit(rows.flatMap(upsertObject))
    },
    // Committed (not synced on its own) before the key leaves, so that a Get or GetAttributes on
    // any server sharing the database reads Fresh = false from then on.
    markFetched(id: string) {
      return gc.submit([markFetchedStmt(id)], 'visible')
    },
    /**
     * A transaction-level advisory lock on its own connection, held while `fn` runs (its reads,
     * and its writes committed through group commit on other connections) and released by the
     * COMMIT after it; if this process dies, PostgreSQL drops the connection and the lock.
     */
    async exclusive<T>(id: string, fn: () => Promise<T>): Promise<T> {
      const c = await locks.connect()
      let failed = false
      try {
        // Literal integers only: one round trip for both statements (simple query protocol).
        await c.query(`BEGIN; SELECT pg_advisory_xact_lock(${OBJECT_LOCKS}, ${lockKey(id)})`)
        return await fn()
      } catch (e) {
        failed = true
        throw e
      } finally {
        // COMMIT and ROLLBACK both release it; a connection that cannot end its transaction
        // is dropped, which releases it too.
        await c.query(failed ? 'ROLLBACK' : 'COMMIT').then(
          () => c.release(),
          (e: Error) => c.release(e),
        )
      }
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
      await Promise.all([pool.end(), locks.end()])
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
