import { createCipheriv, createDecipheriv, pbkdf2Sync, randomBytes } from 'node:crypto'
import { EnvelopeError } from '../errors.js'
import { afMerge, afSplit, afSplitSize } from './af.js'
import { checkDigest } from './digest.js'
import {
  b64,
  jsonObject,
  jsonString,
  u32,
  type Luks2Keyslot,
  type Luks2Metadata,
} from './metadata.js'

/*
 * luks2 keyslots (LUKS2 spec §3.3; cryptsetup luks2_keyslot_luks2.c): the volume key is AF-split
 * into 4000 stripes, and the stripes are encrypted with aes-xts-plain64 in 512-byte sectors
 * (IV = sector number from the start of the area) under a key derived from the passphrase.
 */

/** cryptsetup's default and only stripe count for new keyslots (LUKS_STRIPES). */
export const LUKS2_STRIPES = 4000
/** PBKDF2-SHA256 iterations for new recovery keyslots (OWASP 2023 guidance). */
export const RECOVERY_PBKDF2_ITERATIONS = 600_000
/** Bound on iterations Ward runs for a keyslot read from a header (hostile input). */
const MAX_KDF_ITERATIONS = 20_000_000
const KDF_SALT_LEN = 32

/** Size of the keyslot area for a key of `keySize` bytes, rounded up to 4 KiB as cryptsetup does. */
export const keyslotAreaSize = (keySize: number): number =>
  Math.ceil(afSplitSize(keySize, LUKS2_STRIPES) / 4096) * 4096

/** XTS over 512-byte sectors numbered from 0 (keyslot areas only; small, so per-sector calls). */
function areaXts(encrypt: boolean, key: Uint8Array, data: Uint8Array): void {
  const alg = key.length === 64 ? 'aes-256-xts' : 'aes-128-xts'
  const iv = Buffer.alloc(16)
  for (let off = 0, s = 0; off < data.length; off += 512, s++) {
    iv.writeUInt32LE(s, 0)
    const c = encrypt ? createCipheriv(alg, key, iv) : createDecipheriv(alg, key, iv)
    data.set(c.update(data.subarray(off, off + 512)), off)
    c.final()
  }
}

export interface NewKeyslot {
  readonly json: Record<string, unknown>
  /** Encrypted AF material to write at `areaOffset` (whole 512-byte sectors). */
  readonly area: Uint8Array
}

/** A pbkdf2-sha256 luks2 keyslot holding `volumeKey` under `passphrase`. */
export function createKeyslot(
  volumeKey: Uint8Array,
  passphrase: Uint8Array,
  areaOffset: number,
  iterations = RECOVERY_PBKDF2_ITERATIONS,
): NewKeyslot {
  const salt = randomBytes(KDF_SALT_LEN)
  const derived = pbkdf2Sync(passphrase, salt, iterations, 64, 'sha256')
  const material = new Uint8Array(afSplitSize(volumeKey.length, LUKS2_STRIPES))
  const split = afSplit(volumeKey, LUKS2_STRIPES, 'sha256')
  material.set(split)
  split.fill(0)
  areaXts(true, derived, material)
  derived.fill(0)
  return {
    json: {
      type: 'luks2',
      key_size: volumeKey.length,
      af: { type: 'luks1', stripes: LUKS2_STRIPES, hash: 'sha256' },
      area: {
        type: 'raw',
        offset: String(areaOffset),
        size: String(keyslotAreaSize(volumeKey.length)),
        encryption: 'aes-xts-plain64',
        key_size: 64,
      },
      kdf: { type: 'pbkdf2', hash: 'sha256', iterations, salt: salt.toString('base64') },
    },
    area: material,
  }
}

/** Where and how much to read for a keyslot's area. */
export function keyslotArea(k: Luks2Keyslot): { offset: number; length: number } {
  const area = jsonObject(k.json, 'area', `keyslots.${k.id}`)
  const af = jsonObject(k.json, 'af', `keyslots.${k.id}`)
  const stripes = u32(af, 'stripes', `keyslots.${k.id}.af`)
  if (k.keySize < 16 || k.keySize > 128 || stripes < 1 || stripes > 4000)
    throw new EnvelopeError(
      'ERR_LUKS2_KEYSLOT',
      `keyslots.${k.id}: key size or stripes out of range`,
    )
  const length = afSplitSize(k.keySize, stripes)
  if (length > Number(area.size))
    throw new EnvelopeError(
      'ERR_LUKS2_KEYSLOT',
      `keyslots.${k.id}: AF material larger than its area`,
    )
  return { offset: Number(area.offset), length }
}

