/** Handlers of the inventory: datacenters, clusters, hosts (and joining), datastores, VMs. */
import { randomBytes } from 'node:crypto'
import type { Kysely, Selectable } from 'kysely'
import { CenterError } from '../../errors.js'
import { newId } from '../../inventory/ids.js'
import type { CenterDb, HostsTable } from '../../store/schema.js'
import type { Ctx, Handlers } from '../context.js'

type InventoryHandlers = Pick<
  Handlers,
  | 'datacenter.list'
  | 'datacenter.get'
  | 'datacenter.create'
  | 'datacenter.delete'
  | 'cluster.list'
  | 'cluster.get'
  | 'cluster.create'
  | 'cluster.delete'
  | 'host.list'
  | 'host.get'
  | 'host.delete'
  | 'host.joinToken'
  | 'host.join'
  | 'datastore.list'
  | 'datastore.get'
  | 'vm.list'
  | 'vm.get'
>

const db = (ctx: Ctx): Kysely<CenterDb> => ctx.services.store.db
const missing = (what: string, id: string): CenterError =>
  new CenterError('ERR_CENTER_NOT_FOUND', `no ${what} ${id}; list them to check the id`)

const hostView = (h: Selectable<HostsTable>) => ({
  host: h.id,
  name: h.name,
  datacenter: h.datacenter,
  cluster: h.cluster,
  address: h.address,
  connection_state: h.connection_state,
  crypto_state: h.crypto_state,
  tpm_present: h.tpm_present === 1,
  key_persistence: h.key_persistence === 1,
  recovery_key_backed_up: h.recovery_key_backed_up === 1,
  // host status polled by the leader (monitor/)
  secure_config_mode: h.secure_config_mode,
  last_seen: h.last_seen === null ? null : new Date(h.last_seen).toISOString(),
})

async function count(
  d: Kysely<CenterDb>,
  table: 'clusters' | 'hosts' | 'datastores' | 'vms',
  column: 'datacenter' | 'cluster' | 'host',
  id: string,
): Promise<number> {
  const r = await d
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where(column as never, '=', id as never)
    .executeTakeFirst()
  return Number(r?.n ?? 0)
}

/** Join tokens: `wardjoin_` + 32 random bytes; the database keeps their HMAC. */
const JOIN_PREFIX = 'wardjoin_'

