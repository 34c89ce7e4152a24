/**
 * The permission tree: root > datacenter > cluster > host > vm, and datacenter > datastore
 * (a standalone host hangs from its datacenter, a VM without a host too). `pathOf` gives an
 * object and its ancestors, nearest first, ending at `root`; the memo lives for one request.
 */
import type { Kysely } from 'kysely'
import type { CenterDb } from '../store/schema.js'
import { kindOf } from './ids.js'

export class TreeReader {
  readonly #db: Kysely<CenterDb>
  readonly #parents = new Map<string, string | null>()

  constructor(db: Kysely<CenterDb>) {
    this.#db = db
  }

  /** Record a known parent (list routes pass the rows they already read). */
  know(id: string, parent: string): void {
    this.#parents.set(id, parent)
  }

  /** The parent of `id`, 'root' for a datacenter, null when `id` does not exist. */
  async parentOf(id: string): Promise<string | null> {
    const memo = this.#parents.get(id)
    if (memo !== undefined) return memo
    const db = this.#db
    let parent: string | null = null
    switch (kindOf(id)) {
      case 'datacenter': {
        const r = await db
          .selectFrom('datacenters')
          .select('id')
          .where('id', '=', id)
          .executeTakeFirst()
        parent = r === undefined ? null : 'root'
        break
      }
      case 'cluster': {
        const r = await db
          .selectFrom('clusters')
          .select('datacenter')
          .where('id', '=', id)
          .executeTakeFirst()
        parent = r?.datacenter ?? null
        break
      }
      case 'host': {
        const r = await db
          .selectFrom('hosts')
          .select(['cluster', 'datacenter'])
          .where('id', '=', id)
          .executeTakeFirst()
        parent = r === undefined ? null : (r.cluster ?? r.datacenter)
        break
      }
      case 'datastore': {
        const r = await db
          .selectFrom('datastores')
          .select('datacenter')
          .where('id', '=', id)
          .executeTakeFirst()
        parent = r?.datacenter ?? null
        break
      }
      case 'vm': {
        const r = await db
          .selectFrom('vms')
          .select(['host', 'datacenter'])
          .where('id', '=', id)
          .executeTakeFirst()
        parent = r === undefined ? null : (r.host ?? r.datacenter)
        break
      }
      default:
        parent = null
    }
    this.#parents.set(id, parent)
    return parent
  }

  /** `id` and its ancestors, nearest first, ending with 'root'; undefined when `id` does not exist. */
  async pathOf(id: string): Promise<string[] | undefined> {
    const path = [id]
    let cur = id
    while (cur !== 'root') {
      const p = await this.parentOf(cur)
      if (p === null) return undefined
      path.push(p)
      cur = p
      if (path.length > 16) return undefined // a cycle cannot happen; bound it anyway
    }
    return path
  }
}
