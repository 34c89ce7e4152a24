/**
 * Storage behind the barrier: untrusted, sees only sealed key material. One interface, two
 * dialects (SQLite default, PostgreSQL), the same migrations (per-dialect only where the SQL
 * types differ). Writes go through group commit: the writes of concurrent requests share one
 * transaction, and each caller's promise resolves only after that transaction committed.
 */
import type { LockAcross } from '../model/object-lock.js'

/** One managed object as stored. `attrs` is JSON (non-secret); `material` is sealed or null. */
export interface ObjectRow {
  readonly id: string
  readonly owner: string
  readonly objectType: number
  readonly state: number
  readonly attrs: string
  readonly material: Uint8Array | null
  readonly format: number
  readonly createdAt: number
  readonly updatedAt: number
  /** Locate columns when the writer already has them (else read from `attrs`). */
  readonly locate?: LocateColumns
  /**
   * The key material was served by a Get (KMIP Fresh = false). Written on insert, then only by
   * `markFetched` (an upsert never clears it), so a concurrent save cannot undo it.
   */
  readonly fetched?: boolean
  /** A new object (Create, Register, CreateKeyPair): nothing of it is stored yet. */
  readonly isNew?: boolean
  /**
   * This write drops the object's key material (Destroy): once it is committed, the store removes
   * earlier copies of the row from its files before the write resolves (SQLite: secure_delete and
   * a truncating WAL checkpoint; PostgreSQL: see docs/kms.md "Storage and the barrier").
   */
  readonly scrub?: boolean
}

export interface GrantRow {
  readonly objectId: string
  readonly identity: string
  readonly operations: readonly string[]
}

/**
 * Locate pre-filter pushed into SQL (every field optional, all ANDed). It may return more rows
 * than match (Locate still checks every attribute exactly), never fewer.
 */
export interface LocateFilter {
  readonly objectType?: number
  /** Stored states to keep (the effective state may have moved on by date, see locate.ts). */
  readonly states?: readonly number[]
  readonly algorithm?: number
  readonly cryptoLength?: number
  /** A Name attribute's Name Value. */
  readonly name?: string
}

export interface Store {
  readonly backend: 'sqlite' | 'postgres'
  getObject(id: string): Promise<ObjectRow | undefined>
  /**
   * Objects owned by or granted to `identity` that pass `filter`, by creation order. Rows come
   * without key material (Locate never needs it).
   */
  locateVisible(identity: string, filter: LocateFilter): Promise<ObjectRow[]>
  /** Insert or replace; resolves after the commit that made them durable. */
  putObjects(rows: readonly ObjectRow[]): Promise<void>
  /**
   * Record that an object's key material was served (Fresh becomes false): visible to this
   * server's reads before it resolves, committed with the next group commit and durable with the
   * next durable one (see PendingFetched: a power cut in between can leave Fresh reading true for
   * an object already served; no key is at stake, and a first Get pays no commit of its own).
   */
  markFetched(id: string): Promise<void>
  getGrant(objectId: string, identity: string): Promise<readonly string[] | undefined>
  /** `operations` null removes the grant. */
  setGrant(objectId: string, identity: string, operations: readonly string[] | null): Promise<void>
  listGrants(objectId?: string): Promise<GrantRow[]>
  countByState(): Promise<Map<number, number>>
  countOwners(): Promise<string[]>
  /**
   * Run `fn` holding a lock on object `id` that every server sharing this database respects
   * (PostgreSQL: a transaction-level advisory lock), so that several servers serialize changes to
   * one object as one server does (model/object-lock.ts). Absent when this process alone uses the
   * store (SQLite in the data dir: the in-process lock is enough).
   */
  readonly exclusive?: LockAcross
  close(): Promise<void>
}

/** A statement for the group-commit queue. `?` placeholders; Postgres rewrites them. */
export interface Stmt {
  readonly sql: string
  readonly params: readonly unknown[]
}

/** Columns Locate filters on, read from the stored attribute JSON (see model/object.ts toRow). */
export interface LocateColumns {
  readonly algorithm: number | null
  readonly cryptoLength: number | null
  readonly names: readonly string[]
}

const ALGORITHM = 'Cryptographic Algorithm'
const LENGTH = 'Cryptographic Length'
const NAME_VALUE = 0x420055 // KMIP 1.4 §3.2 Name Value (inside the Name structure)

