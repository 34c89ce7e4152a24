import { closeSync, constants, openSync } from 'node:fs'
import Database from 'better-sqlite3'
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely'
import { Migrator } from 'kysely/migration'
import pg from 'pg'
import { CenterError } from '../errors.js'
import type { CenterDb } from './schema.js'
import {
  MIGRATION_TABLE,
  migrationList,
  migrationProvider,
  type DialectName,
} from './migrations.js'

/** An open center database (SQLite or PostgreSQL), migrated to this build's schema. */
export interface Store {
  readonly db: Kysely<CenterDb>
  readonly dialect: DialectName
  /** The applied migrations (the schema version), oldest first. */
  readonly versions: readonly string[]
  close(): Promise<void>
}

const INT8_OID = 20

/**
 * Open `url` (postgres://… or postgresql://…) or, without one, the SQLite file `sqlitePath`
 * (created 0600 when missing; WAL mode), and apply the migrations. A database holding a
 * migration this build does not know is refused: a newer center wrote it.
 */
export async function openStore(opts: {
  readonly sqlitePath?: string
  readonly url?: string
  /** PostgreSQL pool size (default 10). */
  readonly poolSize?: number
}): Promise<Store> {
  let db: Kysely<CenterDb>
  let dialect: DialectName
  if (opts.url !== undefined) {
    if (!/^postgres(?:ql)?:\/\//.test(opts.url))
      throw new CenterError(
        'ERR_CENTER_DB_URL',
        '--db must be a postgres:// or postgresql:// URL (without --db the center uses SQLite in its data dir)',
      )
    dialect = 'postgres'
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      // bigint columns (times in ms, sizes) as numbers: every value we store is below 2^53
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === INT8_OID
            ? (v: string) => Number(v)
            : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
      },
    })
    db = new Kysely<CenterDb>({ dialect: new PostgresDialect({ pool }) })
  } else if (opts.sqlitePath !== undefined) {
    dialect = 'sqlite'
    createPrivate(opts.sqlitePath)
    const file = new Database(opts.sqlitePath)
    file.pragma('journal_mode = WAL')
    file.pragma('synchronous = NORMAL')
    file.pragma('busy_timeout = 5000')
    file.pragma('foreign_keys = ON')
    file.pragma('secure_delete = ON')
    db = new Kysely<CenterDb>({ dialect: new SqliteDialect({ database: file }) })
  } else throw new CenterError('ERR_CENTER_DB_URL', 'openStore needs a SQLite path or a URL')
  try {
    const versions = await migrate(db, dialect)
    return { db, dialect, versions, close: () => db.destroy() }
  } catch (e) {
    await db.destroy()
    throw e
  }
}

async function applied(db: Kysely<CenterDb>): Promise<string[]> {
  const tables = await db.introspection.getTables()
  if (!tables.some((t) => t.name === MIGRATION_TABLE)) return []
  const rows = await (db as unknown as Kysely<Record<string, { name: string }>>)
    .selectFrom(MIGRATION_TABLE)
    .select('name')
    .orderBy('name')
    .execute()
  return rows.map((r) => r.name)
}

async function migrate(db: Kysely<CenterDb>, dialect: DialectName): Promise<string[]> {
  const known = new Set(Object.keys(migrationList(dialect)))
  const unknown = (await applied(db)).filter((n) => !known.has(n))
  if (unknown.length > 0)
    throw new CenterError(
      'ERR_CENTER_SCHEMA_NEWER',
      `the database has schema version(s) ${unknown.join(', ')} that this ward center does not know: a newer version wrote it; run that version (or newer)`,
    )
  const migrator = new Migrator({
    db,
    provider: migrationProvider(dialect),
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: `${MIGRATION_TABLE}_lock`,
  })
  const { error } = await migrator.migrateToLatest()
  if (error !== undefined) throw error
  return applied(db)
}

/** Create `path` 0600 if missing (SQLite's -wal and -shm files take the database file's mode). */
function createPrivate(path: string): void {
  try {
    closeSync(
      openSync(
        path,
        constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_NOFOLLOW,
        0o600,
      ),
    )
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
  }
}