export const inventoryHandlers: InventoryHandlers = {
  async 'datacenter.list'(ctx) {
    const rows = await db(ctx).selectFrom('datacenters').selectAll().orderBy('created_at').execute()
    const out = []
    for (const r of rows)
      if (await ctx.visible(r.id, 'root')) out.push({ datacenter: r.id, name: r.name })
    return out
  },
  async 'datacenter.get'(ctx, { params }) {
    const r = await db(ctx)
      .selectFrom('datacenters')
      .selectAll()
      .where('id', '=', params.datacenter)
      .executeTakeFirst()
    if (r === undefined) throw missing('datacenter', params.datacenter)
    return { datacenter: r.id, name: r.name }
  },
  async 'datacenter.create'(ctx, { body }) {
    const d = db(ctx)
    const exists = await d
      .selectFrom('datacenters')
      .select('id')
      .where('name', '=', body.name)
      .executeTakeFirst()
    if (exists !== undefined)
      throw new CenterError(
        'ERR_CENTER_EXISTS',
        `a datacenter named ${body.name} exists (${exists.id}); choose another name`,
      )
    const id = await newId(d, 'datacenter')
    await d
      .insertInto('datacenters')
      .values({ id, name: body.name, created_at: Date.now() })
      .execute()
    return id
  },
  async 'datacenter.delete'(ctx, { params }) {
    const d = db(ctx)
    const id = params.datacenter
    for (const t of ['clusters', 'hosts', 'datastores', 'vms'] as const)
      if ((await count(d, t, 'datacenter', id)) > 0)
        throw new CenterError(
          'ERR_CENTER_IN_USE',
          `datacenter ${id} still holds ${t}; remove them first`,
        )
    await d.transaction().execute(async (trx) => {
      await trx.deleteFrom('join_tokens').where('datacenter', '=', id).execute()
      await trx.deleteFrom('permissions').where('object', '=', id).execute()
      await trx.deleteFrom('datacenters').where('id', '=', id).execute()
    })
    return null
  },
  async 'cluster.list'(ctx) {
    const rows = await db(ctx).selectFrom('clusters').selectAll().orderBy('created_at').execute()
    const out = []
    for (const r of rows)
      if (await ctx.visible(r.id, r.datacenter))
        out.push({
          cluster: r.id,
          name: r.name,
          datacenter: r.datacenter,
          crypto_mode: r.crypto_mode,
        })
    return out
  },
  async 'cluster.get'(ctx, { params }) {
    const r = await db(ctx)
      .selectFrom('clusters')
      .selectAll()
      .where('id', '=', params.cluster)
      .executeTakeFirst()
    if (r === undefined) throw missing('cluster', params.cluster)
    return { cluster: r.id, name: r.name, datacenter: r.datacenter, crypto_mode: r.crypto_mode }
  },
  async 'cluster.create'(ctx, { body }) {
    const d = db(ctx)
    const exists = await d
      .selectFrom('clusters')
      .select('id')
      .where('datacenter', '=', body.datacenter)
      .where('name', '=', body.name)
      .executeTakeFirst()
    if (exists !== undefined)
      throw new CenterError(
        'ERR_CENTER_EXISTS',
        `datacenter ${body.datacenter} has a cluster named ${body.name} (${exists.id}); choose another name`,
      )
    const id = await newId(d, 'cluster')
    await d
      .insertInto('clusters')
      .values({
        id,
        datacenter: body.datacenter,
        name: body.name,
        crypto_mode: body.crypto_mode ?? 'onDemand',
        created_at: Date.now(),
      })
      .execute()
    return id
  },
  async 'cluster.delete'(ctx, { params }) {
    const d = db(ctx)
    const id = params.cluster
    if ((await count(d, 'hosts', 'cluster', id)) > 0)
      throw new CenterError(
        'ERR_CENTER_IN_USE',
        `cluster ${id} still has hosts; remove them first (ward host remove)`,
      )
    await d.transaction().execute(async (trx) => {
      await trx.deleteFrom('join_tokens').where('cluster', '=', id).execute()
      await trx.deleteFrom('permissions').where('object', '=', id).execute()
      await trx.deleteFrom('clusters').where('id', '=', id).execute()
    })
    return null
  },
  async 'host.list'(ctx) {
    const rows = await db(ctx).selectFrom('hosts').selectAll().orderBy('created_at').execute()
    const out = []
    for (const r of rows)
      if (await ctx.visible(r.id, r.cluster ?? r.datacenter)) out.push(hostView(r))
    return out
  },
  async 'host.get'(ctx, { params }) {
    const r = await db(ctx)
      .selectFrom('hosts')
      .selectAll()
      .where('id', '=', params.host)
      .executeTakeFirst()
    if (r === undefined) throw missing('host', params.host)
    return hostView(r)
  },
  async 'host.delete'(ctx, { params }) {
    const d = db(ctx)
    const id = params.host
    if ((await count(d, 'vms', 'host', id)) > 0 || (await count(d, 'datastores', 'host', id)) > 0)
      throw new CenterError(
        'ERR_CENTER_IN_USE',
        `host ${id} still has VMs or datastores in the inventory; remove them first`,
      )
    await d.transaction().execute(async (trx) => {
      await trx.deleteFrom('permissions').where('object', '=', id).execute()
      await trx.deleteFrom('hosts').where('id', '=', id).execute()
    })
    return null
  },
  async 'host.joinToken'(ctx, { body }) {
    const d = db(ctx)
    if (body.cluster !== undefined) {
      const c = await d
        .selectFrom('clusters')
        .select('datacenter')
        .where('id', '=', body.cluster)
        .executeTakeFirst()
      if (c?.datacenter !== body.datacenter)
        throw new CenterError(
          'ERR_CENTER_BAD_REQUEST',
          `cluster ${body.cluster} is not in datacenter ${body.datacenter}`,
        )
    }
    const token = `${JOIN_PREFIX}${randomBytes(32).toString('base64url')}`
    const now = Date.now()
    const expires = now + (body.ttl_seconds ?? 3600) * 1000
    await d
      .insertInto('join_tokens')
      .values({
        id: randomBytes(8).toString('hex'),
        token_hmac: ctx.services.sealer.hmac('join', token),
        datacenter: body.datacenter,
        cluster: body.cluster ?? null,
        created_by: ctx.user!,
        created_at: now,
        expires_at: expires,
        used_at: null,
        host: null,
      })
      .execute()
    return { token, expires: new Date(expires).toISOString() }
  },
  async 'host.join'(ctx, { body }) {
    const d = db(ctx)
    const refused = (): CenterError =>
      new CenterError(
        'ERR_CENTER_JOIN_TOKEN',
        'the join token is unknown, used or expired; ask an administrator for a new one (ward host add)',
      )
    const key = ctx.services.sealer.hmac('join', body.token)
    const now = Date.now()
    const t = await d
      .selectFrom('join_tokens')
      .selectAll()
      .where('token_hmac', '=', key)
      .executeTakeFirst()
    if (t === undefined || t.used_at !== null || t.expires_at <= now) throw refused()
    const sign = ctx.services.signHostCsr
    if (sign === undefined)
      throw new CenterError(
        'ERR_CENTER_PKI_MISSING',
        'this center has no CA to sign host certificates; run ward center init on its data dir',
      )
    const taken = await d
      .selectFrom('hosts')
      .select('id')
      .where('name', '=', body.name)
      .executeTakeFirst()
    if (taken !== undefined)
      throw new CenterError(
        'ERR_CENTER_EXISTS',
        `a host named ${body.name} is in the inventory (${taken.id}); remove it first or join under another name`,
      )
    const id = await newId(d, 'host')
    const signed = await sign({
      csrPem: body.csr,
      hostId: id,
      hostName: body.name,
      address: body.address,
    })
    const fingerprint = signed.fingerprint
    await d.transaction().execute(async (trx) => {
      const used = await trx
        .updateTable('join_tokens')
        .set({ used_at: now, host: id })
        .where('token_hmac', '=', key)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirst()
      if (used.numUpdatedRows !== 1n) throw refused()
      await trx
        .insertInto('hosts')
        .values({
          id,
          datacenter: t.datacenter,
          cluster: t.cluster,
          name: body.name,
          address: body.address,
          connection_state: 'connected',
          crypto_state: 'incapable',
          tpm_present: 0,
          key_persistence: 0,
          recovery_key_backed_up: 0,
          cert_fingerprint: fingerprint,
          created_at: now,
        })
        .execute()
    })
    return {
      hostId: id,
      certificate: signed.certificatePem,
      caCertificate: signed.caCertificatePem,
    }
  },
  async 'datastore.list'(ctx) {
    const rows = await db(ctx).selectFrom('datastores').selectAll().orderBy('created_at').execute()
    const out = []
    for (const r of rows)
      if (await ctx.visible(r.id, r.datacenter))
        out.push({ datastore: r.id, name: r.name, datacenter: r.datacenter, host: r.host })
    return out
  },
  async 'datastore.get'(ctx, { params }) {
    const r = await db(ctx)
      .selectFrom('datastores')
      .selectAll()
      .where('id', '=', params.datastore)
      .executeTakeFirst()
    if (r === undefined) throw missing('datastore', params.datastore)
    return { datastore: r.id, name: r.name, datacenter: r.datacenter, host: r.host }
  },
  async 'vm.list'(ctx) {
    const rows = await db(ctx).selectFrom('vms').selectAll().orderBy('created_at').execute()
    const out = []
    for (const r of rows)
      if (await ctx.visible(r.id, r.host ?? r.datacenter))
        out.push({
          vm: r.id,
          name: r.name,
          datacenter: r.datacenter,
          host: r.host,
          power_state: r.power_state,
          crypto_state: r.crypto_state,
        })
    return out
  },
  async 'vm.get'(ctx, { params }) {
    const r = await db(ctx)
      .selectFrom('vms')
      .selectAll()
      .where('id', '=', params.vm)
      .executeTakeFirst()
    if (r === undefined) throw missing('vm', params.vm)
    return {
      vm: r.id,
      name: r.name,
      datacenter: r.datacenter,
      host: r.host,
      power_state: r.power_state,
      crypto_state: r.crypto_state,
    }
  },
}
