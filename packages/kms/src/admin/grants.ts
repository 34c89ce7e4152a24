import { openDataDir } from './data-dir.js'
import { KmsError } from '../errors.js'
import { privilegeNames } from '../operations/registry.js'
import { openPostgresStore } from '../storage/postgres.js'
import { openSqliteStore } from '../storage/sqlite.js'
import type { GrantRow, Store } from '../storage/store.js'

async function withStore<T>(
  dataDir: string,
  db: string | undefined,
  fn: (s: Store) => Promise<T>,
): Promise<T> {
  const p = openDataDir(dataDir)
  const s = db !== undefined ? await openPostgresStore(db) : await openSqliteStore(p.db)
  try {
    return await fn(s)
  } finally {
    await s.close()
  }
}

/** Let `identity` run `operations` (privilege names, or `all`) on object `objectId`. */
export async function grantAccess(
  dataDir: string,
  objectId: string,
  identity: string,
  operations: readonly string[],
  db?: string,
): Promise<GrantRow> {
  const bad = operations.filter((o) => !privilegeNames.includes(o))
  if (bad.length > 0 || operations.length === 0)
    throw new KmsError(
      'ERR_KMS_BAD_GRANT',
      `unknown operation(s) ${bad.join(', ') || '(none given)'}; use: ${privilegeNames.join(', ')}`,
      'InvalidField',
    )
  return withStore(dataDir, db, async (s) => {
    if ((await s.getObject(objectId)) === undefined)
      throw new KmsError(
        'ERR_KMS_NOT_FOUND',
        `object ${objectId} not found (list ids with a Locate)`,
        'ItemNotFound',
      )
    const prev = (await s.getGrant(objectId, identity)) ?? []
    const ops = [...new Set([...prev, ...operations])]
    await s.setGrant(objectId, identity, ops)
    return { objectId, identity, operations: ops }
  })
}

/** Remove `operations` (or everything when empty) from `identity`'s grant on `objectId`. */
export async function revokeAccess(
  dataDir: string,
  objectId: string,
  identity: string,
  operations: readonly string[] = [],
  db?: string,
): Promise<GrantRow | null> {
  return withStore(dataDir, db, async (s) => {
    const prev = await s.getGrant(objectId, identity)
    if (prev === undefined) return null
    const ops = operations.length === 0 ? [] : prev.filter((o) => !operations.includes(o))
    await s.setGrant(objectId, identity, ops.length === 0 ? null : ops)
    return ops.length === 0 ? null : { objectId, identity, operations: ops }
  })
}

export async function listGrants(
  dataDir: string,
  objectId?: string,
  db?: string,
): Promise<GrantRow[]> {
  return withStore(dataDir, db, (s) => s.listGrants(objectId))
}
