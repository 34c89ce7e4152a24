/**
 * Random bytes for keys, secrets and nonces, drawn from OpenSSL's DRBG (node:crypto
 * randomFillSync) 4 KiB at a time, as Node's own randomUUID does: one call into OpenSSL per 4 KiB
 * instead of one per key. Measured in the server, a cold `randomBytes(32)` costs ~6.5 µs per
 * Create (bench/README.md, "kms"). Bytes are handed out once, copied into the caller's buffer,
 * and zeroed in the pool at once, so the pool never holds a byte that was already given out.
 */
import { randomBytes, randomFillSync } from 'node:crypto'

const POOL = 4096
/** Larger requests skip the pool. */
const MAX_POOLED = 256

const pool = Buffer.alloc(POOL)
let used = POOL

/** `n` fresh random bytes in a new Buffer (n ≥ 0). */
export function freshRandom(n: number): Buffer {
  if (n > MAX_POOLED) return randomBytes(n)
  if (used + n > POOL) {
    randomFillSync(pool)
    used = 0
  }
  const out = Buffer.allocUnsafeSlow(n)
  pool.copy(out, 0, used, used + n)
  pool.fill(0, used, used + n)
  used += n
  return out
}
