/**
 * Roles in the database: the system roles (authz/roles.ts) are written there at every start so
 * permissions can reference them, and are never changed through the API; custom roles get ids
 * from 1 up (system roles are negative, as in vSphere).
 */
import type { Kysely } from 'kysely'
import { CenterError } from '../errors.js'
import type { CenterDb } from '../store/schema.js'
import { isPrivilege, privileges as allPrivileges, type Privilege } from './privileges.js'
import { systemRoles } from './roles.js'

export interface RoleView {
  readonly id: number
  readonly name: string
  readonly label: string
  readonly system: boolean
  readonly privileges: Privilege[]
}

/** Write the system roles' rows (insert or overwrite) from the code's table. */
export async function syncSystemRoles(db: Kysely<CenterDb>): Promise<void> {
  for (const r of systemRoles)
    await db
      .insertInto('roles')
      .values({
        id: r.id,
        name: r.name,
        label: r.label,
        system: 1,
        privileges: JSON.stringify(r.privileges),
      })
      .onConflict((oc) =>
        oc.column('id').doUpdateSet({
          name: r.name,
          label: r.label,
          system: 1,
          privileges: JSON.stringify(r.privileges),
        }),
      )
      .execute()
}

const view = (r: CenterDb['roles']): RoleView => ({
  id: r.id,
  name: r.name,
  label: r.label,
  system: r.system === 1,
  privileges: (JSON.parse(r.privileges) as string[]).filter(isPrivilege),
})

/** Privilege names checked against the closed list, in table order. */
export function checkPrivileges(names: readonly string[]): Privilege[] {
  const unknown = names.filter((n) => !isPrivilege(n))
  if (unknown.length > 0)
    throw new CenterError(
      'ERR_CENTER_UNKNOWN_PRIVILEGE',
      `unknown privilege(s) ${unknown.join(', ')}; GET /api/ward/privileges (ward role privileges) lists them`,
    )
  const set = new Set(names)
  return allPrivileges.filter((p) => set.has(p))
}

export async function listRoles(db: Kysely<CenterDb>): Promise<RoleView[]> {
  return (await db.selectFrom('roles').selectAll().orderBy('id').execute()).map(view)
}

export async function getRole(db: Kysely<CenterDb>, name: string): Promise<RoleView> {
  const r = await db.selectFrom('roles').selectAll().where('name', '=', name).executeTakeFirst()
  if (r === undefined)
    throw new CenterError('ERR_CENTER_NOT_FOUND', `no role ${name}; ward role list shows them`)
  return view(r)
}

export async function createRole(
  db: Kysely<CenterDb>,
  name: string,
  label: string,
  privileges: readonly string[],
): Promise<RoleView> {
  const privs = checkPrivileges(privileges)
  for (let attempt = 0; ; attempt++) {
    const exists = await db
      .selectFrom('roles')
      .select('id')
      .where('name', '=', name)
      .executeTakeFirst()
    if (exists !== undefined)
      throw new CenterError('ERR_CENTER_EXISTS', `a role named ${name} exists; choose another name`)
    const max = await db
      .selectFrom('roles')
      .select((eb) => eb.fn.max('id').as('m'))
      .executeTakeFirst()
    const id = Math.max(0, Number(max?.m ?? 0)) + 1
    try {
      await db
        .insertInto('roles')
        .values({ id, name, label, system: 0, privileges: JSON.stringify(privs) })
        .execute()
      return { id, name, label, system: false, privileges: privs }
    } catch (e) {
      // another center process took the id or the name at the same moment: look again
      if (attempt >= 3) throw e
    }
  }
}

function mutable(r: RoleView): void {
  if (r.system)
    throw new CenterError(
      'ERR_CENTER_SYSTEM_ROLE',
      `${r.name} is a system role and cannot be changed or deleted; clone it (ward role clone ${r.name} NEW) and change the clone`,
    )
}

export async function updateRole(
  db: Kysely<CenterDb>,
  name: string,
  change: { label?: string; privileges?: readonly string[] },
): Promise<RoleView> {
  const r = await getRole(db, name)
  mutable(r)
  const privs = change.privileges === undefined ? r.privileges : checkPrivileges(change.privileges)
  const label = change.label ?? r.label
  await db
    .updateTable('roles')
    .set({ label, privileges: JSON.stringify(privs) })
    .where('id', '=', r.id)
    .execute()
  return { ...r, label, privileges: privs }
}

export async function deleteRole(db: Kysely<CenterDb>, name: string): Promise<void> {
  const r = await getRole(db, name)
  mutable(r)
  const used = await db
    .selectFrom('permissions')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('role', '=', r.id)
    .executeTakeFirst()
  if (Number(used?.n ?? 0) > 0)
    throw new CenterError(
      'ERR_CENTER_IN_USE',
      `role ${name} is used by ${Number(used?.n)} permission(s); remove them first (ward permission list shows them)`,
    )
  await db.deleteFrom('roles').where('id', '=', r.id).execute()
}
