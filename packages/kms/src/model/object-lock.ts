/**
 * Per-object serialization inside this server process. An operation that reads an object, changes
 * it and saves it (attributes, lifecycle, a Usage Limits count-down) holds its object's lock from
 * the read to the durable save, so two such operations on one object never interleave and neither
 * overwrites the other's change with a stale copy. Reads (Get, GetAttributes, Encrypt without
 * Usage Limits) take no lock. The lock is not reentrant; it does not coordinate several servers
 * sharing one PostgreSQL database.
 */
const tails = new Map<string, Promise<void>>()

/** Run `fn` once every earlier holder of `id`'s lock has finished. */
export async function withObjectLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
  const prev = tails.get(id)
  const { promise: mine, resolve: release }: PromiseWithResolvers<void> = Promise.withResolvers()
  tails.set(id, mine)
  try {
    if (prev !== undefined) await prev
    return await fn()
  } finally {
    release()
    if (tails.get(id) === mine) tails.delete(id)
  }
}
