/**
 * Streaming Encrypt/Decrypt (KMIP 1.4 §4.29–4.30: Init Indicator, Correlation Value, Final
 * Indicator). The first request opens a cipher and gets a random Correlation Value; later requests
 * present it to continue; the Final request closes it and returns the tag (AEAD). State lives only
 * in memory, is bound to the identity and object that opened it, bounded in count and idle time.
 */
import { randomBytes } from 'node:crypto'
import type { Cipheriv, Decipheriv } from 'node:crypto'
import { KmsError, cryptoFailure, notSupported } from '../errors.js'
import { openCipher } from './symmetric.js'
import type { CipherSpec } from './symmetric.js'

/** One open cipher context. */
export interface CryptoStream {
  readonly direction: 'enc' | 'dec'
  readonly owner: string
  readonly objectId: string
  /** Feeds a chunk; returns whatever output is ready (whole blocks for ECB/CBC). */
  update(data: Uint8Array): Buffer
  /** Feeds the last chunk and closes; `tag` is required to finish an AEAD decryption. */
  final(data: Uint8Array, tag?: Uint8Array): { data: Buffer; tag?: Buffer }
  /** Drops the cipher context without output (expiry, abort). */
  destroy(): void
}

type WithTag = { getAuthTag(): Buffer; setAuthTag(t: Uint8Array): unknown }

/**
 * Opens a streaming cipher. CCM cannot stream (the message length is part of its first block), so
 * it is refused; every other mode of `symmetric.ts` streams.
 */
export interface StreamOptions {
  readonly direction: 'enc' | 'dec'
  readonly spec: CipherSpec
  readonly key: Uint8Array
  readonly iv?: Uint8Array | undefined
  readonly aad?: Uint8Array | undefined
  /** The identity and the object the stream is bound to (StreamRegistry.get checks them). */
  readonly owner: string
  readonly objectId: string
}

export function openStream(o: StreamOptions): CryptoStream {
  const { direction, spec, key, iv, aad, owner, objectId } = o
  if (spec.mode === 'CCM') throw notSupported('CCM cannot be streamed; send the whole message')
  const opened = openCipher(direction, spec, key, iv, aad)
  let c: Cipheriv | Decipheriv | null = opened.c
  const { r, tagLength } = opened
  const live = (): Cipheriv | Decipheriv => {
    if (c === null)
      throw new KmsError(
        'ERR_KMS_STREAM',
        'this stream is closed; start a new one with Init Indicator',
      )
    return c
  }
  return {
    direction,
    owner,
    objectId,
    update(data) {
      try {
        return live().update(data)
      } catch (e) {
        if (e instanceof KmsError) throw e
        this.destroy()
        throw cryptoFailure(`${r.name} failed`)
      }
    },
    final(data, tag) {
      const cc = live()
      try {
        if (direction === 'dec' && r.aead !== null) {
          if (tag === undefined)
            throw new KmsError(
              'ERR_KMS_MISSING_DATA',
              'the Final request of an AEAD decryption needs the Authenticated Encryption Tag',
            )
          if (tag.length !== tagLength) throw cryptoFailure('decryption failed (tag)')
          ;(cc as unknown as WithTag).setAuthTag(tag)
        }
        const out = Buffer.concat([cc.update(data), cc.final()])
        const t =
          direction === 'enc' && r.aead !== null
            ? (cc as unknown as WithTag).getAuthTag().subarray(0, tagLength)
            : undefined
        return t === undefined ? { data: out } : { data: out, tag: t }
      } catch (e) {
        if (e instanceof KmsError) throw e
        throw cryptoFailure('decryption failed (wrong key, IV, tag, padding or data)')
      } finally {
        c = null
      }
    },
    destroy() {
      // node:crypto has no explicit free: dropping the last reference lets OpenSSL's
      // EVP_CIPHER_CTX_free cleanse the key schedule when the object is collected.
      c = null
    },
  }
}

export interface StreamRegistryOptions {
  /** Most streams open at once (all identities); default 1024. */
  readonly maxStreams?: number
  /** Most streams one identity (owner) may hold open, so one client cannot take them all; default 64. */
  readonly maxPerOwner?: number
  /** Idle time after which a stream is dropped; default 5 minutes. */
  readonly idleMs?: number
  /** Clock, for tests. */
  readonly now?: () => number
}

interface Entry {
  readonly stream: CryptoStream
  lastUsed: number
}

