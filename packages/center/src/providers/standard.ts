/**
 * A standard key provider: a KMS cluster of KMIP servers reached through @ward/kmip's client (its
 * connection pool and failover: a server that cannot be reached moves the request to the next).
 * KEKs follow vCenter's sequence (the one packages/kms/test/interop/vcenter.test.ts replays): Create AES-256
 * (usage Encrypt|Decrypt), GetAttributes of x-Product_Version, one batch of three AddAttribute
 * (x-Product_Version, x-Vendor, x-Product), then Activate (Ward's KMS keeps a Created key
 * Pre-Active; vCenter reports such a key KeyStateNotActiveOrEnabled). The KEK bytes are fetched
 * with Get only to push them to a host's key cache: hosts never see KMS credentials.
 */
import { X509Certificate } from 'node:crypto'
import {
  KmipClient,
  KmipError,
  Operation,
  ResultReason,
  RevocationReasonCode,
  State,
  Tag,
  structure,
  text,
  type KmipTlsOptions,
} from '@ward/kmip'
import { Secret } from '@ward/core'
import { CenterError } from '../errors.js'
import type { ProviderKeys, ProviderSpec } from './store.js'
import type { KeyState } from './types.js'

/** Timeouts of the center's KMIP calls (a dead server costs one connect timeout, then failover). */
export const KmipLimits = {
  connectMs: 3000,
  requestMs: 10_000,
  poolSize: 4,
} as const

/** The x- attributes vCenter tags its KEKs with (names of the captured sequence), Ward's values. */
export const kekTags = (version: string): readonly { name: string; value: string }[] => [
  { name: 'x-Product_Version', value: version },
  { name: 'x-Vendor', value: 'Ward' },
  { name: 'x-Product', value: 'Ward center' },
]

/** The center's version as tagged on KEKs. */
export const CENTER_VERSION = '0.1.0'

const isCa = (pem: string): boolean => {
  try {
    return new X509Certificate(pem).ca
  } catch {
    return false
  }
}

/**
 * TLS options of a provider, or why it cannot connect yet (the trust set-up is incomplete).
 * Trusted CA certificates are anchors (hostname checked); a trusted leaf (a KMS server's own
 * certificate) is pinned by fingerprint: one pinned certificate per provider, so a cluster of
 * several servers is trusted by their CA.
 */
export function tlsOf(
  spec: ProviderSpec,
  keys: ProviderKeys,
): { tls: KmipTlsOptions } | { missing: string } {
  if (spec.trusted.length === 0)
    return {
      missing:
        'the center does not trust the KMS yet: upload its server certificate or CA (ward provider trust kms)',
    }
  if (spec.clientCert === undefined || keys.client === undefined)
    return {
      missing:
        'the KMS cannot trust the center yet: set up a client certificate (ward provider trust self-signed|csr|upload)',
    }
  const cas = spec.trusted.filter(isCa)
  const leaf = spec.trusted.find((p) => !isCa(p))
  return {
    tls: {
      certPem: spec.clientCert,
      keyPem: keys.client,
      ...(cas.length > 0 ? { caPem: cas } : {}),
      ...(leaf !== undefined ? { pinnedServerCertPem: leaf } : {}),
    },
  }
}

/** A KMIP client of the provider's servers, in their order (failover to the next). */
export function kmipClientOf(spec: ProviderSpec, tls: KmipTlsOptions): KmipClient {
  return new KmipClient({
    servers: spec.servers.map((s) => ({ host: s.address, port: s.port })),
    tls,
    // vCenter speaks KMIP 1.1; every KMIP 1.x server answers it
    version: { major: 1, minor: 1 },
    timeoutMs: KmipLimits.requestMs,
    connectTimeoutMs: KmipLimits.connectMs,
    poolSize: KmipLimits.poolSize,
  })
}

/** Whether an error means no server of the cluster could be reached (not a KMIP answer). */
export const unreachable = (e: unknown): boolean =>
  e instanceof KmipError && e.code !== 'ERR_KMIP_RESULT'

