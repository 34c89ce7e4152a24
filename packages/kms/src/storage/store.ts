/**
 * Storage behind the barrier: untrusted, sees only sealed key material. One interface, two
 * dialects (SQLite default, PostgreSQL), the same migrations (migrations.ts; per-dialect only
 * where the SQL types differ) and statements (statements.ts). Writes go through group commit
 * (group-commit.ts): the writes of concurrent requests share one transaction, and each caller's
 * promise resolves only after that transaction committed.
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
   * Record that an object's key material was served (Fresh becomes false). SQLite: visible to
   * this server's reads before it resolves, committed with the next group commit and durable
   * with the next durable one (see PendingFetched: a power cut in between can leave Fresh reading
   * true for an object already served; no key is at stake, and a first Get pays no commit of its
   * own). PostgreSQL: committed, so visible to every server on the database, before it resolves;
   * durable with the next durable commit.
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
