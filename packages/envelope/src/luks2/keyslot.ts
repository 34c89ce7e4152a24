import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { EnvelopeError } from '../errors.js'
import { afMerge, afSplit, afSplitSize } from './af.js'
import { checkDigestAsync, digestWork } from './digest.js'
import {
  checkKdfFitsHost,
  deriveKeyslotKey,
  kdfJson,
  kdfWork,
  KDF_ATTEMPT_BUDGET_NS,
  LUKS2_KDF_LIMITS,
  newKeyslotKdf,
  parseKeyslotKdf,
  type KeyslotKdf,
  type KeyslotKdfOptions,
} from './kdf.js'
import {
  jsonObject,
  jsonString,
  u32,
  type Luks2Digest,
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

/**
 * A luks2 keyslot holding `volumeKey` under `passphrase`: argon2id by default (luks2/kdf.ts,
 * WARD_KDF_DEFAULTS), or what `kdf` asks for. The KDF runs on the libuv thread pool.
 */
export async function createKeyslot(
  volumeKey: Uint8Array,
  passphrase: Uint8Array,
  areaOffset: number,
  kdfOptions: KeyslotKdfOptions = {},
): Promise<NewKeyslot> {
  const kdf = newKeyslotKdf(kdfOptions, new Uint8Array(randomBytes(LUKS2_KDF_LIMITS.saltBytes)))
  checkKdfFitsHost(kdf, 'new keyslot')
  const derived = await deriveKeyslotKey(kdf, passphrase, 64)
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
      kdf: kdfJson(kdf),
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

/** Everything needed to try one keyslot, validated before any KDF work. */
interface Attempt {
  readonly id: string
  readonly keySize: number
  readonly kdf: KeyslotKdf
  readonly digest: Luks2Digest
  readonly areaKeySize: number
  readonly offset: number
  readonly length: number
  readonly stripes: number
  readonly afHash: string
  /** Estimated work (KDF + digest), reference nanoseconds. */
  readonly work: number
}

/** cryptsetup keyslot priority (luks2_keyslot.c): 0 ignore, 1 normal (absent), 2 prefer. */
function priorityOf(k: Luks2Keyslot): number {
  const p = k.json.priority
  if (p === undefined) return 1
  if (p !== 0 && p !== 1 && p !== 2)
    throw new EnvelopeError('ERR_LUKS2_KEYSLOT', `keyslots.${k.id}: priority must be 0, 1 or 2`)
  return p
}

function plan(meta: Luks2Metadata, k: Luks2Keyslot): Attempt {
  const where = `keyslots.${k.id}`
  const kdf = parseKeyslotKdf(k.json.kdf, where)
  const digest = meta.digests.find((d) => d.keyslots.includes(k.id))
  if (!digest) throw new EnvelopeError('ERR_LUKS2_KEYSLOT', `${where} has no digest`)
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
  const work = kdfWork(kdf, areaKeySize) + digestWork(digest)
  return {
    id: k.id,
    keySize: k.keySize,
    kdf,
    digest,
    areaKeySize,
    offset,
    length,
    stripes,
    afHash,
    work,
  }
}

export interface OpenKeyslotsOptions {
  /** Try only this keyslot (cryptsetup --key-slot), whatever its priority. */
  readonly keyslot?: string
}

const seconds = (ns: number): string => (ns / 1e9).toFixed(ns < 10e9 ? 1 : 0)

/**
 * Try `passphrase` on the luks2 keyslots (priority 2 first, then 1; 0 only when named) and
 * return the volume key it unlocks, checked against the keyslot's digest. Every keyslot to try
 * is validated first (ERR_LUKS2_KDF_PARAMS, ERR_LUKS2_KEYSLOT, ...) and their total estimated
 * KDF work bounded (ERR_LUKS2_KDF_BUDGET), before any KDF runs. Wrong passphrase:
 * ERR_DISK_WRONG_PASSPHRASE. The KDFs run on the libuv thread pool, one keyslot at a time.
 */
export async function openKeyslots(
  meta: Luks2Metadata,
  passphrase: Uint8Array,
  readArea: (offset: number, length: number) => Uint8Array,
  options: OpenKeyslotsOptions = {},
): Promise<{ keyslot: string; volumeKey: Uint8Array }> {
  const luks2 = meta.keyslots.filter((k) => k.type === 'luks2')
  let chosen: Luks2Keyslot[]
  if (options.keyslot !== undefined) {
    const k = luks2.find((x) => x.id === options.keyslot)
    if (!k)
      throw new EnvelopeError(
        'ERR_DISK_NO_KEYSLOT',
        `there is no passphrase keyslot ${options.keyslot.slice(0, 16)} (keyslots: ${luks2.map((x) => x.id).join(', ') || 'none'})`,
      )
    chosen = [k]
  } else {
    const prio = new Map(luks2.map((k) => [k.id, priorityOf(k)]))
    chosen = luks2
      .filter((k) => prio.get(k.id) !== 0)
      .sort((a, b) => (prio.get(b.id) ?? 1) - (prio.get(a.id) ?? 1) || Number(a.id) - Number(b.id))
    if (chosen.length === 0 && luks2.length > 0)
      throw new EnvelopeError(
        'ERR_DISK_NO_KEYSLOT',
        `every passphrase keyslot (${luks2.map((x) => x.id).join(', ')}) has priority "ignore"; name one with --key-slot, or open with the KEK (--kek-file)`,
      )
  }
  if (chosen.length === 0)
    throw new EnvelopeError(
      'ERR_DISK_NO_KEYSLOT',
      'this disk has no passphrase keyslot; open it with its KEK (--kek-file)',
    )
  const attempts = chosen.map((k) => plan(meta, k))
  const total = attempts.reduce((a, x) => a + x.work, 0)
  if (total > KDF_ATTEMPT_BUDGET_NS) {
    const costly = [...attempts].sort((a, b) => b.work - a.work)[0] as Attempt
    throw new EnvelopeError(
      'ERR_LUKS2_KDF_BUDGET',
      attempts.length === 1
        ? `keyslot ${costly.id} would cost about ${seconds(total)} s of CPU to try, more than the ${seconds(KDF_ATTEMPT_BUDGET_NS)} s Ward spends on one passphrase attempt; the header was altered, or open it with cryptsetup`
        : `trying the passphrase on keyslots ${attempts.map((x) => x.id).join(', ')} would cost about ${seconds(total)} s of CPU, more than the ${seconds(KDF_ATTEMPT_BUDGET_NS)} s Ward spends on one attempt (keyslot ${costly.id} alone: ${seconds(costly.work)} s); name the keyslot of this passphrase with --key-slot N`,
    )
  }
  for (const a of attempts) checkKdfFitsHost(a.kdf, `keyslots.${a.id}`)
  for (const a of attempts) {
    const material = readArea(a.offset, a.length)
    const derived = await deriveKeyslotKey(a.kdf, passphrase, a.areaKeySize)
    areaXts(false, derived, material)
    derived.fill(0)
    const key = afMerge(material, a.keySize, a.stripes, a.afHash)
    material.fill(0)
    if (await checkDigestAsync(a.digest, key)) return { keyslot: a.id, volumeKey: key }
    key.fill(0)
  }
  throw new EnvelopeError(
    'ERR_DISK_WRONG_PASSPHRASE',
    options.keyslot !== undefined
      ? `the passphrase does not open keyslot ${options.keyslot}; check the passphrase file and the keyslot number`
      : 'the passphrase opens no keyslot; check the passphrase file',
  )
}
