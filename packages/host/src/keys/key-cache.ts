import { Secret } from '@ward/core'
import { HostError } from '../errors.js'

/** A key's identity in the cache: the provider that gave it and the KEK id inside that provider. */
export interface KeyRef {
  readonly providerId: string
  readonly kekId: string
}

/** A cached key: ids in clear, the value in a `Secret`. */
export interface CachedKey extends KeyRef {
  readonly key: Secret
}

/** Called synchronously when the cache changes, before the caller is answered (key persistence). */
export interface CacheObserver {
  added(entries: readonly CachedKey[]): void
  removed(ref: KeyRef): void
}

/** Makes a missing key (or undefined); `peek` borrows a cached key without resolving. */
export type KeyResolver = (
  ref: KeyRef,
  peek: <T>(providerId: string, kekId: string, fn: (key: Uint8Array) => T) => T | undefined,
) => Secret | undefined

/** Longest provider or KEK id accepted. */
export const MAX_ID = 255
/** Longest key accepted (AES-256 KEKs are 32 bytes; XTS-AES-256 is 64). */
export const MAX_KEY = 64

/** Throw ERR_HOST_BAD_ARGUMENT unless `id` is a short printable id. */
export function checkId(what: string, id: unknown): string {
  if (typeof id !== 'string' || id.length === 0 || Buffer.byteLength(id) > MAX_ID)
    throw new HostError('ERR_HOST_BAD_ARGUMENT', `${what} must be 1 to ${MAX_ID} bytes`)
  if (/[\p{Cc}]/u.test(id))
    throw new HostError('ERR_HOST_BAD_ARGUMENT', `${what} must not contain control characters`)
  return id
}

const keyOf = (providerId: string, kekId: string): string => `${providerId}\u0000${kekId}`

/**
 * The host's key cache: keys by (provider id, KEK id), values in `Secret`, zeroed on eviction.
 * Providers (later issues) feed it with `add`; VM operations borrow keys with `use`.
 * @example
 * cache.add('kmip-1', 'kek-42', Secret.take(bytes))
 * const wrapped = cache.use('kmip-1', 'kek-42', (kek) => wrapKw(kek, dek))
 */
export class KeyCache {
  readonly #entries = new Map<string, CachedKey>()
  #observer: CacheObserver | undefined
  /**
   * Issue 13 (native key providers): makes a missing key from what the cache holds (keys/kdk.ts
   * derives an NKP's KEK from its KDK); a made key is added like a pushed one.
   */
  #resolver: KeyResolver | undefined

  /** Install (or remove) the resolver of missing keys (keys/kdk.ts). */
  resolve(resolver: KeyResolver | undefined): void {
    this.#resolver = resolver
  }

  /** The entry of (provider, KEK), made by the resolver when missing and it can. */
  #entry(providerId: string, kekId: string): CachedKey | undefined {
    const e = this.#entries.get(keyOf(providerId, kekId))
    if (e !== undefined || this.#resolver === undefined) return e
    const made = this.#resolver({ providerId, kekId }, (p, k, fn) => {
      const c = this.#entries.get(keyOf(p, k))
      return c === undefined ? undefined : c.key.use(fn)
    })
    if (made === undefined) return undefined
    try {
      this.add(providerId, kekId, made)
    } catch {
      // not persisted (the store failed): not cached either, the caller sees the key missing
      made.dispose()
      return undefined
    }
    return this.#entries.get(keyOf(providerId, kekId))
  }

  /** Install (or remove) the persistence observer. */
  observe(observer: CacheObserver | undefined): void {
    this.#observer = observer
  }

  get size(): number {
    return this.#entries.size
  }

  /** Add keys (replacing existing ones, whose old value is zeroed); the observer sees them first. */
  addMany(entries: readonly CachedKey[]): void {
    for (const e of entries) {
      checkId('provider id', e.providerId)
      checkId('KEK id', e.kekId)
      if (e.key.length === 0 || e.key.length > MAX_KEY)
        throw new HostError('ERR_HOST_BAD_ARGUMENT', `a key must be 1 to ${MAX_KEY} bytes`)
    }
    // Persist before acknowledging: an acknowledged key must survive a crash.
    this.#observer?.added(entries)
    for (const e of entries) {
      const k = keyOf(e.providerId, e.kekId)
      const old = this.#entries.get(k)
      if (old && old.key !== e.key) old.key.dispose()
      this.#entries.set(k, e)
    }
  }

  add(providerId: string, kekId: string, key: Secret): void {
    this.addMany([{ providerId, kekId, key }])
  }

  /** Restore keys without notifying the observer (they come from the store). */
  restore(entries: readonly CachedKey[]): void {
    for (const e of entries) {
      const k = keyOf(e.providerId, e.kekId)
      this.#entries.get(k)?.key.dispose()
      this.#entries.set(k, e)
    }
  }

  has(providerId: string, kekId: string): boolean {
    return this.#entry(providerId, kekId) !== undefined
  }

  /** Borrow a key for the duration of `fn`; throws ERR_HOST_KEY_NOT_FOUND when absent. */
  use<T>(providerId: string, kekId: string, fn: (key: Uint8Array) => T): T {
    const e = this.#entry(providerId, kekId)
    if (!e)
      throw new HostError('ERR_HOST_KEY_NOT_FOUND', 'key is not in the key cache', {
        providerId,
        kekId,
      })
    return e.key.use(fn)
  }

  /** Evict one key (zeroed). Returns false when it was not cached. */
  remove(providerId: string, kekId: string): boolean {
    const k = keyOf(providerId, kekId)
    const e = this.#entries.get(k)
    if (!e) return false
    this.#observer?.removed({ providerId, kekId })
    this.#entries.delete(k)
    e.key.dispose()
    return true
  }

  /** Ids only, sorted. */
  list(): KeyRef[] {
    return [...this.#entries.values()]
      .map((e) => ({ providerId: e.providerId, kekId: e.kekId }))
      .sort((a, b) =>
        a.providerId === b.providerId
          ? a.kekId.localeCompare(b.kekId)
          : a.providerId.localeCompare(b.providerId),
      )
  }

  /** Every cached entry (for persistence enable); callers must not keep the secrets. */
  entries(): CachedKey[] {
    return [...this.#entries.values()]
  }

  /** Evict everything (zeroing every key). */
  clear(): void {
    for (const e of this.#entries.values()) e.key.dispose()
    this.#entries.clear()
  }
}
