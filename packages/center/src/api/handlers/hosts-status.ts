/**
 * Handlers of host encryption mode and cluster encryption mode (monitor/host-crypto.ts). Enabling
 * a host records the wanted host key and, when this process leads, applies it now over mutual
 * TLS; a host that cannot be reached now keeps it wanted (`pending`), and the leader's poll
 * applies it when the host answers, so a request to any center process takes effect.
 */
import { CenterError } from '../../errors.js'
import { enableHostEncryption, clusterPolicy } from '../../monitor/host-crypto.js'
import type { Ctx, Handlers } from '../context.js'

type HostStatusHandlers = Pick<Handlers, 'host.encryptionMode' | 'cluster.cryptoMode'>

const unreachable = (e: unknown): boolean =>
  e instanceof CenterError &&
  (e.code === 'ERR_CENTER_HOST_UNREACHABLE' || e.code === 'ERR_CENTER_HOST_TIMEOUT')

const db = (ctx: Ctx) => ctx.services.store.db

export const hostStatusHandlers: HostStatusHandlers = {
  async 'host.encryptionMode'(ctx, { params, body }) {
    const s = ctx.services
    const row = await db(ctx)
      .selectFrom('hosts')
      .select(['id', 'crypto_state'])
      .where('id', '=', params.host)
      .executeTakeFirst()
    if (row === undefined)
      throw new CenterError(
        'ERR_CENTER_NOT_FOUND',
        `no host ${params.host}; list them to check the id`,
      )
    const key = { providerId: body.provider_id, keyId: body.key_id }
    const host_key = { provider_id: key.providerId, key_id: key.keyId }
    await db(ctx)
      .updateTable('hosts')
      .set({ crypto_key_wanted: JSON.stringify(key) })
      .where('id', '=', row.id)
      .execute()
    if (!s.leadership.isLeader())
      return { host: row.id, crypto_state: row.crypto_state, pending: true, host_key }
    try {
      const r = await enableHostEncryption(
        {
          db: s.store.db,
          events: s.events,
          client: (id) => s.monitor.client(id),
          ...s.monitor.deliverOption(),
        },
        row.id,
        key,
        ctx.user,
      )
      await db(ctx)
        .updateTable('hosts')
        .set({ crypto_key_wanted: null })
        .where('id', '=', row.id)
        .execute()
      return {
        host: row.id,
        crypto_state: r.crypto_state,
        pending: false,
        host_key: { provider_id: r.host_key.providerId, key_id: r.host_key.keyId },
      }
    } catch (e) {
      if (!unreachable(e)) {
        await db(ctx)
          .updateTable('hosts')
          .set({ crypto_key_wanted: null })
          .where('id', '=', row.id)
          .execute()
        throw e
      }
      return { host: row.id, crypto_state: row.crypto_state, pending: true, host_key }
    }
  },
  async 'cluster.cryptoMode'(ctx, { params, body }) {
    const d = db(ctx)
    const c = await d
      .selectFrom('clusters')
      .selectAll()
      .where('id', '=', params.cluster)
      .executeTakeFirst()
    if (c === undefined)
      throw new CenterError(
        'ERR_CENTER_NOT_FOUND',
        `no cluster ${params.cluster}; list them to check the id`,
      )
    const policy =
      body.policy !== undefined
        ? JSON.stringify({ providerId: body.policy.provider_id, keyId: body.policy.key_id })
        : c.crypto_policy
    if (body.crypto_mode === 'forceEnable' && clusterPolicy(policy) === undefined)
      throw new CenterError(
        'ERR_CENTER_BAD_REQUEST',
        'forceEnable needs a host key: give policy { provider_id, key_id }',
      )
    await d
      .updateTable('clusters')
      .set({ crypto_mode: body.crypto_mode, crypto_policy: policy })
      .where('id', '=', c.id)
      .execute()
    if (body.crypto_mode !== c.crypto_mode)
      await ctx.services.events.post(
        'ClusterCryptoModeChangedEvent',
        c.id,
        { cluster: c.name, mode: body.crypto_mode },
        ctx.user,
      )
    return { cluster: c.id, name: c.name, datacenter: c.datacenter, crypto_mode: body.crypto_mode }
  },
}
