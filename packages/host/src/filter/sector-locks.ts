/**
 * Exclusive locks on sector numbers, for read-modify-write: two sub-sector writes to different
 * bytes of one sector, in flight at once (NBD allows it: they do not overlap), must not both read
 * the old sector and each write back its own version. Sectors are taken in ascending order, so
 * two callers never wait on each other in a cycle; waiters are served first come, first served.
 */
export class SectorLocks {
  /** Held sectors, each with the callbacks of those waiting for it. */
  readonly #held = new Map<number, (() => void)[]>()

  /** Sectors currently held (tests). */
  get held(): number {
    return this.#held.size
  }

  /** Waits until every sector in `sectors` is ours; the returned function releases them. */
  async lock(sectors: readonly number[]): Promise<() => void> {
    const want = [...new Set(sectors)].sort((a, b) => a - b)
    for (const s of want) {
      const queue = this.#held.get(s)
      if (queue === undefined) this.#held.set(s, [])
      else await new Promise<void>((resolve) => queue.push(resolve))
    }
    let released = false
    return () => {
      if (released) return
      released = true
      for (const s of want) {
        const next = this.#held.get(s)?.shift()
        if (next !== undefined)
          next() // ownership passes to the next waiter
        else this.#held.delete(s)
      }
    }
  }
}
