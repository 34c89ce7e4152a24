import type { GroupCommit } from './group-commit.js'
import { markFetchedStmt, rowFromDb } from './statements.js'
import type { ObjectRow } from './store.js'

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
    this.#gc.submit([markFetchedStmt(id)], 'lazy').then(
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
