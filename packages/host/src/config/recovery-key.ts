import { randomInt, randomUUID, scryptSync } from 'node:crypto'
import { Secret } from '@ward/core'
import { HostError } from '../errors.js'

/** scrypt cost for the recovery key: ~50 ms here; 96 random digits make brute force moot anyway. */
export const RECOVERY_SCRYPT = { N: 1 << 14, r: 8, p: 1 } as const

/** A recovery key as the seed prints it: 16 groups of 6 digits joined by dashes. */
export function generateRecoveryKey(): string {
  const groups: string[] = []
  for (let i = 0; i < 16; i++) groups.push(String(randomInt(0, 1_000_000)).padStart(6, '0'))
  return groups.join('-')
}

/** A recovery id as the seed prints it: a GUID in braces, upper case. */
export function generateRecoveryId(): string {
  return `{${randomUUID().toUpperCase()}}`
}

/**
 * Normalise what an admin typed (spaces, newlines, dashes) to 96 digits, or throw
 * ERR_HOST_RECOVERY_KEY_FORMAT.
 */
export function normaliseRecoveryKey(text: string): string {
  const digits = text.replace(/[\s-]/g, '')
  if (!/^[0-9]{96}$/.test(digits))
    throw new HostError(
      'ERR_HOST_RECOVERY_KEY_FORMAT',
      'the recovery key must be 16 groups of 6 digits joined by dashes (as printed by `ward host settings encryption recovery list`)',
    )
  return digits
}

/** Derive the 32-byte wrapping key from a recovery key and its salt. */
export function recoveryWrappingKey(recoveryKey: string, salt: Uint8Array): Secret {
  const digits = normaliseRecoveryKey(recoveryKey)
  return new Secret(
    new Uint8Array(scryptSync(digits, salt, 32, { ...RECOVERY_SCRYPT, maxmem: 64 << 20 })),
  )
}
