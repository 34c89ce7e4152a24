/** Handlers of sessions, API tokens, users, privileges, roles and permissions. */
import { CenterError } from '../../errors.js'
import { privilegeTable, privileges, type Privilege } from '../../authz/privileges.js'
import {
  checkPrivileges,
  createRole,
  deleteRole,
  getRole,
  listRoles,
  updateRole,
} from '../../authz/role-store.js'
import type { Ctx, Handlers } from '../context.js'

type AccessHandlers = Pick<
  Handlers,
  | 'session.create'
  | 'session.get'
  | 'session.delete'
  | 'openapi.get'
  | 'token.create'
  | 'token.list'
  | 'token.revoke'
  | 'user.list'
  | 'user.create'
  | 'user.delete'
  | 'privilege.list'
  | 'role.list'
  | 'role.get'
  | 'role.create'
  | 'role.clone'
  | 'role.update'
  | 'role.delete'
  | 'permission.list'
  | 'permission.set'
  | 'permission.remove'
>

/** user:password of an HTTP basic Authorization header, as bytes (the caller zeroes them). */
function basicAuth(header: string | undefined): { user: string; password: Buffer } | undefined {
  if (header === undefined || !header.startsWith('Basic ') || header.length > 4096) return undefined
  const raw = Buffer.from(header.slice(6), 'base64')
  const colon = raw.indexOf(0x3a)
  if (colon < 0) {
    raw.fill(0)
    return undefined
  }
  const user = raw.subarray(0, colon).toString('utf8')
  const password = Buffer.from(raw.subarray(colon + 1))
  raw.fill(0)
  return { user, password }
}

const db = (ctx: Ctx) => ctx.services.store.db

/**
 * No one gives what they do not hold (vCenter's rule): a role made or changed by the caller may
 * only hold privileges the caller holds at root, and a permission set on an object may only give
 * a role whose privileges the caller holds there. Without it, NoCryptoAdmin (which may modify
 * roles and permissions) could make itself a cryptographer.
 */
async function mayGive(ctx: Ctx, object: string, privs: readonly Privilege[]): Promise<void> {
  const mine = await ctx.privilegesOn(object)
  const lacking = privs.filter((p) => !mine.has(p))
  if (lacking.length > 0)
    throw new CenterError(
      'ERR_CENTER_PERMISSION_DENIED',
      `you cannot give privileges you do not hold on ${object}: ${lacking.join(', ')}; ask an administrator who holds them`,
      { privilege: lacking[0]!, object },
    )
}

