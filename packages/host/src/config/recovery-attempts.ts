import { join } from 'node:path'
import { HostError } from '../errors.js'
import { readFileBounded, writeFileAtomic } from '../util/files.js'

/** Wrong recovery keys tolerated before the backoff starts. */
export const FREE_ATTEMPTS = 3
const FILE = 'recovery.attempts'

interface Attempts {
  failures: number
  last: number
}

function read(dataDir: string): Attempts {
  const b = readFileBounded(join(dataDir, FILE), 1024)
  if (!b) return { failures: 0, last: 0 }
  try {
    const v = JSON.parse(b.toString('utf8')) as Partial<Attempts>
    if (Number.isInteger(v.failures) && typeof v.last === 'number')
      return { failures: v.failures!, last: v.last }
  } catch {
    // unreadable counter: count it as one failure more than the free ones (fail safe)
  }
  return { failures: FREE_ATTEMPTS + 1, last: Date.now() }
}

/** Seconds to wait after `failures` wrong keys: 0, then 30 s doubling up to one hour. */
export function backoffSeconds(failures: number): number {
  return failures < FREE_ATTEMPTS ? 0 : Math.min(30 * 2 ** (failures - FREE_ATTEMPTS), 3600)
}

/** Throw ERR_HOST_RECOVERY_RATE_LIMITED while the backoff after wrong recovery keys runs. */
export function checkRecoveryAllowed(dataDir: string, now = Date.now()): void {
  const a = read(dataDir)
  const wait = backoffSeconds(a.failures) * 1000 - (now - a.last)
  if (wait > 0)
    throw new HostError(
      'ERR_HOST_RECOVERY_RATE_LIMITED',
      `Too many wrong recovery keys (${a.failures}); wait ${Math.ceil(wait / 1000)} s before the next attempt, and check the key against the one stored off-host.`,
      { failures: a.failures, waitSeconds: Math.ceil(wait / 1000) },
    )
}

/** Persist one more wrong attempt (before the caller reports it). */
export function recordRecoveryFailure(dataDir: string, now = Date.now()): number {
  const a = read(dataDir)
  const next = { failures: a.failures + 1, last: now }
  writeFileAtomic(join(dataDir, FILE), JSON.stringify(next), 0o600)
  return next.failures
}

export function resetRecoveryAttempts(dataDir: string): void {
  const a = read(dataDir)
  if (a.failures !== 0)
    writeFileAtomic(join(dataDir, FILE), JSON.stringify({ failures: 0, last: 0 }), 0o600)
}
