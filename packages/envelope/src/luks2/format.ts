import { makeDigest } from './digest.js'
import type { KeyslotKdfOptions } from './kdf.js'
import { createKeyslot, keyslotAreaSize } from './keyslot.js'
import { makeWardToken } from './token.js'

/*
 * Layout of a new Ward disk, as `cryptsetup luksFormat --type luks2` lays it out by default: two
 * 16 KiB header copies, the keyslots area up to 16 MiB, and the data segment at 16 MiB.
 */

/** Size of each header copy (binary header + JSON area). */
export const WARD_HDR_SIZE = 0x4000
/** The data segment's offset: cryptsetup's default 16 MiB. */
export const WARD_DATA_OFFSET = 16 * 1048576
/** The keyslots area lies between the two header copies and the data. */
export const WARD_KEYSLOTS_SIZE = WARD_DATA_OFFSET - 2 * WARD_HDR_SIZE
/** LUKS2 data sector size Ward writes. */
export const WARD_SECTOR_SIZE = 4096
/** dm-crypt cipher spec of Ward disks. */
export const WARD_CIPHER = 'aes-xts-plain64'
/** XTS-AES-256: two 256-bit keys. */
export const WARD_DEK_BYTES = 64

export interface FormatParams {
  readonly dek: Uint8Array
  readonly kek: Uint8Array
  readonly providerId: string
  readonly kekId: string
  /** Bytes of data the disk holds, recorded in the Ward token (`data_size`). */
  readonly dataSize: number
  /** Adds a passphrase keyslot (argon2id by default) for break-glass access. */
  readonly recoveryPassphrase?: Uint8Array
  /** KDF of that keyslot (luks2/kdf.ts WARD_KDF_DEFAULTS when absent). */
  readonly recoveryKdf?: KeyslotKdfOptions
}

export interface FormattedMetadata {
  readonly json: Record<string, unknown>
  /** Keyslot material to write before the headers. */
  readonly keyslotArea?: { readonly offset: number; readonly bytes: Uint8Array }
}

/** The JSON metadata of a Ward disk holding `dek` (the recovery keyslot's KDF runs off the event loop). */
export async function formatMetadata(p: FormatParams): Promise<FormattedMetadata> {
  const keyslots: Record<string, unknown> = {}
  let keyslotArea: FormattedMetadata['keyslotArea']
  const areaOffset = 2 * WARD_HDR_SIZE
  if (p.recoveryPassphrase !== undefined) {
    const ks = await createKeyslot(p.dek, p.recoveryPassphrase, areaOffset, p.recoveryKdf)
    keyslots['0'] = ks.json
    const bytes = new Uint8Array(keyslotAreaSize(p.dek.length))
    bytes.set(ks.area)
    ks.area.fill(0)
    keyslotArea = { offset: areaOffset, bytes }
  }
  const json = {
    keyslots,
    tokens: { '0': makeWardToken(p.kek, p.dek, p.providerId, p.kekId, p.dataSize) },
    segments: {
      '0': {
        type: 'crypt',
        offset: String(WARD_DATA_OFFSET),
        size: 'dynamic',
        iv_tweak: '0',
        encryption: WARD_CIPHER,
        sector_size: WARD_SECTOR_SIZE,
      },
    },
    digests: { '0': makeDigest(p.dek, Object.keys(keyslots), ['0']) },
    config: { json_size: String(WARD_HDR_SIZE - 4096), keyslots_size: String(WARD_KEYSLOTS_SIZE) },
  }
  return keyslotArea ? { json, keyslotArea } : { json }
}