function locateColumns(attrsJson: string): LocateColumns {
  let algorithm: number | null = null
  let cryptoLength: number | null = null
  const names: string[] = []
  for (const [name, [, type, v]] of JSON.parse(attrsJson) as [
    string,
    [number, string, unknown],
  ][]) {
    if (name === ALGORITHM && type === 'Enumeration' && typeof v === 'number') algorithm = v
    else if (name === LENGTH && type === 'Integer' && typeof v === 'number') cryptoLength = v
    else if (name === 'Name' && type === 'Structure' && Array.isArray(v)) {
      for (const c of v as [number, string, unknown][])
        if (c[0] === NAME_VALUE && typeof c[2] === 'string') names.push(c[2])
    }
  }
  return { algorithm, cryptoLength, names: [...new Set(names)] }
}

/** Statements writing the index of one object (columns and name table), inside its transaction. */
function indexStmts(id: string, c: LocateColumns, alsoColumns: boolean): Stmt[] {
  return [
    ...(alsoColumns
      ? [
          {
            sql: 'UPDATE kms_objects SET algorithm = ?, crypto_length = ?, indexed = 1 WHERE id = ?',
            params: [c.algorithm, c.cryptoLength, id],
          },
        ]
      : []),
    { sql: 'DELETE FROM kms_object_names WHERE object_id = ?', params: [id] },
    ...c.names.map((n) => ({
      sql: 'INSERT INTO kms_object_names (object_id, name) VALUES (?, ?) ON CONFLICT DO NOTHING',
      params: [id, n],
    })),
  ]
}

/** Upsert of one object and its Locate index, in the caller's transaction. */
export function upsertObject(r: ObjectRow): Stmt[] {
  const c = r.locate ?? locateColumns(r.attrs)
  return [
    {
      sql:
        'INSERT INTO kms_objects (id, owner, object_type, state, attrs, material, format, created_at, updated_at, algorithm, crypto_length, indexed, fetched) ' +
        'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, ' +
        'object_type = excluded.object_type, state = excluded.state, attrs = excluded.attrs, ' +
        'material = excluded.material, format = excluded.format, updated_at = excluded.updated_at, ' +
        'algorithm = excluded.algorithm, crypto_length = excluded.crypto_length, indexed = 1',
      params: [
        r.id,
        r.owner,
        r.objectType,
        r.state,
        r.attrs,
        r.material === null ? null : Buffer.from(r.material),
        r.format,
        r.createdAt,
        r.updatedAt,
        c.algorithm,
        c.cryptoLength,
        r.fetched === true ? 1 : 0,
      ],
    },
    ...indexStmts(r.id, c, false),
  ]
}

/**
 * Fill the Locate index of rows written before migration 2 (indexed = 0), in batches; each batch
 * is one transaction through `run`.
 */
export async function backfillLocateIndex(
  all: (sql: string, params: readonly unknown[]) => Promise<Record<string, unknown>[]>,
  run: (stmts: Stmt[]) => Promise<void>,
): Promise<void> {
  for (;;) {
    const rows = await all('SELECT id, attrs FROM kms_objects WHERE indexed = 0 LIMIT 500', [])
    if (rows.length === 0) return
    await run(
      rows.flatMap((r) => indexStmts(String(r['id']), locateColumns(String(r['attrs'])), true)),
    )
  }
}

/** SQL and parameters of {@link Store.locateVisible} (`?` placeholders). */
export function locateQuery(identity: string, f: LocateFilter): Stmt {
  const where = ['(owner = ? OR id IN (SELECT object_id FROM kms_grants WHERE identity = ?))']
  const params: unknown[] = [identity, identity]
  if (f.objectType !== undefined) {
    where.push('object_type = ?')
    params.push(f.objectType)
  }
  if (f.states !== undefined) {
    where.push(`state IN (${f.states.map(() => '?').join(', ') || 'NULL'})`)
    params.push(...f.states)
  }
  if (f.algorithm !== undefined) {
    where.push('algorithm = ?')
    params.push(f.algorithm)
  }
  if (f.cryptoLength !== undefined) {
    where.push('crypto_length = ?')
    params.push(f.cryptoLength)
  }
  if (f.name !== undefined) {
    where.push('id IN (SELECT object_id FROM kms_object_names WHERE name = ?)')
    params.push(f.name)
  }
  return {
    sql:
      'SELECT id, owner, object_type, state, attrs, NULL AS material, format, created_at, updated_at ' +
      `FROM kms_objects WHERE ${where.join(' AND ')} ORDER BY created_at, id`,
    params,
  }
}

