import type { Stmt } from './store.js'

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
