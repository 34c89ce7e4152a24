import { constants } from 'node:fs'
import { EnvelopeError } from '../errors.js'
import { checkDigest } from '../luks2/digest.js'
import { dataSegment, segmentBytes } from '../luks2/unlock.js'
import { readVolume } from '../luks2/volume.js'
import { closeQuietly, openFile, asDiskError } from './common.js'
import { refuseJournaled, unlockVolume, type Unlock } from './decrypt.js'

export { refuseJournaled }

/**
 * Where a LUKS2 disk's data lives and how its sectors are numbered: what a live data path (the
 * host's crypto filter) needs besides the volume key. Byte `i` of the plaintext is in sector
 * `firstSector + floor(i / sectorSize)` (aes-xts-plain64), stored at file offset `offset + i`.
 */
export interface DiskDataArea {
  /** File offset of the data segment. */
  readonly offset: number
  /** Plaintext bytes (the segment's size; dynamic segments run to the end of the file). */
  readonly size: number
  readonly sectorSize: number
  /** The segment's iv_tweak: the sector number of its first sector. */
  readonly firstSector: number
}

/**
 * The data area of the LUKS2 volume open on `fd` (one aes-xts-plain64 crypt segment, as
 * `decryptDisk` reads), after checking `volumeKey` against the volume's digest when given
 * (ERR_LUKS2_DIGEST: wrong key or another disk's header). `volumeKey` is only read.
 */
export function diskDataArea(fd: number, volumeKey?: Uint8Array): DiskDataArea {
  const vol = readVolume(fd)
  const s = dataSegment(vol)
  if (volumeKey !== undefined) {
    const digest = vol.meta.digests.find((d) => d.segments.includes(s.id))
    if (!digest || volumeKey.length !== 64 || !checkDigest(digest, volumeKey))
      throw new EnvelopeError(
        'ERR_LUKS2_DIGEST',
        "the key does not match the volume's digest: the header was altered or belongs to another disk",
      )
  }
  return {
    offset: s.offset,
    size: segmentBytes(vol, s),
    sectorSize: s.sectorSize,
    firstSector: s.ivTweak,
  }
}

/**
 * The volume key of the LUKS2 disk at `path`, unlocked with its KEK (Ward token) or a keyslot
 * passphrase; the caller zeroes it. Disks with an unfinished in-place operation are refused.
 */
export async function unlockDiskKey(path: string, unlock: Unlock): Promise<Uint8Array> {
  refuseJournaled(path)
  const fd = openFile(path, constants.O_RDONLY)
  try {
    const vol = readVolume(fd)
    return await unlockVolume(fd, vol, unlock)
  } catch (e) {
    throw asDiskError(e, `unlocking ${path}`)
  } finally {
    closeQuietly(fd)
  }
}
