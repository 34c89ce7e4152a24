/**
 * Native key providers (NKP, issue 13): the center gives a host a provider's key-derivation key
 * (KDK, 32 bytes) once; the host then derives every KEK of that provider itself, even while the
 * center is down. The KDK lives in the key cache under the reserved provider id
 * {@link KDK_PROVIDER} (KEK id = the native provider's id), so it is zeroed on eviction and
 * persisted with key persistence like any cached key. Derivation (docs/formats.md, "Native key
 * provider KEK derivation"): KEK = HKDF-SHA256(ikm = KDK, salt = empty,
 * info = "ward-nkp/v1" ‖ 0x00 ‖ provider id ‖ 0x00 ‖ KEK id (UTF-8), 32 bytes).
 */
import { hkdfSync } from 'node:crypto'
import { Secret } from '@ward/core'
import { HostError } from '../errors.js'
import type { KeyRef } from './key-cache.js'

/** The cache's provider id under which KDKs are kept (KEK id = the native provider's id). */
export const KDK_PROVIDER = 'ward-nkp-kdk'
/** A KDK is 32 bytes. */
export const KDK_BYTES = 32

/** HKDF info of (provider, KEK id). */
export function kdkInfo(providerId: string, kekId: string): Buffer {
  return Buffer.concat([
    Buffer.from('ward-nkp/v1\u0000', 'utf8'),
    Buffer.from(providerId, 'utf8'),
    Buffer.from([0]),
    Buffer.from(kekId, 'utf8'),
  ])
}

/** The KEK `kekId` of native provider `providerId`, derived from its KDK. */
export function deriveKek(kdk: Uint8Array, providerId: string, kekId: string): Secret {
  if (kdk.length !== KDK_BYTES)
    throw new HostError('ERR_HOST_BAD_ARGUMENT', `a key-derivation key must be ${KDK_BYTES} bytes`)
  return new Secret(
    new Uint8Array(hkdfSync('sha256', kdk, new Uint8Array(0), kdkInfo(providerId, kekId), 32)),
  )
}

/**
 * The key cache's resolver for native providers: a KEK missing from the cache whose provider's
 * KDK is cached is derived. `peek` borrows a cached key without resolving (no recursion).
 */
export function nkpResolver(
  ref: KeyRef,
  peek: <T>(providerId: string, kekId: string, fn: (key: Uint8Array) => T) => T | undefined,
): Secret | undefined {
  if (ref.providerId === KDK_PROVIDER) return undefined
  return peek(KDK_PROVIDER, ref.providerId, (kdk) =>
    kdk.length === KDK_BYTES ? deriveKek(kdk, ref.providerId, ref.kekId) : undefined,
  )
}
