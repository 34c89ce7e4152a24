/**
 * The center's key providers at run time (KeyProviders of providers/types.ts): a runtime per
 * provider row, the default provider of a cluster (else the global one), and the KMIP client of
 * each standard provider kept while its configuration is unchanged (its pool and failover).
 * The Trust Authority's trusted provider is a seam: type 'trusted' rows are refused with
 * ERR_CENTER_PROVIDER_TYPE until it exists; 'native' runtimes come from `native` (the NKP part).
 */
import { createHash } from 'node:crypto'
import type { Logger, Secret } from '@ward/core'
import type { KmipClient } from '@ward/kmip'
import type { Kysely } from 'kysely'
import { CenterError } from '../errors.js'
import type { Sealer } from '../seal/sealer.js'
import type { CenterDb } from '../store/schema.js'
import { createKek, destroyKek, fetchKek, kekState, kmipClientOf, tlsOf } from './standard.js'
import { loadProvider, readKeys, type ProviderRow } from './store.js'
import type { KeyProviderRuntime, KeyProviders, KeyState } from './types.js'

/** Pushes a KEK into a host's key cache (HostClient.pushKey over mutual TLS, wired by center.ts). */
export type KekPusher = (
  hostId: string,
  k: { readonly providerId: string; readonly kekId: string; readonly key: Secret },
) => Promise<void>

/** Whether a host's key cache holds a KEK (keys.has over mutual TLS), undefined when unreachable. */
export type HostKeyProbe = (
  hostId: string,
  k: { readonly providerId: string; readonly kekId: string },
) => Promise<boolean | undefined>

export interface ProviderRegistryOptions {
  readonly db: Kysely<CenterDb>
  readonly sealer: Sealer
  readonly logger: Logger
  readonly pushKek?: KekPusher
  readonly hostHasKey?: HostKeyProbe
  /** Runtimes of other provider types (NKP: its own module). */
  readonly native?: (row: ProviderRow) => Promise<KeyProviderRuntime>
  readonly now?: () => number
}

/** The standard runtime, with what garbage collection and the API need besides the contract. */
export interface StandardRuntime extends KeyProviderRuntime {
  readonly type: 'standard'
  /** The KEK bytes (deliverKek's first step); the caller disposes them. */
  fetchKek(kekId: string): Promise<Secret>
  destroyKek(kekId: string): Promise<void>
}

export class ProviderRegistry implements KeyProviders {
  readonly #o: ProviderRegistryOptions
  readonly #clients = new Map<string, { fp: string; client: KmipClient }>()

  constructor(o: ProviderRegistryOptions) {
    this.#o = o
  }

  /** Whether `hostId`'s key cache holds the KEK (undefined: not known, the host did not answer). */
  async hostHasKey(
    hostId: string,
    providerId: string,
    kekId: string,
  ): Promise<boolean | undefined> {
    if (this.#o.hostHasKey === undefined) return undefined
    try {
      return await this.#o.hostHasKey(hostId, { providerId, kekId })
    } catch {
      return undefined
    }
  }

  /** Forget a provider's KMIP client (its configuration changed, or it was deleted). */
  invalidate(id: string): void {
    this.#clients.get(id)?.client.close()
    this.#clients.delete(id)
  }

  close(): void {
    for (const id of [...this.#clients.keys()]) this.invalidate(id)
  }

  async #client(row: ProviderRow): Promise<KmipClient> {
    const keys = await readKeys(this.#o.db, this.#o.sealer, row.id)
    const fp = createHash('sha256')
      .update(JSON.stringify(row.spec))
      .update(keys.client ?? '')
      .digest('hex')
    const had = this.#clients.get(row.id)
    if (had !== undefined && had.fp === fp) return had.client
    const t = tlsOf(row.spec, keys)
    if ('missing' in t)
      throw new CenterError('ERR_CENTER_PROVIDER_NOT_READY', `key provider ${row.id}: ${t.missing}`)
    if (row.spec.servers.length === 0)
      throw new CenterError(
        'ERR_CENTER_PROVIDER_NOT_READY',
        `key provider ${row.id} has no KMS server; add one (ward provider server add)`,
      )
    had?.client.close()
    const client = kmipClientOf(row.spec, t.tls)
    this.#clients.set(row.id, { fp, client })
    return client
  }

  async get(id: string): Promise<KeyProviderRuntime> {
    const row = await loadProvider(this.#o.db, id)
    if (row.type === 'standard') return this.standard(row)
    if (row.type === 'native' && this.#o.native !== undefined) return this.#o.native(row)
    throw new CenterError(
      'ERR_CENTER_PROVIDER_TYPE',
      `key provider ${id} is of type ${row.type}, which this center cannot use yet`,
    )
  }

  async defaultFor(clusterId?: string): Promise<KeyProviderRuntime> {
    const id = await defaultProviderId(this.#o.db, clusterId)
    if (id === undefined)
      throw new CenterError(
        'ERR_CENTER_NO_DEFAULT_PROVIDER',
        `no default key provider${clusterId !== undefined ? ` for cluster ${clusterId} nor` : ''} globally; set one (ward provider default PROVIDER)`,
      )
    return this.get(id)
  }

  standard(row: ProviderRow): StandardRuntime {
    const o = this.#o
    const now = o.now ?? Date.now
    const client = () => this.#client(row)
    const log = o.logger
    const rt: StandardRuntime = {
      id: row.id,
      type: 'standard',
      async newKek(purpose) {
        const c = await client()
        const kekId = await createKek(c, (why) =>
          log.warn(
            { provider: row.id, why },
            'the KMS did not take the x- attributes of the new KEK; the key is usable untagged',
          ),
        )
        await o.db
          .insertInto('center_keys')
          .values({
            provider: row.id,
            kek_id: kekId,
            label: purpose.label ?? '',
            vm: purpose.vmId ?? null,
            created_by: 'center',
            created_at: now(),
            state: 'active',
            unused_since: null,
            destroyed_at: null,
          })
          .execute()
        log.info({ provider: row.id, kekId }, 'KEK created')
        return { kekId }
      },
      async fetchKek(kekId) {
        return fetchKek(await client(), kekId)
      },
      async deliverKek(kekId, host) {
        if (o.pushKek === undefined)
          throw new CenterError(
            'ERR_CENTER_PKI_MISSING',
            'this center has no client certificate for hosts (pki/); run ward center init',
          )
        const key = await rt.fetchKek(kekId)
        try {
          await o.pushKek(host.hostId, { providerId: row.id, kekId, key })
        } finally {
          key.dispose()
        }
        log.info({ provider: row.id, kekId, host: host.hostId }, 'KEK pushed to host')
      },
      async keyState(kekId): Promise<KeyState> {
        let c
        try {
          c = await client()
        } catch {
          return 'KeyStateClusterInvalid'
        }
        return kekState(c, kekId)
      },
      async destroyKek(kekId) {
        await destroyKek(await client(), kekId)
      },
    }
    return rt
  }
}

/** The default provider id of a cluster, else the global one. */
export async function defaultProviderId(
  db: Kysely<CenterDb>,
  clusterId?: string,
): Promise<string | undefined> {
  const scopes = clusterId !== undefined ? [clusterId, 'global'] : ['global']
  const rows = await db
    .selectFrom('key_provider_defaults')
    .selectAll()
    .where('scope', 'in', scopes)
    .execute()
  return (rows.find((r) => r.scope === clusterId) ?? rows.find((r) => r.scope === 'global'))
    ?.provider
}
