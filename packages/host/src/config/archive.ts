import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { Secret } from '@ward/core'
import { HostError, BootMessages } from '../errors.js'

/** `WARDCFG` + format version 1: the encrypted configuration archive (ESXi's `local.tgz.ve`). */
const MAGIC = Buffer.from('WARDCFG\x01', 'latin1')
const AAD = Buffer.from('ward-host-configuration', 'utf8')
const NONCE = 12
const TAG = 16
/** Largest archive accepted (the archive holds ids and a few keys; 4 MiB is generous). */
export const MAX_ARCHIVE = 4 << 20

/** What the archive holds: the host's identity and every secret it keeps. */
export interface ArchiveContents {
  readonly version: 1
  readonly hostId: string
  readonly identity: {
    readonly algorithm: 'ECDSA-P256'
    readonly privateKeyPkcs8: string
    readonly publicKeySpki: string
  }
  /** Present in mode TPM: the recovery key the admin lists and stores off-host. */
  readonly recovery?: { readonly id: string; readonly key: string }
  readonly keyPersistence: {
    readonly enabled: boolean
    /** AES-256-GCM key of the key-store journal (base64), present while a store exists. */
    readonly storeKey?: string
    readonly storeId?: string
  }
}

/** Encrypt the archive with AES-256-GCM under `key` (32 bytes). */
export function sealArchive(key: Secret, contents: ArchiveContents): Buffer {
  const nonce = randomBytes(NONCE)
  const plain = Buffer.from(JSON.stringify(contents), 'utf8')
  try {
    return key.use((k) => {
      const c = createCipheriv('aes-256-gcm', k, nonce)
      c.setAAD(Buffer.concat([MAGIC, AAD]))
      const ct = Buffer.concat([c.update(plain), c.final()])
      return Buffer.concat([MAGIC, nonce, ct, c.getAuthTag()])
    })
  } finally {
    plain.fill(0)
  }
}

/** Decrypt and validate the archive; any failure is "Failed to decrypt system configuration." */
export function openArchive(key: Secret, bytes: Uint8Array): ArchiveContents {
  const fail = (why: string): HostError =>
    new HostError('ERR_HOST_CONFIG_DECRYPT', BootMessages.decryptFailed, { reason: why })
  if (bytes.length < MAGIC.length + NONCE + TAG || bytes.length > MAX_ARCHIVE)
    throw fail('bad size')
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) throw fail('bad magic')
  const nonce = buf.subarray(MAGIC.length, MAGIC.length + NONCE)
  const ct = buf.subarray(MAGIC.length + NONCE, buf.length - TAG)
  const tag = buf.subarray(buf.length - TAG)
  let plain: Buffer
  try {
    plain = key.use((k) => {
      const d = createDecipheriv('aes-256-gcm', k, nonce)
      d.setAAD(Buffer.concat([MAGIC, AAD]))
      d.setAuthTag(tag)
      return Buffer.concat([d.update(ct), d.final()])
    })
  } catch {
    throw fail('authentication failed')
  }
  try {
    const v: unknown = JSON.parse(plain.toString('utf8'))
    if (!isArchive(v)) throw fail('bad contents')
    return v
  } catch (e) {
    if (e instanceof HostError) throw e
    throw fail('bad contents')
  } finally {
    plain.fill(0)
  }
}

function isArchive(v: unknown): v is ArchiveContents {
  if (typeof v !== 'object' || v === null) return false
  const a = v as Record<string, unknown>
  const id = a.identity as Record<string, unknown> | undefined
  const kp = a.keyPersistence as Record<string, unknown> | undefined
  const rec = a.recovery as Record<string, unknown> | undefined
  return (
    a.version === 1 &&
    typeof a.hostId === 'string' &&
    typeof id === 'object' &&
    id !== null &&
    typeof id.privateKeyPkcs8 === 'string' &&
    typeof id.publicKeySpki === 'string' &&
    typeof kp === 'object' &&
    kp !== null &&
    typeof kp.enabled === 'boolean' &&
    (kp.storeKey === undefined || typeof kp.storeKey === 'string') &&
    (rec === undefined ||
      (typeof rec === 'object' &&
        rec !== null &&
        typeof rec.id === 'string' &&
        typeof rec.key === 'string'))
  )
}
