import { EnvelopeError } from '../errors.js'
import { preadFull } from '../disk/io.js'
import { checkDigest } from './digest.js'
import { openKeyslots, type OpenKeyslotsOptions } from './keyslot.js'
import type { Luks2Segment } from './metadata.js'
import { findWardToken, unwrapWardToken } from './token.js'
import type { Luks2Volume } from './volume.js'

/** Mandatory requirement Ward sets while a deep rekey is in progress (unknown to cryptsetup, so it refuses to open). */
export const WARD_REKEY_REQUIREMENT = 'ward-rekey'

/** The volume's data segment: exactly one crypt segment with aes-xts-plain64 (the only layout Ward reads). */
export function dataSegment(vol: Luks2Volume): Luks2Segment {
  if (vol.meta.requirements.includes(WARD_REKEY_REQUIREMENT))
    throw new EnvelopeError(
      'ERR_DISK_REKEY_IN_PROGRESS',
      'a deep rekey of this disk was interrupted; run `ward crypto-util disk rekey --deep` on it again to finish it',
    )
  if (vol.meta.requirements.length > 0)
    throw new EnvelopeError(
      'ERR_LUKS2_UNSUPPORTED',
      `the volume has requirements Ward does not support (${vol.meta.requirements.join(', ').slice(0, 100)}); finish them with cryptsetup first`,
    )
  const segs = vol.meta.segments
  const s = segs[0]
  if (segs.length !== 1 || !s || s.type !== 'crypt')
    throw new EnvelopeError(
      'ERR_LUKS2_UNSUPPORTED',
      'Ward reads volumes with exactly one crypt segment',
    )
  if (s.encryption !== 'aes-xts-plain64')
    throw new EnvelopeError(
      'ERR_LUKS2_UNSUPPORTED',
      `cipher ${s.encryption.slice(0, 40)} is not supported (only aes-xts-plain64)`,
    )
  if (s.integrity)
    throw new EnvelopeError(
      'ERR_LUKS2_UNSUPPORTED',
      'volumes with dm-integrity (authenticated encryption) are not supported; use cryptsetup',
    )
  const cut = `the file was cut short (copy it again from its source)`
  if (s.offset > vol.fileSize)
    throw new EnvelopeError(
      'ERR_LUKS2_TRUNCATED',
      `the file is ${vol.fileSize} bytes and ends before the data segment at ${s.offset}: ${cut}`,
    )
  const size = s.size ?? vol.fileSize - s.offset
  if (size % s.sectorSize !== 0 || s.offset + size > vol.fileSize)
    throw new EnvelopeError(
      'ERR_LUKS2_TRUNCATED',
      `the data segment is not a whole number of ${s.sectorSize}-byte sectors inside the file (${vol.fileSize} bytes, data from ${s.offset}${s.size !== null ? `, ${s.size} bytes long` : ''}): ${cut}`,
    )
  const expected = recordedDataSize(vol)
  if (expected !== undefined && size < expected)
    throw new EnvelopeError(
      'ERR_LUKS2_TRUNCATED',
      `the file is ${vol.fileSize} bytes but the disk holds ${expected} bytes of data from offset ${s.offset} (expected at least ${s.offset + expected} bytes, ${expected - size} missing): ${cut}`,
    )
  return s
}

/**
 * The data size the Ward token records (`data_size`), if any. Read leniently: a malformed token
 * is reported by the operations that use it, and must not stop a passphrase unlock.
 */
function recordedDataSize(vol: Luks2Volume): number | undefined {
  try {
    return findWardToken(vol.meta)?.dataSize
  } catch {
    return undefined
  }
}

/** Bytes of data in the segment (dynamic segments run to the end of the file). */
export const segmentBytes = (vol: Luks2Volume, s: Luks2Segment): number =>
  s.size ?? vol.fileSize - s.offset

function checkVolumeKey(vol: Luks2Volume, s: Luks2Segment, key: Uint8Array): void {
  const digest = vol.meta.digests.find((d) => d.segments.includes(s.id))
  if (!digest || key.length !== 64 || !checkDigest(digest, key)) {
    key.fill(0)
    throw new EnvelopeError(
      'ERR_LUKS2_DIGEST',
      "the key does not match the volume's digest: the header was altered or belongs to another disk",
    )
  }
}

/** Unlock with the KEK through the Ward token; returns the 64-byte DEK (caller zeroes it). */
export function unlockWithKek(vol: Luks2Volume, kek: Uint8Array): Uint8Array {
  const s = dataSegment(vol)
  const token = findWardToken(vol.meta)
  if (!token)
    throw new EnvelopeError(
      'ERR_DISK_NO_WARD_TOKEN',
      'this LUKS2 volume has no Ward token; open it with its passphrase (--recovery-passphrase-file)',
    )
  const dek = unwrapWardToken(token, kek)
  checkVolumeKey(vol, s, dek)
  return dek
}

/**
 * Unlock with a passphrase through the luks2 keyslots (all of them, or `options.keyslot`);
 * returns the volume key (caller zeroes it). The KDFs run on the libuv thread pool.
 */
export async function unlockWithPassphrase(
  fd: number,
  vol: Luks2Volume,
  passphrase: Uint8Array,
  options: OpenKeyslotsOptions = {},
): Promise<Uint8Array> {
  const s = dataSegment(vol)
  const { volumeKey } = await openKeyslots(
    vol.meta,
    passphrase,
    (offset, length) => {
      const buf = new Uint8Array(length)
      if (preadFull(fd, buf, offset) !== length)
        throw new EnvelopeError('ERR_LUKS2_TRUNCATED', 'the file ends inside a keyslot area')
      return buf
    },
    options,
  )
  if (volumeKey.length !== 64) {
    volumeKey.fill(0)
    throw new EnvelopeError(
      'ERR_LUKS2_UNSUPPORTED',
      'only 512-bit aes-xts-plain64 volume keys are supported',
    )
  }
  checkVolumeKey(vol, s, volumeKey)
  return volumeKey
}
