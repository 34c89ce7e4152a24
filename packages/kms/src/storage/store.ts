/**
 * Storage behind the barrier: untrusted, sees only sealed key material. One interface, two
 * dialects (SQLite default, PostgreSQL), the same migrations (per-dialect only where the SQL
 * types differ). Writes go through group commit: the writes of concurrent requests share one
 * transaction, and each caller's promise resolves only after that transaction committed.
 */

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
}

export interface GrantRow {
  readonly objectId: string
  readonly identity: string
  readonly operations: readonly string[]
}

export interface Store {
  readonly backend: 'sqlite' | 'postgres'
  getObject(id: string): Promise<ObjectRow | undefined>
  /** Objects owned by or granted to `identity`. */
  listVisible(identity: string): Promise<ObjectRow[]>
  /** Insert or replace; resolves after the commit that made them durable. */
  putObjects(rows: readonly ObjectRow[]): Promise<void>
  getGrant(objectId: string, identity: string): Promise<readonly string[] | undefined>
  /** `operations` null removes the grant. */
  setGrant(objectId: string, identity: string, operations: readonly string[] | null): Promise<void>
  listGrants(objectId?: string): Promise<GrantRow[]>
  countByState(): Promise<Map<number, number>>
  countOwners(): Promise<string[]>
  close(): Promise<void>
}

/** A statement for the group-commit queue. `?` placeholders; Postgres rewrites them. */
export interface Stmt {
  readonly sql: string
  readonly params: readonly unknown[]
}

export const upsertObject = (r: ObjectRow): Stmt => ({
  sql:
    'INSERT INTO kms_objects (id, owner, object_type, state, attrs, material, format, created_at, updated_at) ' +
    'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, ' +
    'object_type = excluded.object_type, state = excluded.state, attrs = excluded.attrs, ' +
    'material = excluded.material, format = excluded.format, updated_at = excluded.updated_at',
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
  ],
})

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
]

export const SELECT_OBJECT =
  'SELECT id, owner, object_type, state, attrs, material, format, created_at, updated_at FROM kms_objects'

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
  }
}

/**
 * Group commit: statements queued in the same event-loop turn are committed together by
 * `flush`, and every waiter is resolved (or rejected) with the outcome of that transaction.
 */
export class GroupCommit {
  #queue: { stmts: readonly Stmt[]; resolve: () => void; reject: (e: unknown) => void }[] = []
  #scheduled = false
  #running: Promise<void> = Promise.resolve()
  readonly #flush: (stmts: Stmt[]) => Promise<void>

  constructor(flush: (stmts: Stmt[]) => Promise<void>) {
    this.#flush = flush
  }

  submit(stmts: readonly Stmt[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ stmts, resolve, reject })
      if (!this.#scheduled) {
        this.#scheduled = true
        setImmediate(() => {
          this.#running = this.#running.then(() => this.#drain())
        })
      }
    })
  }

  async #drain(): Promise<void> {
    this.#scheduled = false
    const batch = this.#queue
    this.#queue = []
    if (batch.length === 0) return
    try {
      await this.#flush(batch.flatMap((b) => b.stmts))
      for (const b of batch) b.resolve()
    } catch (e) {
      for (const b of batch) b.reject(e)
    }
  }

  /** Wait for queued work to finish. */
  async idle(): Promise<void> {
    while (this.#queue.length > 0 || this.#scheduled) await new Promise((r) => setImmediate(r))
    await this.#running
  }
}