/** Ordered migrations; `blob` is the dialect's binary type. */
export const migrations = (blob: string): readonly string[][] => [
  [
    `CREATE TABLE kms_objects (id TEXT PRIMARY KEY, owner TEXT NOT NULL, object_type INTEGER NOT NULL,
      state INTEGER NOT NULL, attrs TEXT NOT NULL, material ${blob}, format INTEGER NOT NULL,
      created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)`,
    'CREATE INDEX kms_objects_owner ON kms_objects (owner)',
    `CREATE TABLE kms_grants (object_id TEXT NOT NULL, identity TEXT NOT NULL, operations TEXT NOT NULL,
      PRIMARY KEY (object_id, identity))`,
    'CREATE INDEX kms_grants_identity ON kms_grants (identity)',
  ],
  // Locate filters in SQL: algorithm and length as columns, names in their own table; rows
  // written before this migration are indexed by backfillLocateIndex (indexed = 0).
  [
    'ALTER TABLE kms_objects ADD COLUMN algorithm INTEGER',
    'ALTER TABLE kms_objects ADD COLUMN crypto_length INTEGER',
    'ALTER TABLE kms_objects ADD COLUMN indexed INTEGER NOT NULL DEFAULT 0',
    `CREATE TABLE kms_object_names (object_id TEXT NOT NULL, name TEXT NOT NULL,
      PRIMARY KEY (object_id, name))`,
    'CREATE INDEX kms_object_names_name ON kms_object_names (name)',
    'CREATE INDEX kms_objects_type_state ON kms_objects (object_type, state)',
    'CREATE INDEX kms_objects_alg_len ON kms_objects (algorithm, crypto_length)',
  ],
  // KMIP Fresh as a column, flipped by one UPDATE on the first Get instead of a whole-row rewrite.
  ['ALTER TABLE kms_objects ADD COLUMN fetched INTEGER NOT NULL DEFAULT 0'],
  // One Locate index instead of three: every Locate is scoped to an owner (or to grants, which go
  // through the primary key), so (owner, type, state, algorithm, length) serves the same queries,
  // and a Create updates two index pages fewer (bench/README.md, "kms").
  [
    'DROP INDEX kms_objects_owner',
    'DROP INDEX kms_objects_type_state',
    'DROP INDEX kms_objects_alg_len',
    'CREATE INDEX kms_objects_locate ON kms_objects (owner, object_type, state, algorithm, crypto_length)',
  ],
]

/** The statement that marks an object's material as served (see Store.markFetched). */
export const markFetchedStmt = (id: string): Stmt => ({
  sql: 'UPDATE kms_objects SET fetched = 1 WHERE id = ? AND fetched = 0',
  params: [id],
})

export const SELECT_OBJECT =
  'SELECT id, owner, object_type, state, attrs, material, format, created_at, updated_at, fetched FROM kms_objects'

export function rowFromDb(r: Record<string, unknown>): ObjectRow {
  return {
    id: String(r['id']),
    owner: String(r['owner']),
    objectType: Number(r['object_type']),
    state: Number(r['state']),
    attrs: String(r['attrs']),
    material: r['material'] == null ? null : new Uint8Array(r['material'] as Buffer),
    format: Number(r['format']),
    createdAt: Number(r['created_at']),
    updatedAt: Number(r['updated_at']),
    fetched: Number(r['fetched'] ?? 0) === 1,
  }
}

/**
 * Group commit: statements queued in the same event-loop turn are committed together by
 * `flush`, and every waiter is resolved (or rejected) with the outcome of that transaction.
 * A lazy submission (no durability of its own, e.g. a first-Get mark) does not start a commit:
 * it rides with the next durable one, or is committed on its own after `lazyMs`.
 */
