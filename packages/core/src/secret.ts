import { inspect } from 'node:util'
import { SecretDisposedError } from './errors.js'

/**
 * Key material, passphrases, tokens: never printed, never serialised, zeroed on dispose.
 * @example
 * const kek = new Secret(randomBytes(32))
 * const wrapped = kek.use((k) => wrapKey(k, dek))
 * kek.dispose()
 */
export class Secret {
  #bytes: Uint8Array | undefined

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes
  }

  /** Copy `bytes` into a new Secret and zero the source. */
  static take(bytes: Uint8Array): Secret {
    const copy = new Uint8Array(bytes)
    bytes.fill(0)
    return new Secret(copy)
  }

  get length(): number {
    return this.#bytes?.length ?? 0
  }

  get disposed(): boolean {
    return this.#bytes === undefined
  }

  /** Borrow the bytes for the duration of `fn`; never return or store them. */
  use<T>(fn: (bytes: Uint8Array) => T): T {
    if (!this.#bytes) throw new SecretDisposedError()
    return fn(this.#bytes)
  }

  /** Constant-time comparison with another secret. */
  equals(other: Secret): boolean {
    return this.use((a) => other.use((b) => timingSafeEqualBytes(a, b)))
  }

  dispose(): void {
    this.#bytes?.fill(0)
    this.#bytes = undefined
  }

  [Symbol.dispose](): void {
    this.dispose()
  }

  toJSON(): string {
    return '[secret]'
  }

  toString(): string {
    return '[secret]'
  }

  [inspect.custom](): string {
    return `Secret(<${this.length} bytes>)`
  }
}

function timingSafeEqualBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0)
  return diff === 0
}
