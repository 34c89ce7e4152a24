/**
 * A write-holding view of a {@link Store} for one KMIP batch sent with Batch Error Continuation
 * Option Undo (KMIP 1.4 §6.7; 2.1 §8, same rule): the batch's writes are kept in memory, later
 * items read them first (an ID placeholder names an object created earlier in the same batch),
 * and `commit` hands them to the store in one group-commit submission only once every item
 * succeeded. Dropping the overlay writes nothing, which is how a failed batch is undone.
 *
 * Other connections do not see the held writes (they are not in the store yet). As with any
 * load-modify-save in this server, a row changed by another connection while the batch runs is
 * overwritten by the batch's version of it at commit (last writer wins).
 */
import { KmsError } from '../errors.js'
import { withFetched } from './fetched-marks.js'
import type { GrantRow, LocateFilter, ObjectRow, Store } from './store.js'

const grantKey = (objectId: string, identity: string): string => `${objectId}\u0000${identity}`

export class StoreOverlay implements Store {
  readonly #base: Store
  /** Held object rows by id, in first-write order. */
  readonly #rows = new Map<string, ObjectRow>()
  /** Held grants; `null` is a held removal. */
  readonly #grants = new Map<string, { objectId: string; identity: string; ops: string[] | null }>()
  /** Ids whose material a held Get served (Store.markFetched), applied at commit. */
  readonly #fetched = new Set<string>()
  #done = false

  constructor(base: Store) {
    this.#base = base
  }

  get backend(): Store['backend'] {
    return this.#base.backend
  }

  /** Whether the batch wrote anything (a read-only batch has nothing to commit). */
  get dirty(): boolean {
    return this.#rows.size > 0 || this.#grants.size > 0 || this.#fetched.size > 0
  }

  async getObject(id: string): Promise<ObjectRow | undefined> {
    const r = this.#rows.get(id) ?? (await this.#base.getObject(id))
    return r === undefined ? undefined : this.#withFetched(r)
  }

  async locateVisible(identity: string, filter: LocateFilter): Promise<ObjectRow[]> {
    const base = await this.#base.locateVisible(identity, filter)
    if (this.#rows.size === 0 && this.#fetched.size === 0) return base
    // Held rows replace their stored versions, which may no longer match the filter.
    const out = base.filter((r) => !this.#rows.has(r.id)).map((r) => this.#withFetched(r))
    for (const r of this.#rows.values()) {
      if (!matches(r, filter)) continue
      if (r.owner !== identity && (await this.getGrant(r.id, identity)) === undefined) continue
      const row: ObjectRow = { ...this.#withFetched(r), material: null }
      // The store's order is creation order; a held row goes after those created no later.
      const at = out.findIndex((o) => o.createdAt > row.createdAt)
      if (at < 0) out.push(row)
      else out.splice(at, 0, row)
    }
    return out
  }

  async putObjects(rows: readonly ObjectRow[]): Promise<void> {
    this.#live()
    // A held row keeps a held Get's Fresh = false even if the operation's copy predates it.
    for (const r of rows) this.#rows.set(r.id, this.#withFetched(r))
  }

  async markFetched(id: string): Promise<void> {
    this.#live()
    this.#fetched.add(id)
    const r = this.#rows.get(id)
    if (r !== undefined) this.#rows.set(id, { ...r, fetched: true })
  }

  async getGrant(objectId: string, identity: string): Promise<readonly string[] | undefined> {
    const g = this.#grants.get(grantKey(objectId, identity))
    if (g !== undefined) return g.ops ?? undefined
    return this.#base.getGrant(objectId, identity)
  }

  async setGrant(
    objectId: string,
    identity: string,
    operations: readonly string[] | null,
  ): Promise<void> {
    this.#live()
    this.#grants.set(grantKey(objectId, identity), {
      objectId,
      identity,
      ops: operations === null ? null : [...operations],
    })
  }

  async listGrants(objectId?: string): Promise<GrantRow[]> {
    const byKey = new Map(
      (await this.#base.listGrants(objectId)).map((g) => [grantKey(g.objectId, g.identity), g]),
    )
    for (const [k, g] of this.#grants) {
      if (objectId !== undefined && g.objectId !== objectId) continue
      if (g.ops === null) byKey.delete(k)
      else byKey.set(k, { objectId: g.objectId, identity: g.identity, operations: g.ops })
    }
    return [...byKey.values()].sort((a, b) =>
      a.objectId === b.objectId
        ? a.identity < b.identity
          ? -1
          : 1
        : a.objectId < b.objectId
          ? -1
          : 1,
    )
  }

  async countByState(): Promise<Map<number, number>> {
    const counts = await this.#base.countByState()
    for (const r of this.#rows.values()) {
      const stored = await this.#base.getObject(r.id)
      if (stored !== undefined) counts.set(stored.state, (counts.get(stored.state) ?? 1) - 1)
      counts.set(r.state, (counts.get(r.state) ?? 0) + 1)
    }
    for (const [state, n] of counts) if (n <= 0) counts.delete(state)
    return counts
  }

  async countOwners(): Promise<string[]> {
    const owners = new Set(await this.#base.countOwners())
    for (const r of this.#rows.values()) owners.add(r.owner)
    return [...owners].sort()
  }

  /**
   * Write everything held, then forget it. Object rows and grants go to the store in the same
   * event-loop turn, so its group commit puts them in one transaction; served-material marks go
   * first (if the transaction then fails, an object reads Fresh = false without having been
   * served, the safe direction). Rejects, with nothing of the rows written, if that commit fails.
   */
  async commit(): Promise<void> {
    this.#live()
    this.#done = true
    // An upsert never sets `fetched` on a stored row, so every mark is its own statement (a no-op
    // for a row the batch creates, whose insert carries it).
    for (const id of this.#fetched) await this.#base.markFetched(id)
    const writes: Promise<void>[] = []
    if (this.#rows.size > 0) writes.push(this.#base.putObjects([...this.#rows.values()]))
    for (const g of this.#grants.values())
      writes.push(this.#base.setGrant(g.objectId, g.identity, g.ops))
    this.#clear()
    await Promise.all(writes)
  }

  /** Drop everything held (the batch is undone); nothing reaches the store. */
  discard(): void {
    this.#done = true
    this.#clear()
  }

  /** Same as {@link discard}: the overlay never closes the store beneath it. */
  async close(): Promise<void> {
    this.discard()
  }

  #clear(): void {
    this.#rows.clear()
    this.#grants.clear()
    this.#fetched.clear()
  }

  #withFetched(r: ObjectRow): ObjectRow {
    return withFetched(r, this.#fetched)
  }

  #live(): void {
    // A programming error, not a client's: the batch is over.
    if (this.#done)
      throw new KmsError(
        'ERR_KMS_INTERNAL',
        'internal error: a batch wrote after its outcome was decided',
      )
  }
}

/**
 * The SQL pre-filter of locateQuery applied to a held row. Like it, it may keep rows that do not
 * match (Locate checks every attribute exactly), never drop one that does: without the writer's
 * Locate columns, the algorithm, length and name conditions are left to Locate.
 */
function matches(r: ObjectRow, f: LocateFilter): boolean {
  if (f.objectType !== undefined && r.objectType !== f.objectType) return false
  if (f.states !== undefined && !f.states.includes(r.state)) return false
  const c = r.locate
  if (c === undefined) return true
  if (f.algorithm !== undefined && c.algorithm !== f.algorithm) return false
  if (f.cryptoLength !== undefined && c.cryptoLength !== f.cryptoLength) return false
  if (f.name !== undefined && !c.names.includes(f.name)) return false
  return true
}