export class GroupCommit {
  #queue: {
    stmts: readonly Stmt[]
    lazy: boolean
    resolve: () => void
    reject: (e: unknown) => void
  }[] = []
  #scheduled = false
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> = Promise.resolve()
  readonly #flush: (stmts: Stmt[], durable: boolean) => Promise<void>
  readonly #lazyMs: number
  readonly #alone: () => boolean

  /**
   * `flush(stmts, durable)` commits in one transaction, synced to disk when `durable`. A commit
   * normally starts at the end of the event-loop turn (setImmediate), so that the writes of
   * requests read in the same turn share it; when `alone()` says no other request is being
   * handled, there is nothing to gather and it starts at once (a microtask), ~10 µs sooner.
   */
  constructor(
    flush: (stmts: Stmt[], durable: boolean) => Promise<void>,
    lazyMs = 50,
    alone: () => boolean = () => false,
  ) {
    this.#flush = flush
    this.#lazyMs = lazyMs
    this.#alone = alone
  }

  /** Queue statements for the next group commit; `lazy` ones do not force a commit by themselves. */
  submit(stmts: readonly Stmt[], lazy = false): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ stmts, lazy, resolve, reject })
      if (!lazy) this.#now()
      else if (!this.#scheduled && this.#timer === undefined) {
        this.#timer = setTimeout(() => this.#now(), this.#lazyMs)
      }
    })
  }

  #now(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#scheduled) return
    this.#scheduled = true
    const start = (): void => {
      this.#running = this.#running.then(() => this.#drain())
    }
    if (this.#alone()) queueMicrotask(start)
    else setImmediate(start)
  }

  async #drain(): Promise<void> {
    this.#scheduled = false
    const batch = this.#queue
    this.#queue = []
    if (batch.length === 0) return
    try {
      await this.#flush(
        batch.flatMap((b) => b.stmts),
        batch.some((b) => !b.lazy),
      )
      for (const b of batch) b.resolve()
    } catch (e) {
      for (const b of batch) b.reject(e)
    }
  }

  /** Commit everything queued (lazy included) and wait for it. */
  async idle(): Promise<void> {
    if (this.#queue.length > 0) this.#now()
    while (this.#queue.length > 0 || this.#scheduled) await new Promise((r) => setImmediate(r))
    await this.#running
  }
}

/**
 * First-Get marks (KMIP Fresh becomes false) not yet committed. `mark` makes the flag visible to
 * this process at once (reads pass through `apply`) and queues the UPDATE as a lazy group-commit
 * write: no commit and no disk sync of its own on the Get path; it becomes durable with the next
 * durable commit (a power cut before that can leave Fresh reading true for a served object; no key
 * is at stake). A failed write is retried.
 */
export class PendingFetched {
  readonly #ids = new Set<string>()
  readonly #gc: GroupCommit

  constructor(gc: GroupCommit) {
    this.#gc = gc
  }

  mark(id: string): void {
    if (this.#ids.has(id)) return
    this.#ids.add(id)
    this.#gc.submit([markFetchedStmt(id)], true).then(
      () => this.#ids.delete(id),
      () => {
        setTimeout(() => {
          this.#ids.delete(id)
          this.mark(id)
        }, 1000).unref()
      },
    )
  }

  apply(r: ObjectRow): ObjectRow {
    return withFetched(r, this.#ids)
  }

  /** A row read from the database (rowFromDb), with this process's pending marks applied. */
  fromDb(r: Record<string, unknown>): ObjectRow {
    return this.apply(rowFromDb(r))
  }
}

/** `r` with Fresh = false (fetched) when its id is in `ids`. */
export function withFetched(r: ObjectRow, ids: ReadonlySet<string>): ObjectRow {
  return r.fetched !== true && ids.has(r.id) ? { ...r, fetched: true } : r
}

/**
 * Recently written or read object rows of a store that this process alone writes (SQLite in the
 * data dir; the server refuses to start beside another on the same dir). A Get right after its
 * Create, the common KMIP pattern, then costs no SQLite read (~15 µs on this VM). Rows hold only
 * sealed material, as in the database. Kept coherent by the store: a row enters after the commit
 * that wrote it (new objects) or after a read, is replaced after each committed write, and Fresh
 * marks are merged, never lost, because an upsert never clears `fetched` in the database either.
 * Bounded (least recently used rows are dropped).
 */
export class RowCache {
  readonly #rows = new Map<string, ObjectRow>()
  readonly #max: number

  constructor(max = 4096) {
    this.#max = max
  }

  get(id: string): ObjectRow | undefined {
    const r = this.#rows.get(id)
    if (r !== undefined) {
      this.#rows.delete(id)
      this.#rows.set(id, r)
    }
    return r
  }

  /** A row just read from the database. */
  read(r: ObjectRow): void {
    this.#set(r)
  }

  /** Rows just committed: new objects enter, cached ones are replaced; others stay out. */
  written(rows: readonly ObjectRow[]): void {
    for (const r of rows) {
      const prior = this.#rows.get(r.id)
      if (prior === undefined && r.isNew !== true) continue
      const fetched = r.fetched === true || prior?.fetched === true
      this.#set({
        id: r.id,
        owner: r.owner,
        objectType: r.objectType,
        state: r.state,
        attrs: r.attrs,
        material: r.material,
        format: r.format,
        createdAt: r.createdAt,
        updatedAt: r.updatedAt,
        fetched,
      })
    }
  }

  /** The object's material was served (Fresh becomes false). */
  fetched(id: string): void {
    const r = this.#rows.get(id)
    if (r !== undefined && r.fetched !== true) this.#rows.set(id, { ...r, fetched: true })
  }

  #set(r: ObjectRow): void {
    this.#rows.delete(r.id)
    this.#rows.set(r.id, r)
    if (this.#rows.size > this.#max) this.#rows.delete(this.#rows.keys().next().value!)
  }
}