/**
 * Correlation Value → stream. The value is 16 random bytes (unguessable: it is the only handle on
 * the state besides the owner check). Expired streams are swept on every call and by an unref'd
 * timer, so an abandoned stream never outlives `idleMs` by more than one sweep period.
 */
export class StreamRegistry {
  readonly #streams = new Map<string, Entry>()
  /** Open streams per owner (entries only for owners with at least one). */
  readonly #owned = new Map<string, number>()
  readonly #max: number
  #maxPerOwner: number
  readonly #idle: number
  readonly #now: () => number
  #timer: ReturnType<typeof setInterval> | undefined

  constructor(o: StreamRegistryOptions = {}) {
    this.#max = o.maxStreams ?? 1024
    this.#maxPerOwner = o.maxPerOwner ?? 64
    this.#idle = o.idleMs ?? 300_000
    this.#now = o.now ?? Date.now
  }

  /** Sets the per-identity limit (`ward kms serve --max-streams-per-client`). */
  setMaxPerOwner(n: number): void {
    if (!Number.isInteger(n) || n < 1)
      throw new RangeError(`per-client stream limit must be >= 1 (got ${n})`)
    this.#maxPerOwner = n
  }

  /** Streams `owner` holds open now. */
  ownedBy(owner: string): number {
    return this.#owned.get(owner) ?? 0
  }

  /** Starts the background sweep (the server calls this; tests may just call sweep()). */
  start(periodMs = Math.max(1000, Math.floor(this.#idle / 4))): void {
    if (this.#timer !== undefined) return
    this.#timer = setInterval(() => this.sweep(), periodMs)
    this.#timer.unref()
  }

  /** Stops the sweep and drops every stream. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    for (const e of this.#streams.values()) e.stream.destroy()
    this.#streams.clear()
    this.#owned.clear()
  }

  /** Forgets one entry: destroys its cipher and gives its owner's slot back. */
  #drop(k: string, e: Entry): void {
    e.stream.destroy()
    this.#streams.delete(k)
    const n = (this.#owned.get(e.stream.owner) ?? 1) - 1
    if (n > 0) this.#owned.set(e.stream.owner, n)
    else this.#owned.delete(e.stream.owner)
  }

  get size(): number {
    return this.#streams.size
  }

  /** Drops streams idle for longer than `idleMs`; returns how many. */
  sweep(): number {
    const limit = this.#now() - this.#idle
    let n = 0
    for (const [k, e] of this.#streams)
      if (e.lastUsed <= limit) {
        this.#drop(k, e)
        n++
      }
    return n
  }

  /** Registers a stream and returns its Correlation Value. */
  add(stream: CryptoStream): Buffer {
    this.sweep()
    if (this.#streams.size >= this.#max) {
      stream.destroy()
      throw new KmsError(
        'ERR_KMS_STREAM_LIMIT',
        `too many open Encrypt/Decrypt streams (${this.#max}); finish streams with Final Indicator or retry later`,
      )
    }
    const owned = this.#owned.get(stream.owner) ?? 0
    if (owned >= this.#maxPerOwner) {
      stream.destroy()
      throw new KmsError(
        'ERR_KMS_STREAM_LIMIT',
        `this identity has ${owned} open Encrypt/Decrypt streams, its limit; finish streams with Final Indicator or retry later`,
      )
    }
    const id = randomBytes(16)
    this.#streams.set(id.toString('hex'), { stream, lastUsed: this.#now() })
    this.#owned.set(stream.owner, owned + 1)
    return id
  }

  /**
   * The stream for `correlation`, if it belongs to `owner`, was opened on `objectId` in the same
   * direction. Anything else is one error (no hint whether the value exists for someone else).
   */
  get(
    correlation: Uint8Array,
    owner: string,
    objectId: string,
    direction: 'enc' | 'dec',
  ): CryptoStream {
    this.sweep()
    const k = Buffer.from(correlation).toString('hex')
    const e = this.#streams.get(k)
    if (
      e === undefined ||
      e.stream.owner !== owner ||
      e.stream.objectId !== objectId ||
      e.stream.direction !== direction
    )
      throw new KmsError(
        'ERR_KMS_STREAM',
        'unknown or expired Correlation Value; start again with Init Indicator',
      )
    e.lastUsed = this.#now()
    return e.stream
  }

  /** Removes a stream (after Final, or when a step failed). */
  delete(correlation: Uint8Array): void {
    const k = Buffer.from(correlation).toString('hex')
    const e = this.#streams.get(k)
    if (e !== undefined) this.#drop(k, e)
  }
}
