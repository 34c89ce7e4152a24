/**
 * Key garbage collection (vCenter never deletes a KEK from the KMS): the keys the center created
 * (table center_keys) that no VM, disk, host (its host key) or cluster (its host key policy) uses
 * any more are listed, each with the
 * time it was first found unused; once `grace_seconds` (setting key_gc_grace_seconds, default 7
 * days) have passed, `run` revokes and destroys them in the KMS, one audit row each. A key used
 * again before that is no longer unused (its clock restarts).
 */
import type { Kysely } from 'kysely'
import type { CenterDb } from '../store/schema.js'
import { clusterPolicy } from '../monitor/host-crypto.js'

export const GC_GRACE_SETTING = 'key_gc_grace_seconds'
export const GC_DEFAULT_GRACE_SECONDS = 7 * 86400

export async function graceSeconds(db: Kysely<CenterDb>): Promise<number> {
  const r = await db
    .selectFrom('provider_settings')
    .select('value')
    .where('name', '=', GC_GRACE_SETTING)
    .executeTakeFirst()
  return r === undefined ? GC_DEFAULT_GRACE_SECONDS : Number(r.value)
}

export async function setGraceSeconds(db: Kysely<CenterDb>, s: number): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('provider_settings').where('name', '=', GC_GRACE_SETTING).execute()
    await trx
      .insertInto('provider_settings')
      .values({ name: GC_GRACE_SETTING, value: String(s) })
      .execute()
  })
}

/**
 * `provider/kek` of every key in use: by a VM or a disk, as a host key (the one a host reported,
 * the one asked for it and not yet applied), or as a cluster's host key policy.
 */
export async function usedKeys(db: Kysely<CenterDb>): Promise<Set<string>> {
  const used = new Set<string>()
  for (const t of ['vms', 'disks'] as const) {
    const rows = await db
      .selectFrom(t)
      .select(['key_provider', 'kek_id'])
      .where('kek_id', 'is not', null)
      .execute()
    for (const r of rows) used.add(`${r.key_provider ?? ''}/${r.kek_id ?? ''}`)
  }
  const refs = [
    ...(await db.selectFrom('hosts').select(['host_key', 'crypto_key_wanted']).execute()).flatMap(
      (h) => [h.host_key, h.crypto_key_wanted],
    ),
    ...(await db.selectFrom('clusters').select('crypto_policy').execute()).map(
      (c) => c.crypto_policy,
    ),
  ]
  for (const json of refs) {
    const k = clusterPolicy(json)
    if (k !== undefined) used.add(`${k.providerId}/${k.keyId}`)
  }
  return used
}

export interface Unused {
  readonly provider: string
  readonly kekId: string
  readonly label: string
  readonly createdAt: number
  readonly unusedSince: number
}

/** Mark the active keys' use now (unused_since set or cleared) and list the unused ones. */
export async function sweep(db: Kysely<CenterDb>, now: number): Promise<Unused[]> {
  const used = await usedKeys(db)
  const keys = await db
    .selectFrom('center_keys')
    .selectAll()
    .where('state', '=', 'active')
    .execute()
  const out: Unused[] = []
  for (const k of keys) {
    const inUse = used.has(`${k.provider}/${k.kek_id}`)
    if (inUse) {
      if (k.unused_since !== null)
        await db
          .updateTable('center_keys')
          .set({ unused_since: null })
          .where('provider', '=', k.provider)
          .where('kek_id', '=', k.kek_id)
          .execute()
      continue
    }
    let since = k.unused_since === null ? null : Number(k.unused_since)
    if (since === null) {
      since = now
      await db
        .updateTable('center_keys')
        .set({ unused_since: now })
        .where('provider', '=', k.provider)
        .where('kek_id', '=', k.kek_id)
        .execute()
    }
    out.push({
      provider: k.provider,
      kekId: k.kek_id,
      label: k.label,
      createdAt: Number(k.created_at),
      unusedSince: since,
    })
  }
  return out
}
