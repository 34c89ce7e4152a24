/**
 * A principal's permissions as the effective-privilege rule needs them (authz/effective.ts),
 * read once per request: one query over permissions joined with their roles.
 */
import type { Kysely } from 'kysely'
import type { CenterDb } from '../store/schema.js'
import type { HeldPermission } from './effective.js'
import { isPrivilege, type Privilege } from './privileges.js'

export async function heldPermissions(
  db: Kysely<CenterDb>,
  principal: string,
): Promise<Map<string, HeldPermission>> {
  const rows = await db
    .selectFrom('permissions')
    .innerJoin('roles', 'roles.id', 'permissions.role')
    .select(['permissions.object', 'permissions.propagate', 'roles.privileges'])
    .where('permissions.principal', '=', principal)
    .execute()
  return new Map(
    rows.map((r) => [
      r.object,
      {
        object: r.object,
        propagate: r.propagate === 1,
        privileges: new Set(
          (JSON.parse(r.privileges) as string[]).filter(isPrivilege) as Privilege[],
        ),
      },
    ]),
  )
}
