import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { argon2Derive } from '@ward/envelope'
import { HostError } from '../errors.js'
import type { KeyRef } from '../keys/key-cache.js'
import { decodeFields, encodeFields, fixed, magic, str8, u32, u8, type Infer } from './fields.js'

/**
 * A password-protected export of the host key (docs/formats.md "Host key export"): argon2id
 * (RFC 9106) of the password derives a 32-byte key that seals the host key with AES-256-GCM; the
 * encoded header (every field before the nonce) is the GCM associated data, as read.
 */
export const HostKeyExportHeader = {
  magic: magic('WARDHKX'),
  version: u8(1, 1),
  /** 1 = argon2id, version 0x13. */
  kdf: u8(1, 1),
  /** argon2id memory in KiB (at most 1 GiB when read), passes, lanes. */
  memoryKiB: u32(8, 1 << 20),
  passes: u32(1, 64),
  parallelism: u8(1, 16),
  salt: fixed(16),
  providerId: str8(),
  kekId: str8(),
  /** 1 = AES-256-GCM. */
  cipher: u8(1, 1),
} as const
type ExportHeader = Infer<typeof HostKeyExportHeader>

/** RFC 9106 §4, the second recommended option (64 MiB, 3 passes, 4 lanes). */
export const HOST_KEY_EXPORT_KDF = { memoryKiB: 65536, passes: 3, parallelism: 4 } as const
const NONCE = 12
const TAG = 16
const KEY = 32
/** Largest export accepted (header ≤ 560 bytes). */
export const MAX_HOST_KEY_EXPORT = 1024

const badFormat = (why: string): HostError =>
  new HostError(
    'ERR_HOST_KEY_EXPORT_FORMAT',
    `not a Ward host key export or damaged (${why}): make a new one with ward host crypto export-key`,
  )

async function derive(password: Uint8Array, h: ExportHeader): Promise<Uint8Array> {
  return argon2Derive(
    'argon2id',
    password,
    h.salt,
    { memory: h.memoryKiB, passes: h.passes, parallelism: h.parallelism },
    32,
  )
}

/** Seal the host key under `password`. */
export async function exportHostKey(
  key: Uint8Array,
  ref: KeyRef,
  password: Uint8Array,
  kdf: { memoryKiB: number; passes: number; parallelism: number } = HOST_KEY_EXPORT_KDF,
): Promise<Buffer> {
  if (key.length !== KEY) throw badFormat('the host key must be 32 bytes')
  if (password.length === 0)
    throw new HostError('ERR_HOST_BAD_ARGUMENT', 'the export password must not be empty')
  const h: ExportHeader = {
    version: 1,
    kdf: 1,
    ...kdf,
    salt: new Uint8Array(randomBytes(16)),
    providerId: ref.providerId,
    kekId: ref.kekId,
    cipher: 1,
  }
  const header = encodeFields(HostKeyExportHeader, h, badFormat)
  const k = await derive(password, h)
  try {
    const nonce = randomBytes(NONCE)
    const c = createCipheriv('aes-256-gcm', k, nonce)
    c.setAAD(header)
    const ct = Buffer.concat([c.update(key), c.final()])
    return Buffer.concat([header, nonce, ct, c.getAuthTag()])
  } finally {
    k.fill(0)
  }
}

/** The host key's ids as an export names them (no password needed). */
export function describeHostKeyExport(bytes: Uint8Array): KeyRef {
  const { value } = decodeFields(HostKeyExportHeader, bytes, badFormat)
  return { providerId: value.providerId, kekId: value.kekId }
}

/**
 * Open an export: the host key (the caller zeroes it) and its ids. A wrong password, or any
 * change to the file, is ERR_HOST_KEY_EXPORT_PASSWORD.
 */
export async function openHostKeyExport(
  bytes: Uint8Array,
  password: Uint8Array,
): Promise<KeyRef & { key: Uint8Array }> {
  if (bytes.length > MAX_HOST_KEY_EXPORT) throw badFormat('too large')
  const { value: h, length } = decodeFields(HostKeyExportHeader, bytes, badFormat)
  if (bytes.length !== length + NONCE + KEY + TAG) throw badFormat('wrong length')
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const k = await derive(password, h)
  try {
    const d = createDecipheriv('aes-256-gcm', k, b.subarray(length, length + NONCE))
    d.setAAD(b.subarray(0, length))
    d.setAuthTag(b.subarray(b.length - TAG))
    let key: Buffer
    try {
      key = Buffer.concat([d.update(b.subarray(length + NONCE, b.length - TAG)), d.final()])
    } catch {
      throw new HostError(
        'ERR_HOST_KEY_EXPORT_PASSWORD',
        `wrong password for this host key export (host key '${h.kekId}' of provider '${h.providerId}'), or the export was changed: check --password-file`,
        { kekId: h.kekId },
      )
    }
    const out = new Uint8Array(key)
    key.fill(0)
    return { providerId: h.providerId, kekId: h.kekId, key: out }
  } finally {
    k.fill(0)
  }
}
