import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { Secret } from '@ward/core'
import { HostError, BootMessages } from '../errors.js'
import { HOST_CRYPTO_STATES, type HostCryptoState } from '../crypto-state/states.js'

/** `WARDCFG` + format version 1: the encrypted configuration archive (ESXi's `local.tgz.ve`). */
const MAGIC = Buffer.from('WARDCFG\x01', 'latin1')
const AAD = Buffer.from('ward-host-configuration', 'utf8')
const NONCE = 12
const TAG = 16
/** Largest archive accepted (the archive holds ids and a few keys; 4 MiB is generous). */
export const MAX_ARCHIVE = 4 << 20

/** The secrets an archive may hold (binary, never JSON strings, so they can be zeroed). */
export const SECRET_NAMES = ['identity.pkcs8', 'recovery.key', 'keystore.key'] as const
export type SecretName = (typeof SECRET_NAMES)[number]
const MAX_SECRET = 4096

/** The non-secret part of the archive (JSON). */
export interface ArchiveContents {
  readonly version: 2
  /** Mode TPM: the generation, equal to encryption.info's (each generation has its own key). */
  readonly generation?: string
  readonly hostId: string
  readonly identity: { readonly algorithm: 'ECDSA-P256'; readonly publicKeySpki: string }
  /** Present in mode TPM: the id of the recovery key (the key itself is `recovery.key`). */
  readonly recovery?: { readonly id: string }
  readonly keyPersistence: {
    readonly enabled: boolean
    /** Id of the key-store journal, present while a store exists (its key is `keystore.key`). */
    readonly storeId?: string
  }
  /** Host encryption mode (vSphere's HostCryptoState); absent: `incapable`. */
  readonly crypto?: {
    readonly state: HostCryptoState
    /** The host key (core dumps): a key of the key cache, by its ids. */
    readonly hostKey?: { readonly providerId: string; readonly kekId: string }
  }
}

/** An opened archive: the contents and the secrets, each in a `Secret`. */
export interface Archive {
  readonly contents: ArchiveContents
  readonly secrets: ReadonlyMap<SecretName, Secret>
}

/**
 * Encrypt the archive with AES-256-GCM under `key` (32 bytes). Plaintext: u32 JSON length |
 * JSON contents | u8 secret count | per secret: u8 name length | name | u16 length | bytes.
 */
export function sealArchive(key: Secret, archive: Archive): Buffer {
  const nonce = randomBytes(NONCE)
  const json = Buffer.from(JSON.stringify(archive.contents), 'utf8')
  const parts: Buffer[] = [u32(json.length), json, Buffer.from([archive.secrets.size])]
  for (const [name, s] of archive.secrets) {
    const n = Buffer.from(name, 'latin1')
    parts.push(
      Buffer.from([n.length]),
      n,
      u16(s.length),
      s.use((b) => Buffer.from(b)),
    )
  }
  const plain = Buffer.concat(parts)
  for (const p of parts) p.fill(0)
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
export function openArchive(key: Secret, bytes: Uint8Array): Archive {
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
  const secrets = new Map<SecretName, Secret>()
  try {
    let o = 0
    const take = (n: number): Buffer => {
      if (n < 0 || o + n > plain.length) throw fail('bad contents')
      const s = plain.subarray(o, o + n)
      o += n
      return s
    }
    const json = take(take(4).readUInt32BE(0))
    const v: unknown = JSON.parse(json.toString('utf8'))
    if (!isContents(v)) throw fail('bad contents')
    const count = take(1)[0]!
    for (let i = 0; i < count; i++) {
      const name = take(take(1)[0]!).toString('latin1') as SecretName
      const len = take(2).readUInt16BE(0)
      if (!SECRET_NAMES.includes(name) || secrets.has(name) || len === 0 || len > MAX_SECRET)
        throw fail('bad contents')
      secrets.set(name, new Secret(new Uint8Array(take(len))))
    }
    if (o !== plain.length) throw fail('bad contents')
    return { contents: v, secrets }
  } catch (e) {
    for (const s of secrets.values()) s.dispose()
    if (e instanceof HostError) throw e
    throw fail('bad contents')
  } finally {
    plain.fill(0)
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}
function u16(n: number): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}

function isContents(v: unknown): v is ArchiveContents {
  if (typeof v !== 'object' || v === null) return false
  const a = v as Record<string, unknown>
  const id = a.identity as Record<string, unknown> | undefined
  const kp = a.keyPersistence as Record<string, unknown> | undefined
  const rec = a.recovery as Record<string, unknown> | undefined
  const cr = a.crypto as Record<string, unknown> | undefined
  const hk = cr?.hostKey as Record<string, unknown> | undefined
  return (
    a.version === 2 &&
    (a.generation === undefined ||
      (typeof a.generation === 'string' && /^(0|[1-9][0-9]{0,19})$/.test(a.generation))) &&
    typeof a.hostId === 'string' &&
    typeof id === 'object' &&
    id !== null &&
    typeof id.publicKeySpki === 'string' &&
    typeof kp === 'object' &&
    kp !== null &&
    typeof kp.enabled === 'boolean' &&
    (kp.storeId === undefined || typeof kp.storeId === 'string') &&
    (rec === undefined ||
      (typeof rec === 'object' && rec !== null && typeof rec.id === 'string')) &&
    (cr === undefined ||
      (typeof cr === 'object' &&
        cr !== null &&
        HOST_CRYPTO_STATES.includes(cr.state as HostCryptoState) &&
        (hk === undefined ||
          (typeof hk === 'object' &&
            hk !== null &&
            typeof hk.providerId === 'string' &&
            typeof hk.kekId === 'string'))))
  )
}
