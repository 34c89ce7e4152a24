/** Handlers of the key routes: key status (QueryCryptoKeyStatus) and key garbage collection. */
import { CenterError } from '../../errors.js'
import { graceSeconds, setGraceSeconds, sweep } from '../../providers/gc.js'
import type { StandardRuntime } from '../../providers/registry.js'
import type { KeyState } from '../../providers/types.js'
import type { Ctx, Handlers } from '../context.js'

type KeyHandlers = Pick<Handlers, 'key.status' | 'key.gcList' | 'key.gcRun' | 'key.gcSettings'>

const db = (ctx: Ctx) => ctx.services.store.db
const iso = (ms: number) => new Date(ms).toISOString()

export const keyHandlers: KeyHandlers = {
  async 'key.status'(ctx, { body }) {
    const d = db(ctx)
    const out = []
    for (const k of body.keys) {
      const vms = await d
        .selectFrom('vms')
        .select(['id', 'host'])
        .where('key_provider', '=', k.provider)
        .where('kek_id', '=', k.key_id)
        .execute()
      const disks = await d
        .selectFrom('disks')
        .innerJoin('vms', 'vms.id', 'disks.vm')
        .select(['disks.id as id', 'vms.host as host'])
        .where('disks.key_provider', '=', k.provider)
        .where('disks.kek_id', '=', k.key_id)
        .execute()
      const hosts = [
        ...new Set([...vms, ...disks].map((r) => r.host).filter((h): h is string => h !== null)),
      ]
      const created = await d
        .selectFrom('center_keys')
        .select('state')
        .where('provider', '=', k.provider)
        .where('kek_id', '=', k.key_id)
        .executeTakeFirst()
      let reason: KeyState
      try {
        reason = await (await ctx.services.keyProviders.get(k.provider)).keyState(k.key_id)
      } catch (e) {
        if (e instanceof CenterError && e.code === 'ERR_CENTER_NOT_FOUND')
          reason = 'KeyStateClusterInvalid'
        else if (e instanceof CenterError && e.code === 'ERR_CENTER_PROVIDER_TYPE')
          reason = 'KeyStateManagedByTrustAuthority'
        else throw e
      }
      // the KMS has it: every host running a VM that uses it should hold it in its key cache
      if (reason === 'KeyStateAvailable')
        for (const h of hosts)
          if ((await ctx.services.keyProviders.hostHasKey(h, k.provider, k.key_id)) === false) {
            reason = 'KeyStateMissingInCache'
            break
          }
      out.push({
        key_id: k.key_id,
        provider: k.provider,
        key_available: reason === 'KeyStateAvailable',
        reason,
        vms: vms.map((v) => v.id),
        disks: disks.map((x) => x.id),
        hosts,
        created_by_center: created !== undefined,
      })
    }
    return out
  },
  async 'key.gcList'(ctx) {
    const grace = await graceSeconds(db(ctx))
    const unused = await sweep(db(ctx), Date.now())
    return {
      grace_seconds: grace,
      keys: unused.map((u) => ({
        key_id: u.kekId,
        provider: u.provider,
        label: u.label,
        created: iso(u.createdAt),
        unused_since: iso(u.unusedSince),
        destroy_after: iso(u.unusedSince + grace * 1000),
      })),
    }
  },
  async 'key.gcRun'(ctx) {
    const now = Date.now()
    const grace = await graceSeconds(db(ctx))
    const unused = await sweep(db(ctx), now)
    const destroyed: { provider: string; key_id: string }[] = []
    const failed: { provider: string; key_id: string; error: string }[] = []
    let waiting = 0
    for (const u of unused) {
      if (u.unusedSince + grace * 1000 > now) {
        waiting++
        continue
      }
      try {
        const rt = await ctx.services.keyProviders.get(u.provider)
        if (rt.type !== 'standard') continue
        await (rt as StandardRuntime).destroyKek(u.kekId)
      } catch (e) {
        failed.push({
          provider: u.provider,
          key_id: u.kekId,
          error: e instanceof CenterError ? e.code : 'ERR_CENTER_INTERNAL',
        })
        continue
      }
      await db(ctx)
        .updateTable('center_keys')
        .set({ state: 'destroyed', destroyed_at: Date.now() })
        .where('provider', '=', u.provider)
        .where('kek_id', '=', u.kekId)
        .execute()
      await ctx.services.audit.record({
        requestId: ctx.requestId,
        principal: ctx.user ?? '-',
        method: 'KMIP',
        route: 'key-gc: Revoke+Destroy',
        privileges: ['Cryptographer.ManageKeys'],
        object: `${u.provider}/${u.kekId}`,
        outcome: 'allowed',
        status: 200,
      })
      destroyed.push({ provider: u.provider, key_id: u.kekId })
    }
    return { destroyed, waiting, failed }
  },
  async 'key.gcSettings'(ctx, { body }) {
    await setGraceSeconds(db(ctx), body.grace_seconds)
    return { grace_seconds: body.grace_seconds }
  },
}
