/**
 * Host encryption mode from the center (vSphere's HostSystem.PrepareCrypto + EnableCrypto, the
 * host side CryptoManagerHostPrepare → CryptoManagerHostEnable): the host key is delivered to the
 * host's key cache first, then the host is prepared (incapable → prepared) and enabled with that
 * key (→ safe). Cluster encryption mode (ClusterCryptoConfigInfo.cryptoMode): `onDemand` enables a
 * host when it first needs it, `forceEnable` enables every host of the cluster now and each host
 * that joins later (the leader's poll), with the cluster's policy key.
 */
import type { Kysely } from 'kysely'
import { CenterError } from '../errors.js'
import type { EventLog } from '../events/events.js'
import type { HostClient } from '../hosts/client.js'
import type { CenterDb } from '../store/schema.js'

/** The key a host is enabled with: a KEK of a key provider (vSphere's CryptoKeyId). */
export interface HostKeyRef {
  readonly providerId: string
  readonly keyId: string
}

/**
 * Delivers the host key to the host's cache before enabling: the key's provider's `deliverKek`
 * (KeyProviderRuntime, providers/types.ts); answers false when no provider of the center has
 * that id, and the key must then already be in the host's cache (checked with keys.has).
 */
export type HostKeyDelivery = (key: HostKeyRef, hostId: string) => Promise<boolean>

export interface HostCryptoDeps {
  readonly db: Kysely<CenterDb>
  readonly events: EventLog
  readonly client: (hostId: string) => Promise<HostClient>
  readonly deliver?: HostKeyDelivery
}

/** Put host `hostId` in crypto state safe with `key`; answers the new state. */
export async function enableHostEncryption(
  d: HostCryptoDeps,
  hostId: string,
  key: HostKeyRef,
  principal = 'system',
): Promise<{ crypto_state: string; host_key: HostKeyRef }> {
  const row = await d.db
    .selectFrom('hosts')
    .select(['id', 'name', 'crypto_state'])
    .where('id', '=', hostId)
    .executeTakeFirst()
  if (row === undefined)
    throw new CenterError('ERR_CENTER_NOT_FOUND', `no host ${hostId}; list them to check the id`)
  const host = await d.client(hostId)
  const delivered = d.deliver !== undefined && (await d.deliver(key, hostId))
  if (!delivered) {
    const has = await host.call('keys.has', { providerId: key.providerId, kekId: key.keyId })
    if (!has.inCache)
      throw new CenterError(
        'ERR_CENTER_HOST_KEY_MISSING',
        `key ${key.keyId} of provider ${key.providerId} is not in the key cache of host ${row.name}; push it there first (or give a key the host holds)`,
        { hostId },
      )
  }
  let s = await host.call('crypto.status')
  const from = s.state
  if (s.state === 'pendingIncapable')
    throw new CenterError(
      'ERR_CENTER_HOST_CRYPTO_STATE',
      `host ${row.name} is pendingIncapable (its encryption was disabled): reboot it, then enable again`,
      { hostId },
    )
  if (s.state === 'incapable') s = await host.call('crypto.prepare')
  if (s.state === 'prepared')
    s = await host.call('crypto.enable', { providerId: key.providerId, keyId: key.keyId })
  else if (
    s.state === 'safe' &&
    (s.hostKey?.providerId !== key.providerId || s.hostKey?.keyId !== key.keyId)
  )
    // already safe with another host key: ConfigureCryptoKey changes it
    s = await host.call('crypto.key.change', { providerId: key.providerId, keyId: key.keyId })
  await d.db
    .updateTable('hosts')
    .set({ crypto_state: s.state, host_key: hostKeyColumn(s.hostKey ?? key) })
    .where('id', '=', hostId)
    .execute()
  if (from !== s.state || row.crypto_state !== s.state)
    await d.events.post(
      'HostCryptoStateChangedEvent',
      hostId,
      { host: row.name, from: row.crypto_state === from ? from : row.crypto_state, to: s.state },
      principal,
    )
  return {
    crypto_state: s.state,
    host_key: s.hostKey
      ? { providerId: s.hostKey.providerId, keyId: s.hostKey.keyId }
      : { providerId: key.providerId, keyId: key.keyId },
  }
}

/** The hosts table's `host_key` column for a host key (key GC counts it as used). */
export const hostKeyColumn = (k: HostKeyRef | undefined): string | null =>
  k === undefined ? null : JSON.stringify({ providerId: k.providerId, keyId: k.keyId })

/** The cluster's host key policy (ClusterComputeResourceCryptoModePolicy), or undefined. */
export function clusterPolicy(json: string | null): HostKeyRef | undefined {
  if (json === null) return undefined
  try {
    const p = JSON.parse(json) as { providerId?: unknown; keyId?: unknown }
    return typeof p.providerId === 'string' && typeof p.keyId === 'string'
      ? { providerId: p.providerId, keyId: p.keyId }
      : undefined
  } catch {
    return undefined
  }
}
