import { openDataDir } from './data-dir.js'
import { listClients } from './revocation.js'
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
    )
  return withStore(dataDir, db, async (s) => {
    if ((await s.getObject(objectId)) === undefined)
      throw new KmsError(
        'ERR_KMS_NOT_FOUND',
        `object ${objectId} not found; list ids with: ward kms objects list --data-dir ${dataDir}`,
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

/**
 * Warnings for a grant to `identity`: no client certificate was issued for it here (`ward kms
 * client add`), or every one issued is revoked. The grant is still made (the identity may hold a
 * certificate from another CA the server trusts, or get one later).
 */
export function grantWarnings(dataDir: string, identity: string): string[] {
  const mine = listClients(dataDir).filter((c) => c.name === identity)
  if (mine.length === 0)
    return [
      `no client certificate was issued for ${identity} here; it can use the grant once it has one: ward kms client add ${identity} --data-dir ${dataDir} --out DIR`,
    ]
  if (mine.every((c) => c.revokedAt !== undefined))
    return [
      `every client certificate of ${identity} is revoked; issue a new one: ward kms client add ${identity} --data-dir ${dataDir} --out DIR`,
    ]
  return []
}