export const accessHandlers: AccessHandlers = {
  async 'session.create'(ctx) {
    const creds = basicAuth(ctx.authorization)
    if (creds === undefined)
      throw new CenterError(
        'ERR_CENTER_UNAUTHENTICATED',
        'POST /api/session needs HTTP basic auth (Authorization: Basic base64(user:password)); ward login does it',
      )
    try {
      let user: string
      try {
        user = await ctx.services.accounts.authenticate(creds.user, creds.password)
      } catch (e) {
        const locked = e instanceof CenterError && e.code === 'ERR_CENTER_LOCKED_OUT'
        await ctx.services.audit.record({
          requestId: ctx.requestId,
          principal: creds.user.slice(0, 64),
          method: 'POST',
          route: '/api/session',
          privileges: [],
          object: '',
          outcome: locked ? 'locked-out' : 'unauthenticated',
          status: locked ? 429 : 401,
        })
        throw e
      }
      return await ctx.services.accounts.createSession(user)
    } finally {
      creds.password.fill(0)
    }
  },
  async 'session.get'(ctx) {
    const row = await db(ctx)
      .selectFrom('sessions')
      .select('created_at')
      .where('id_hmac', '=', ctx.services.sealer.hmac('session', ctx.sessionId ?? ''))
      .executeTakeFirst()
    return {
      user: ctx.user!,
      created_time: new Date(row?.created_at ?? ctx.services.accounts.now()).toISOString(),
    }
  },
  async 'session.delete'(ctx) {
    if (ctx.sessionId !== undefined) await ctx.services.accounts.deleteSession(ctx.sessionId)
    return null
  },
  async 'openapi.get'(ctx) {
    return ctx.services.openapi() as Record<string, never>
  },
  async 'token.create'(ctx, { body }) {
    return ctx.services.accounts.createToken(ctx.user!, body.name, body.ttl_seconds)
  },
  async 'token.list'(ctx) {
    return ctx.services.accounts.listTokens(ctx.user!)
  },
  async 'token.revoke'(ctx, { params }) {
    if (!(await ctx.services.accounts.revokeToken(ctx.user!, params.token)))
      throw new CenterError(
        'ERR_CENTER_NOT_FOUND',
        `you have no API token ${params.token}; ward token list shows yours`,
      )
    return null
  },
  async 'user.list'(ctx) {
    return ctx.services.accounts.listUsers()
  },
  async 'user.create'(ctx, { body }) {
    const pw = Buffer.from(body.password, 'utf8')
    try {
      await ctx.services.accounts.createUser(body.name, pw)
    } finally {
      pw.fill(0)
    }
    const u = (await ctx.services.accounts.listUsers()).find((x) => x.name === body.name)!
    return u
  },
  async 'user.delete'(ctx, { params }) {
    const name = params.user
    if (name === ctx.user)
      throw new CenterError(
        'ERR_CENTER_IN_USE',
        'you cannot delete the user you are logged in as; log in as another administrator',
      )
    await db(ctx)
      .transaction()
      .execute(async (trx) => {
        const u = await trx
          .selectFrom('users')
          .select('name')
          .where('name', '=', name)
          .executeTakeFirst()
        if (u === undefined)
          throw new CenterError(
            'ERR_CENTER_NOT_FOUND',
            `no user ${name}; ward user list shows them`,
          )
        await trx.deleteFrom('sessions').where('user', '=', name).execute()
        await trx.deleteFrom('api_tokens').where('user', '=', name).execute()
        await trx.deleteFrom('permissions').where('principal', '=', name).execute()
        await trx.deleteFrom('users').where('name', '=', name).execute()
      })
    return null
  },
  async 'privilege.list'() {
    return privileges.map((id) => ({ id, description: privilegeTable[id] }))
  },
  async 'role.list'(ctx) {
    return listRoles(db(ctx))
  },
  async 'role.get'(ctx, { params }) {
    return getRole(db(ctx), params.role)
  },
  async 'role.create'(ctx, { body }) {
    await mayGive(ctx, 'root', checkPrivileges(body.privileges))
    return createRole(db(ctx), body.name, body.label ?? body.name, body.privileges)
  },
  async 'role.clone'(ctx, { params, body }) {
    const from = await getRole(db(ctx), params.role)
    const add = checkPrivileges(body.add ?? [])
    const remove = new Set(checkPrivileges(body.remove ?? []))
    const privs = [...new Set([...from.privileges, ...add])].filter((p) => !remove.has(p))
    await mayGive(ctx, 'root', privs)
    return createRole(db(ctx), body.name, body.label ?? body.name, privs)
  },
  async 'role.update'(ctx, { params, body }) {
    if (body.privileges !== undefined) await mayGive(ctx, 'root', checkPrivileges(body.privileges))
    return updateRole(db(ctx), params.role, {
      ...(body.label !== undefined ? { label: body.label } : {}),
      ...(body.privileges !== undefined ? { privileges: body.privileges } : {}),
    })
  },
  async 'role.delete'(ctx, { params }) {
    await deleteRole(db(ctx), params.role)
    return null
  },
  async 'permission.list'(ctx, { query }) {
    let q = db(ctx)
      .selectFrom('permissions')
      .innerJoin('roles', 'roles.id', 'permissions.role')
      .select([
        'permissions.object',
        'permissions.principal',
        'permissions.propagate',
        'roles.name',
      ])
    if (query.object !== undefined) q = q.where('permissions.object', '=', query.object)
    if (query.principal !== undefined) q = q.where('permissions.principal', '=', query.principal)
    const rows = await q.orderBy('permissions.object').orderBy('permissions.principal').execute()
    const out = []
    for (const r of rows)
      if (await ctx.visible(r.object))
        out.push({
          object: r.object,
          principal: r.principal,
          role: r.name,
          propagate: r.propagate === 1,
        })
    return out
  },
  async 'permission.set'(ctx, { body }) {
    const role = await getRole(db(ctx), body.role)
    await mayGive(ctx, body.object, role.privileges)
    const u = await db(ctx)
      .selectFrom('users')
      .select('name')
      .where('name', '=', body.principal)
      .executeTakeFirst()
    if (u === undefined)
      throw new CenterError(
        'ERR_CENTER_NOT_FOUND',
        `no user ${body.principal}; create it first (ward user add)`,
      )
    await db(ctx)
      .insertInto('permissions')
      .values({
        object: body.object,
        principal: body.principal,
        role: role.id,
        propagate: body.propagate ? 1 : 0,
      })
      .onConflict((oc) =>
        oc
          .columns(['object', 'principal'])
          .doUpdateSet({ role: role.id, propagate: body.propagate ? 1 : 0 }),
      )
      .execute()
    return {
      object: body.object,
      principal: body.principal,
      role: role.name,
      propagate: body.propagate,
    }
  },
  async 'permission.remove'(ctx, { query }) {
    const r = await db(ctx)
      .deleteFrom('permissions')
      .where('object', '=', query.object)
      .where('principal', '=', query.principal)
      .executeTakeFirst()
    if (r.numDeletedRows === 0n)
      throw new CenterError(
        'ERR_CENTER_NOT_FOUND',
        `${query.principal} has no permission on ${query.object}; ward permission list shows them`,
      )
    return null
  },
}
