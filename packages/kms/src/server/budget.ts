/**
 * The server-wide budget for buffered request bytes (`ward kms serve --max-buffered-mib`).
 *
 * A frame's whole length (8-byte header + value) is reserved as soon as its header has been
 * read, before its body is buffered, and given back once its reply has been handed to the
 * socket (or its connection closed). A frame that does not fit waits: its connection stops
 * reading (the bytes stay in the kernel's socket buffer and the socket's bounded stream buffer)
 * until releases make room, then it is granted and reading resumes. So the bytes the server
 * holds for requests never exceed the budget, and every admitted frame can complete: nothing
 * deadlocks (a frame that stops arriving is closed by the frame timeout and released).
 *
 * Frames larger than SMALL_FRAME may use only three quarters of the budget; the last quarter is
 * for small frames (ordinary KMIP requests are a few hundred bytes), so a few slow large frames
 * cannot hold the whole budget and shut every other client out.
 */
export const SMALL_FRAME = 64 << 10

export interface BudgetWaiter {
  readonly n: number
  readonly grant: () => void
}

export class RequestBudget {
  readonly limit: number
  /** The most that frames larger than SMALL_FRAME may hold together. */
  readonly largeLimit: number
  /** Bytes reserved now. */
  used = 0
  /** Highest `used` seen. */
  peak = 0
  /** Frames that had to wait, in total. */
  waits = 0
  // A Set keeps insertion order: waiters are granted oldest first, skipping those that do not fit.
  readonly #waiters = new Set<BudgetWaiter>()

  constructor(limit: number) {
    this.limit = limit
    this.largeLimit = limit - Math.floor(limit / 4)
  }

  get waiting(): number {
    return this.#waiters.size
  }

  /** Reserves `n` bytes if they fit now. */
  tryTake(n: number): boolean {
    if (this.used + n > (n > SMALL_FRAME ? this.largeLimit : this.limit)) return false
    this.used += n
    if (this.used > this.peak) this.peak = this.used
    return true
  }

  /** Queues a frame that did not fit: `grant` is called once its `n` bytes are reserved. */
  wait(n: number, grant: () => void): BudgetWaiter {
    const w = { n, grant }
    this.waits++
    this.#waiters.add(w)
    return w
  }

  /** Forgets a waiter (its connection closed). */
  cancel(w: BudgetWaiter): void {
    this.#waiters.delete(w)
  }

  release(n: number): void {
    this.used -= n
    if (this.#waiters.size > 0) this.#wake()
  }

  #wake(): void {
    for (const w of this.#waiters)
      if (this.tryTake(w.n)) {
        this.#waiters.delete(w)
        w.grant()
      }
  }
}
