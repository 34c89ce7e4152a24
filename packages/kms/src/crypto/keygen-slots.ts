/**
 * Key generation runs in libuv's thread pool, never on the event loop: an RSA-4096 key takes
 * seconds (bench/README.md, "Figures from source comments"), and a batch of Create Key Pair items
 * held every other client that long per item (issue 10). At most `max` run at once per server, so that the pool's other threads stay free
 * for the store's fdatasync and the audit log.
 */
export class KeygenSlots {
  #busy = 0
  readonly #queue: (() => void)[] = []
  readonly #max: number

  constructor(max = 2) {
    this.#max = max
  }

  /** Run `f` once a slot is free. */
  async run<T>(f: () => Promise<T>): Promise<T> {
    if (this.#busy < this.#max) this.#busy++
    else await new Promise<void>((resolve) => this.#queue.push(resolve)) // the slot is handed over
    try {
      return await f()
    } finally {
      const next = this.#queue.shift()
      if (next !== undefined) next()
      else this.#busy--
    }
  }
}