/**
 * Try `passphrase` on every luks2 keyslot; return the volume key it unlocks (checked against the
 * keyslot's digest). Wrong passphrase: ERR_DISK_WRONG_PASSPHRASE. Only argon2 keyslots:
 * ERR_LUKS2_KDF_UNSUPPORTED (Node 20 has no argon2).
 */
export function openKeyslots(
  meta: Luks2Metadata,
  passphrase: Uint8Array,
  readArea: (offset: number, length: number) => Uint8Array,
): { keyslot: string; volumeKey: Uint8Array } {
  const unsupported: string[] = []
  let tried = 0
  for (const k of meta.keyslots) {
    if (k.type !== 'luks2') continue
    const where = `keyslots.${k.id}`
    const kdf = jsonObject(k.json, 'kdf', where)
    const kdfType = jsonString(kdf, 'type', `${where}.kdf`)
    if (kdfType !== 'pbkdf2') {
      unsupported.push(`${k.id} (${kdfType.slice(0, 16)})`)
      continue
    }
    const digest = meta.digests.find((d) => d.keyslots.includes(k.id))
    if (!digest) throw new EnvelopeError('ERR_LUKS2_KEYSLOT', `${where} has no digest`)
    const hash = jsonString(kdf, 'hash', `${where}.kdf`)
    if (!['sha1', 'sha256', 'sha512'].includes(hash))
      throw new EnvelopeError(
        'ERR_LUKS2_UNSUPPORTED',
        `${where}: kdf hash '${hash.slice(0, 16)}' is not supported`,
      )
    const iterations = u32(kdf, 'iterations', `${where}.kdf`)
    if (iterations < 1 || iterations > MAX_KDF_ITERATIONS)
      throw new EnvelopeError('ERR_LUKS2_KEYSLOT', `${where}: kdf iterations out of range`)
    const salt = b64(kdf, 'salt', `${where}.kdf`, 1, 256)
    const area = jsonObject(k.json, 'area', where)
    const areaCipher = jsonString(area, 'encryption', `${where}.area`)
    const areaKeySize = u32(area, 'key_size', `${where}.area`)
    if (areaCipher !== 'aes-xts-plain64' || (areaKeySize !== 32 && areaKeySize !== 64))
      throw new EnvelopeError(
        'ERR_LUKS2_UNSUPPORTED',
        `${where}: area cipher ${areaCipher.slice(0, 32)}/${areaKeySize * 8} is not supported (only aes-xts-plain64)`,
      )
    const af = jsonObject(k.json, 'af', where)
    const afHash = jsonString(af, 'hash', `${where}.af`)
    if (
      jsonString(af, 'type', `${where}.af`) !== 'luks1' ||
      !['sha1', 'sha256', 'sha512'].includes(afHash)
    )
      throw new EnvelopeError(
        'ERR_LUKS2_UNSUPPORTED',
        `${where}: AF ${afHash.slice(0, 16)} is not supported`,
      )
    const { offset, length } = keyslotArea(k)
    const stripes = u32(af, 'stripes', `${where}.af`)
    tried++
    const derived = pbkdf2Sync(passphrase, salt, iterations, areaKeySize, hash)
    const material = readArea(offset, length)
    areaXts(false, derived, material)
    derived.fill(0)
    const key = afMerge(material, k.keySize, stripes, afHash)
    material.fill(0)
    if (checkDigest(digest, key)) return { keyslot: k.id, volumeKey: key }
    key.fill(0)
  }
  if (tried === 0 && unsupported.length > 0)
    throw new EnvelopeError(
      'ERR_LUKS2_KDF_UNSUPPORTED',
      `keyslot ${unsupported.join(', ')} uses a KDF Node.js 20 cannot run (argon2 is not in node:crypto); add a PBKDF2 keyslot with 'cryptsetup luksAddKey --pbkdf pbkdf2 DISK' and use that passphrase`,
    )
  if (tried === 0)
    throw new EnvelopeError(
      'ERR_DISK_NO_KEYSLOT',
      'this disk has no passphrase keyslot; open it with its KEK (--kek-file)',
    )
  throw new EnvelopeError(
    'ERR_DISK_WRONG_PASSPHRASE',
    `the passphrase opens no keyslot${unsupported.length ? ` (keyslots ${unsupported.join(', ')} use argon2, which Ward cannot run)` : ''}; check the passphrase file`,
  )
}
