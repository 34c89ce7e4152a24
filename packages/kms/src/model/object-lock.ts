/**
 * Per-object serialization. An operation that reads an object, changes it and saves it
 * (attributes, lifecycle, a Usage Limits count-down) holds its object's lock from the read to the
 * durable save, so two such operations on one object never interleave and neither overwrites the
 * other's change with a stale copy. Reads (Get, GetAttributes, Encrypt without Usage Limits) take
 * no lock. The lock is not reentrant.
 *
 * Inside this server the lock is a queue per object id. When the store is shared with other
 * servers (PostgreSQL, see Store.exclusive), the holder at the head of the queue also takes the
 * database's lock on the id, so that servers on one database serialize as one server does; the
 * queue in front keeps one database connection per contended object, not one per waiter.
 */

/** Runs `fn` while holding a lock on `id` that other processes respect. */
export type LockAcross = <T>(id: string, fn: () => Promise<T>) => Promise<T>

export class ObjectLocks {
  readonly #tails = new Map<string, Promise<void>>()
  readonly #across: LockAcross | undefined

  constructor(across?: LockAcross) {
    this.#across = across
  }

  /** Run `fn` once every earlier holder of `id`'s lock has finished. */
  async run<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#tails.get(id)
    const { promise: mine, resolve: release }: PromiseWithResolvers<void> = Promise.withResolvers()
    this.#tails.set(id, mine)
    try {
      if (prev !== undefined) await prev
      return this.#across === undefined ? await fn() : await this.#across(id, fn)
    } finally {
      release()
      if (this.#tails.get(id) === mine) this.#tails.delete(id)
    }
  }

  /** Ids locked or waited for now. */
  get size(): number {
    return this.#tails.size
  }
}
