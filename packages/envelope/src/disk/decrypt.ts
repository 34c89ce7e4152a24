import { constants, ftruncateSync, lstatSync } from 'node:fs'
import { EnvelopeError } from '../errors.js'
import { dataSegment, segmentBytes, unlockWithKek, unlockWithPassphrase } from '../luks2/unlock.js'
import { readVolume, type Luks2Volume } from '../luks2/volume.js'
import { mapInputFile, xtsSectorsFromMappedAsync, type MappedInput } from '../xts/mapped.js'
import { mapInputWanted } from './mapped-output.js'
import { xtsDecryptSectorsAsync } from '../xts/xts.js'
import {
  asDiskError,
  ascending,
  closeQuietly,
  MAPPED_TRANSFORMS_IN_FLIGHT,
  NEW_FILE_SEGMENT_BYTES,
  openFile,
  segmentSize,
  type DiskRunOptions,
} from './common.js'
import type { DiskResult } from './encrypt.js'
import { journalPath } from './journal.js'
import { NewOutput } from './new-output.js'
import { runPipeline } from './pipeline.js'

/** How to unlock a disk: its KEK (through the Ward token) or a keyslot passphrase (all keyslots, or `keyslot`). */
export type Unlock =
  { readonly kek: Uint8Array } | { readonly passphrase: Uint8Array; readonly keyslot?: string }

export interface DecryptOptions extends DiskRunOptions {
  readonly unlock: Unlock
}

/** Refuse disks with an unfinished in-place operation (their data is half old, half new). */
export function refuseJournaled(disk: string): void {
  let present = true
  try {
    lstatSync(journalPath(disk)) // any entry counts, a symlink (dangling or not) included
  } catch {
    present = false
  }
  if (present)
    throw new EnvelopeError(
      'ERR_DISK_REKEY_IN_PROGRESS',
      `${disk} has an unfinished in-place operation (${journalPath(disk)}); re-run the same 'ward crypto-util disk' command to finish it first`,
    )
}

/** Unlock an opened volume; returns the volume key (caller zeroes it). */
export async function unlockVolume(
  fd: number,
  vol: Luks2Volume,
  unlock: Unlock,
): Promise<Uint8Array> {
  return 'kek' in unlock
    ? unlockWithKek(vol, unlock.kek)
    : unlockWithPassphrase(
        fd,
        vol,
        unlock.passphrase,
        unlock.keyslot !== undefined ? { keyslot: unlock.keyslot } : {},
      )
}

/**
 * Decrypt a LUKS2 disk (Ward's, or any single-segment aes-xts-plain64 LUKS2 volume) to a new raw
 * file (mode 0600), written to a new temporary file with a random name beside `out` and renamed
 * when complete (disk/new-output.ts). Refuses to overwrite `out`.
 */
export async function decryptDisk(
  input: string,
  out: string,
  o: DecryptOptions,
): Promise<DiskResult> {
  const seg = segmentSize(o, undefined, NEW_FILE_SEGMENT_BYTES)
  refuseJournaled(input)
  const fdIn = openFile(input, constants.O_RDONLY)
  let key: Uint8Array | undefined
  let output: NewOutput | undefined
  let mapped: MappedInput | undefined
  try {
    const vol = readVolume(fdIn)
    const s = dataSegment(vol)
    key = await unlockVolume(fdIn, vol, o.unlock)
    const k = key
    const bytes = segmentBytes(vol, s)
    output = NewOutput.create(out)
    const fdOut = output.fd
    ftruncateSync(fdOut, bytes)
    const end = s.offset + bytes
    // dataSegment checked that the segment lies inside the file; mapped only then (a page wholly
    // past the end would not be read as an error but fault).
    const map = (mapped =
      !mapInputWanted(o, input) || vol.fileSize < end ? undefined : mapInputFile(fdIn, end))
    const sector = (step: { readPos: number }): number =>
      (step.readPos - s.offset) / s.sectorSize + s.ivTweak
    await runPipeline({
      fdIn: map ? undefined : fdIn,
      fdOut,
      steps: ascending(bytes, Math.max(seg - (seg % s.sectorSize), s.sectorSize), s.offset, 0),
      maxLength: seg,
      durable: false,
      transformsInFlight: map ? MAPPED_TRANSFORMS_IN_FLIGHT : 1,
      transform: (buf, step) =>
        map
          ? xtsSectorsFromMappedAsync({
              direction: 'decrypt',
              key: k,
              src: map,
              srcOffset: step.readPos,
              dst: buf,
              firstSector: sector(step),
              sectorSize: s.sectorSize,
            })
          : xtsDecryptSectorsAsync(k, buf, sector(step), s.sectorSize),
      onProgress: (d) => o.onProgress?.(d, bytes),
    })
    output.commit()
    output = undefined
    return { path: out, dataBytes: bytes, dataOffset: s.offset }
  } catch (e) {
    output?.abort()
    throw asDiskError(e, `decrypting ${input} to ${out}`)
  } finally {
    key?.fill(0)
    mapped?.close()
    closeQuietly(fdIn)
  }
}
