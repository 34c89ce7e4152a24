/**
 * Random bytes for keys, secrets and nonces, drawn from OpenSSL's DRBG (node:crypto
 * randomFillSync) 4 KiB at a time, as Node's own randomUUID does: one call into OpenSSL per 4 KiB
 * instead of one per key: a cold `randomBytes(32)` per key was a visible part of a Create's cost
 * (bench/README.md, "kms" and "Figures from source comments"). Bytes are handed out once, copied
 * into the caller's buffer, and zeroed in the pool at once, so the pool never holds a byte that
 * was already given out. One pool per server, in its runtime (server/runtime.ts).
 */
import { randomBytes, randomFillSync } from 'node:crypto'

const POOL = 4096
/** Larger requests skip the pool. */
const MAX_POOLED = 256

/** A source of fresh random bytes: `n` of them in a new Buffer that the caller owns. */
export type RandomSource = (n: number) => Buffer

export class RandomPool {
  readonly #pool = Buffer.alloc(POOL)
  #used = POOL

  /** `n` fresh random bytes in a new Buffer (n ≥ 0). */
  readonly bytes: RandomSource = (n) => {
    if (n > MAX_POOLED) return randomBytes(n)
    if (this.#used + n > POOL) {
      randomFillSync(this.#pool)
      this.#used = 0
    }
    const out = Buffer.allocUnsafeSlow(n)
    this.#pool.copy(out, 0, this.#used, this.#used + n)
    this.#pool.fill(0, this.#used, this.#used + n)
    this.#used += n
    return out
  }

  /** Zero what is left of the pool (the server is closing). */
  dispose(): void {
    this.#pool.fill(0)
    this.#used = POOL
  }
}
