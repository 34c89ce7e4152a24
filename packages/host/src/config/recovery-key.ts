import { randomInt, randomUUID, scryptSync } from 'node:crypto'
import { Secret } from '@ward/core'
import { HostError } from '../errors.js'

/**
 * scrypt cost for the recovery key: modest (its time: bench/README.md, "Figures from source
 * comments"), because 96 random digits make brute force moot anyway.
 */
export const RECOVERY_SCRYPT = { N: 1 << 14, r: 8, p: 1 } as const

/** A recovery key as the seed prints it: 16 groups of 6 digits joined by dashes (ASCII bytes). */
export function generateRecoveryKey(): Secret {
  const out = new Uint8Array(16 * 7 - 1)
  let o = 0
  for (let i = 0; i < 16; i++) {
    let n = randomInt(0, 1_000_000)
    for (let d = 5; d >= 0; d--) {
      out[o + d] = 0x30 + (n % 10)
      n = Math.floor(n / 10)
    }
    o += 6
    if (i < 15) out[o++] = 0x2d
  }
  return new Secret(out)
}

/** A recovery id as the seed prints it: a GUID in braces, upper case. */
export function generateRecoveryId(): string {
  return `{${randomUUID().toUpperCase()}}`
}

/**
 * Normalise what an admin typed (spaces, newlines, dashes) to 96 ASCII digits, or throw
 * ERR_HOST_RECOVERY_KEY_FORMAT. Works on bytes so the key never becomes a JS string.
 */
export function normaliseRecoveryKey(text: Uint8Array): Secret {
  const digits = new Uint8Array(96)
  let n = 0
  let ok = true
  for (const b of text) {
    if (b === 0x2d || b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) continue
    if (b < 0x30 || b > 0x39 || n === 96) {
      ok = false
      break
    }
    digits[n++] = b
  }
  if (!ok || n !== 96) {
    digits.fill(0)
    throw new HostError(
      'ERR_HOST_RECOVERY_KEY_FORMAT',
      'the recovery key must be 16 groups of 6 digits joined by dashes (as printed by `ward host settings encryption recovery list`)',
    )
  }
  return new Secret(digits)
}

/** Derive the 32-byte wrapping key from a recovery key and its salt. */
export function recoveryWrappingKey(recoveryKey: Secret, salt: Uint8Array): Secret {
  const digits = recoveryKey.use((k) => normaliseRecoveryKey(k))
  try {
    return Secret.take(
      digits.use((d) => scryptSync(d, salt, 32, { ...RECOVERY_SCRYPT, maxmem: 64 << 20 })),
    )
  } finally {
    digits.dispose()
  }
}
