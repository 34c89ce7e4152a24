/**
 * Inventory object ids, shaped like vSphere's managed object ids: `datacenter-1`, `domain-c2`
 * (a cluster), `host-3`, `datastore-4`, `vm-5`, and `root` (the center itself, the top of the
 * permission tree). The number comes from one counter (store table `counters`), as in vCenter.
 */
import type { Kysely } from 'kysely'
import type { CenterDb } from '../store/schema.js'

export const objectKinds = {
  datacenter: { prefix: 'datacenter-', table: 'datacenters' },
  cluster: { prefix: 'domain-c', table: 'clusters' },
  host: { prefix: 'host-', table: 'hosts' },
  datastore: { prefix: 'datastore-', table: 'datastores' },
  vm: { prefix: 'vm-', table: 'vms' },
} as const

export type ObjectKind = keyof typeof objectKinds | 'root'

/** The id pattern of a kind (for route schemas). */
export const idPattern = (kind: keyof typeof objectKinds): string =>
  `^${objectKinds[kind].prefix}[1-9][0-9]{0,14}$`

/** The kind of an id, or undefined for a string that is no inventory id. */
export function kindOf(id: string): ObjectKind | undefined {
  if (id === 'root') return 'root'
  for (const [k, v] of Object.entries(objectKinds))
    if (id.startsWith(v.prefix) && /^[1-9][0-9]{0,14}$/.test(id.slice(v.prefix.length)))
      return k as ObjectKind
  return undefined
}

/** A new id of `kind` (the next value of the inventory counter). */
export async function newId(db: Kysely<CenterDb>, kind: keyof typeof objectKinds): Promise<string> {
  const r = await db
    .updateTable('counters')
    .set((eb) => ({ next: eb('next', '+', 1) }))
    .where('name', '=', 'inventory')
    .returning('next')
    .executeTakeFirstOrThrow()
  return `${objectKinds[kind].prefix}${r.next}`
}
