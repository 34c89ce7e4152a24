import { closeSync, constants, fdatasync, fdatasyncSync, openSync } from 'node:fs'
import { promisify } from 'node:util'
import Database from 'better-sqlite3'
import { PendingFetched } from './fetched-marks.js'
import { GroupCommit } from './group-commit.js'
import { migrations } from './migrations.js'
import { RowCache } from './row-cache.js'
import {
  SELECT_OBJECT,
  backfillLocateIndex,
  locateQuery,
  setGrantStmt,
  upsertObject,
} from './statements.js'
import type { GrantRow, ObjectRow, Stmt, Store } from './store.js'

const syncData = promisify(fdatasync)

/**
 * SQLite store in WAL mode. A durable commit is on disk before any reply is sent: the transaction
 * is written with synchronous=NORMAL (SQLite writes the WAL frames and does not sync them), then
 * the WAL file is `fdatasync`ed on libuv's thread pool, so the event loop keeps serving other
 * connections while the disk flushes, and group commit gathers what arrives meanwhile into the
 * next transaction. This is FULL's guarantee (the WAL is synced after each commit) with the wait
 * moved off the main thread. NORMAL keeps SQLite's own syncs around checkpoints (WAL synced before
 * frames are copied back, database synced after), so the file is never corrupt after a power cut.
 * When nothing else is waiting (`othersWaiting`, from the server), the sync runs on the main
 * thread instead: with a single client, a thread-pool round trip only adds latency.
 */
export async function openSqliteStore(
  path: string,
  opts: {
    readonly othersWaiting?: () => boolean
    /**
     * No other client can have a request in the socket buffers (one connection open, nothing in
     * flight): a commit may start at once instead of at the end of the turn. Default: never.
     */
    readonly alone?: () => boolean
  } = {},
): Promise<Store> {
  createPrivate(path)
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('busy_timeout = 5000')
  // Freed content (a destroyed key's sealed blob, the old copy of a moved or rewritten row, freed
  // overflow pages) is overwritten with zeros, not left in free space; see scrub() below.
  db.pragma('secure_delete = ON')
  // Checkpoint every 4,000 WAL pages (16 MiB) rather than 1,000: each checkpoint copies the hot
  // pages once and pays two fsyncs, so fewer of them cost less per commit (per-Create figure:
  // bench/README.md, "Figures from source comments").
  db.pragma('wal_autocheckpoint = 4000')
  migrate(db)
  // Our own descriptor on the WAL (SQLite created it on the first write above and keeps it while
  // this connection is open; fdatasync flushes the file whichever descriptor wrote it).
  const walFd = openSync(`${path}-wal`, 'r+')
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
  // Lazy writes (first-Get marks) ride with the next durable commit (GroupCommit); a batch of
  // lazy writes alone is committed without a sync of its own.
  const others = (): boolean => opts.othersWaiting?.() === true
  const gc = new GroupCommit(
    async (stmts, durable) => {
      runAll(stmts)
      if (!durable) return
      if (others()) await syncData(walFd)
      else fdatasyncSync(walFd)
    },
    50,
    () => opts.alone?.() === true,
  )
  const fetched = new PendingFetched(gc)
  const rows = new RowCache()
  const scrubber = new WalScrubber(db)
  await backfillLocateIndex(
    async (sql, params) => prep(sql).all(...params) as Record<string, unknown>[],
    (stmts) => gc.submit(stmts),
  )
  return {
    backend: 'sqlite',
    async getObject(id) {
      const hit = rows.get(id)
      if (hit !== undefined) return fetched.apply(hit)
      const r = prep(`${SELECT_OBJECT} WHERE id = ?`).get(id) as Record<string, unknown> | undefined
      if (r === undefined) return undefined
      const row = fetched.fromDb(r)
      rows.read(row)
      return row
    },
    async locateVisible(identity, filter) {
      const q = locateQuery(identity, filter)
      return (prep(q.sql).all(...q.params) as Record<string, unknown>[]).map((r) =>
        fetched.fromDb(r),
      )
    },
    async putObjects(put: readonly ObjectRow[]) {
      await gc.submit(put.flatMap(upsertObject))
      rows.written(put)
      if (put.some((r) => r.scrub === true)) scrubber.run()
    },
    async markFetched(id: string) {
      fetched.mark(id)
      rows.fetched(id)
    },
    async getGrant(objectId, identity) {
      const r = prep('SELECT operations FROM kms_grants WHERE object_id = ? AND identity = ?').get(
        objectId,
        identity,
      ) as { operations: string } | undefined
      return r === undefined ? undefined : r.operations.split(',').filter(Boolean)
    },
    setGrant(objectId, identity, operations) {
      return gc.submit([setGrantStmt(objectId, identity, operations)])
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
      scrubber.stop()
      closeSync(walFd)
      db.close()
    },
  }
}

/**
 * Create the database file 0600 before SQLite opens it (SQLite gives its -wal and -shm files the
 * database file's mode). An existing file, or a symlink the owner put there, is SQLite's to open
 * as before; its mode is the data dir check's (admin/data-dir.ts tightenDataFiles).
 */
function createPrivate(path: string): void {
  if (path === ':memory:' || path === '') return
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600))
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
  }
}

/**
 * After a commit that dropped key material (Destroy), no copy of the old row may stay in the
 * files: with secure_delete the database pages have the freed space zeroed, but the WAL still
 * holds every earlier version of the pages that carried the sealed blob, and the database file
 * keeps its old page until a checkpoint copies the new one over it. `run` checkpoints the whole
 * WAL into the database and truncates the WAL to zero bytes (wal_checkpoint(TRUNCATE)), before
 * the Destroy is answered. A reader in another process (ward kms status) holding an old snapshot
 * makes it impossible for a moment: then it is retried every second, never waiting on the event
 * loop (busy_timeout 0 for the checkpoint).
 */
class WalScrubber {
  readonly #db: Database.Database
  #retry: NodeJS.Timeout | undefined

  constructor(db: Database.Database) {
    this.#db = db
  }

  run(): void {
    clearTimeout(this.#retry)
    this.#retry = undefined
    this.#db.pragma('busy_timeout = 0')
    let busy: boolean
    try {
      const [r] = this.#db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[]
      busy = r === undefined || r.busy !== 0
    } catch {
      busy = true
    } finally {
      this.#db.pragma('busy_timeout = 5000')
    }
    if (busy) {
      this.#retry = setTimeout(() => this.run(), 1000)
      this.#retry.unref()
    }
  }

  stop(): void {
    clearTimeout(this.#retry)
    this.#retry = undefined
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
