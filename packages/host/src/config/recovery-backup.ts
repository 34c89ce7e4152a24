/**
 * Whether the host's current recovery key was backed up: the time it was last shown on the console
 * (`settings.encryption.recovery.list`, as vSphere's "TPM Encryption Recovery Key Backup" alarm
 * counts it), kept with the key's id in DATA_DIR/recovery-shown.json (not secret: the id and a
 * time). A rotated key has a new id, so it counts as not backed up until it is listed.
 */
import { join } from 'node:path'
import { readFileBounded, writeFileAtomic } from '../util/files.js'

export const RECOVERY_SHOWN_FILE = 'recovery-shown.json'

/** What `status` says of the recovery key (null in encryption mode NONE: there is none). */
export interface RecoveryKeyStatus {
  readonly id: string
  readonly backedUp: boolean
  /** When the current key was last shown (ISO time), null when never. */
  readonly shownAt: string | null
}

/** Record that the recovery key `id` was shown now. */
export function recordRecoveryShown(dataDir: string, id: string, at = new Date()): void {
  writeFileAtomic(
    join(dataDir, RECOVERY_SHOWN_FILE),
    `${JSON.stringify({ version: 1, id, shownAt: at.toISOString() })}\n`,
    0o600,
  )
}

/** The backup status of the current recovery key `id`. */
export function recoveryKeyStatus(dataDir: string, id: string): RecoveryKeyStatus {
  let shown: { id?: unknown; shownAt?: unknown } = {}
  try {
    const b = readFileBounded(join(dataDir, RECOVERY_SHOWN_FILE), 4096)
    if (b) shown = JSON.parse(b.toString('utf8')) as typeof shown
  } catch {
    shown = {}
  }
  const mine = shown.id === id && typeof shown.shownAt === 'string'
  return { id, backedUp: mine, shownAt: mine ? (shown.shownAt as string) : null }
}
