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
  readonly #parents = new Map<string, string>()

  constructor(db: Kysely<CenterDb>) {
    this.#db = db
  }

  /** Record a known parent (list routes pass the rows they already read). */
  know(id: string, parent: string): void {
    this.#parents.set(id, parent)
  }

  /**
   * `id` and its ancestors, nearest first, ending with 'root'; undefined when `id` does not
   * exist. One query whatever the depth (a VM's host and the host's cluster are joined in), so an
   * authorised read costs the same on a VM as on a datacenter.
   */
  async pathOf(id: string): Promise<string[] | undefined> {
    const known = this.#knownPath(id)
    if (known !== undefined) return known
    const db = this.#db
    let chain: (string | null | undefined)[] | undefined
    switch (kindOf(id)) {
      case 'root':
        return ['root']
      case 'datacenter': {
        const r = await db
          .selectFrom('datacenters')
          .select('id')
          .where('id', '=', id)
          .executeTakeFirst()
        chain = r === undefined ? undefined : []
        break
      }
      case 'cluster': {
        const r = await db
          .selectFrom('clusters')
          .select('datacenter')
          .where('id', '=', id)
          .executeTakeFirst()
        chain = r === undefined ? undefined : [r.datacenter]
        break
      }
      case 'host': {
        const r = await db
          .selectFrom('hosts')
          .select(['cluster', 'datacenter'])
          .where('id', '=', id)
          .executeTakeFirst()
        chain = r === undefined ? undefined : [r.cluster, r.datacenter]
        break
      }
      case 'datastore': {
        const r = await db
          .selectFrom('datastores')
          .select('datacenter')
          .where('id', '=', id)
          .executeTakeFirst()
        chain = r === undefined ? undefined : [r.datacenter]
        break
      }
      case 'vm': {
        const r = await db
          .selectFrom('vms')
          .leftJoin('hosts', 'hosts.id', 'vms.host')
          .select(['vms.datacenter', 'vms.host', 'hosts.cluster'])
          .where('vms.id', '=', id)
          .executeTakeFirst()
        chain = r === undefined ? undefined : [r.host, r.cluster, r.datacenter]
        break
      }
      default:
        chain = undefined
    }
    if (chain === undefined) return undefined
    const path = [id, ...chain.filter((x): x is string => typeof x === 'string'), 'root']
    for (let k = 0; k + 1 < path.length; k++) this.#parents.set(path[k]!, path[k + 1]!)
    return path
  }

  /** The path from memoized parents alone (list routes tell them), or undefined. */
  #knownPath(id: string): string[] | undefined {
    const path = [id]
    let cur = id
    while (cur !== 'root') {
      const p = this.#parents.get(cur)
      if (p === undefined) return undefined
      path.push(p)
      cur = p
      if (path.length > 16) return undefined
    }
    return path
  }
}
