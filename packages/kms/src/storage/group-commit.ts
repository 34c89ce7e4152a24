import type { Stmt } from './store.js'

/**
 * How a submission is committed. `durable`: a commit starts for it and is synced to disk before
 * it resolves. `lazy` (no durability of its own, e.g. a first-Get mark in SQLite): it starts no
 * commit, rides with the next durable one, or is committed on its own after `lazyMs`. `visible`
 * (a first-Get mark in PostgreSQL, which other servers must see): a commit starts for it at once
 * but need not be synced; it resolves once committed, so every connection sees it.
 */
export type WriteMode = 'durable' | 'lazy' | 'visible'

/**
 * Group commit: statements queued in the same event-loop turn are committed together by
 * `flush`, and every waiter is resolved (or rejected) with the outcome of that transaction.
 */
export class GroupCommit {
  #queue: {
    stmts: readonly Stmt[]
    mode: WriteMode
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
   * handled, there is nothing to gather and it starts at once (a microtask), not a turn later.
   * (Figure: bench/README.md, "Figures from source comments".)
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

  /** Queue statements for the next group commit (see WriteMode). */
  submit(stmts: readonly Stmt[], mode: WriteMode = 'durable'): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ stmts, mode, resolve, reject })
      if (mode !== 'lazy') this.#now()
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
        batch.some((b) => b.mode === 'durable'),
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