const kmsFailed = (what: string, e: unknown): CenterError => {
  if (unreachable(e))
    return new CenterError(
      'ERR_CENTER_KMS_UNREACHABLE',
      `${what}: no KMS server of the provider answered (${(e as KmipError).code}); check the servers (ward provider status)`,
    )
  return new CenterError(
    'ERR_CENTER_KMS_REFUSED',
    `${what}: the KMS refused (${e instanceof KmipError ? `reason 0x${e.resultReason.toString(16)}` : String((e as Error)?.name)}); check the KMS's log and the client's rights there`,
  )
}

/** Create a KEK on the cluster with vCenter's sequence; its KMIP Unique Identifier. */
export async function createKek(c: KmipClient, onUntagged: (why: string) => void): Promise<string> {
  let uid: string
  try {
    uid = await c.create({})
  } catch (e) {
    throw kmsFailed('Create of a KEK failed', e)
  }
  try {
    await c.getAttributes(uid, ['x-Product_Version'])
    await c.batch(
      kekTags(CENTER_VERSION).map((t) => ({
        operation: Operation.AddAttribute,
        payload: structure(Tag.RequestPayload, [
          text(Tag.UniqueIdentifier, uid),
          structure(Tag.Attribute, [
            text(Tag.AttributeName, t.name),
            text(Tag.AttributeValue, t.value),
          ]),
        ]),
      })),
    )
  } catch (e) {
    // PyKMIP has no AddAttribute: the key is usable untagged (said in the log, not an error)
    if (unreachable(e)) throw kmsFailed('tagging the new KEK failed', e)
    onUntagged(e instanceof KmipError ? `reason 0x${e.resultReason.toString(16)}` : 'refused')
  }
  try {
    await c.activate(uid)
  } catch (e) {
    throw kmsFailed('Activate of the new KEK failed', e)
  }
  return uid
}

/** Get a KEK's bytes from the KMS (as a Secret; the received copy is zeroed). */
export async function fetchKek(c: KmipClient, uid: string): Promise<Secret> {
  let o
  try {
    o = await c.get(uid)
  } catch (e) {
    if (e instanceof KmipError && e.resultReason === ResultReason.ItemNotFound)
      throw new CenterError(
        'ERR_CENTER_KEY_MISSING_IN_KMS',
        `the KMS has no key ${uid}; it was destroyed there, or the provider points at another KMS cluster`,
      )
    throw kmsFailed(`Get of key ${uid} failed`, e)
  }
  const km = o.keyMaterial
  if (km === undefined || km.length !== 32) {
    km?.fill(0)
    throw new CenterError(
      'ERR_CENTER_KMS_REFUSED',
      `key ${uid} is not a 256-bit symmetric key in raw form; KEKs are AES-256`,
    )
  }
  const s = new Secret(new Uint8Array(km))
  km.fill(0)
  return s
}

/** The key status reason of one KEK on the cluster. */
export async function kekState(c: KmipClient, uid: string): Promise<KeyState> {
  try {
    const attrs = await c.getAttributes(uid, ['State'])
    const st = attrs.find((a) => a.name === 'State')?.value.value
    return st === State.Active ? 'KeyStateAvailable' : 'KeyStateNotActiveOrEnabled'
  } catch (e) {
    if (unreachable(e)) return 'KeyStateClusterUnreachable'
    if (e instanceof KmipError && e.resultReason === ResultReason.ItemNotFound)
      return 'KeyStateMissingInKMS'
    return 'KeyStateNotActiveOrEnabled'
  }
}

/** Revoke (cessation of operation) then Destroy a KEK in the KMS (garbage collection). */
export async function destroyKek(c: KmipClient, uid: string): Promise<void> {
  try {
    await c.revoke(uid, {
      reason: RevocationReasonCode.CessationOfOperation,
      message: 'ward center key garbage collection',
    })
  } catch (e) {
    // already gone, or already revoked: Destroy decides
    if (unreachable(e)) throw kmsFailed(`Revoke of key ${uid} failed`, e)
  }
  try {
    await c.destroy(uid)
  } catch (e) {
    if (e instanceof KmipError && e.resultReason === ResultReason.ItemNotFound) return
    throw kmsFailed(`Destroy of key ${uid} failed`, e)
  }
}
