import type { ObjectRow } from './store.js'

/**
 * Recently written or read object rows of a store that this process alone writes (SQLite in the
 * data dir; the server refuses to start beside another on the same dir). A Get right after its
 * Create, the common KMIP pattern, then costs no SQLite read (what one costs: bench/README.md,
 * "Figures from source comments"). Rows hold only
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
