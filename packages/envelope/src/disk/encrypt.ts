import { constants, fstatSync, fsyncSync, ftruncateSync } from 'node:fs'
import { EnvelopeError } from '../errors.js'
import { formatMetadata, WARD_DATA_OFFSET, WARD_SECTOR_SIZE } from '../luks2/format.js'
import type { KeyslotKdfOptions } from '../luks2/kdf.js'
import { newIdentity, writeHeaders } from '../luks2/volume.js'
import {
  mapInputFile,
  mapOutputFile,
  xtsSectorsFromMappedAsync,
  type MappedInput,
} from '../xts/mapped.js'
import { xtsEncryptSectorsAsync } from '../xts/xts.js'
import {
  ascending,
  checkKek,
  closeQuietly,
  newDek,
  MAPPED_TRANSFORMS_IN_FLIGHT,
  NEW_FILE_SEGMENT_BYTES,
  openFile,
  segmentSize,
  asDiskError,
  type DiskRunOptions,
  type KekRef,
} from './common.js'
import { checkRawImage } from './image-format.js'
import { pwriteFull } from './io.js'
import { encryptMapped, mapInputWanted, mapOutputWanted } from './mapped-output.js'
import { NewOutput } from './new-output.js'
import { runPipeline } from './pipeline.js'

export interface EncryptOptions extends DiskRunOptions, KekRef {
  /** Adds a recovery keyslot opened by this passphrase (argon2id unless `recoveryKdf` says otherwise). */
  readonly recoveryPassphrase?: Uint8Array
  readonly recoveryKdf?: KeyslotKdfOptions
  /**
   * Encrypt the input as a raw image even when its first bytes look like a qcow2, VMDK, VHD(X),
   * VDI, QED or Parallels container (a guest can write anything there). Default false: such an
   * input is refused with ERR_DISK_IMAGE_FORMAT.
   */
  readonly assumeRaw?: boolean
}

export interface DiskResult {
  readonly path: string
  readonly dataBytes: number
  readonly dataOffset: number
  readonly providerId?: string
  readonly kekId?: string
  /** True when the work was already done by an earlier run. */
  readonly alreadyDone?: boolean
  readonly resumed?: boolean
  readonly recoveryKeyslot?: boolean
  /** Shallow rekey: the KEK id and provider id the disk had before. */
  readonly previousKekId?: string
  readonly previousProviderId?: string
}

/** Write the LUKS2 header area (zeros, keyslot material, both header copies) of a new Ward disk. */
export async function writeNewHeader(
  fd: number,
  dek: Uint8Array,
  o: EncryptOptions,
  wipe: boolean,
  dataSize: number,
): Promise<void> {
  const { json, keyslotArea } = await formatMetadata({
    dek,
    kek: o.kek,
    providerId: o.providerId,
    kekId: o.kekId,
    dataSize,
    ...(o.recoveryPassphrase !== undefined ? { recoveryPassphrase: o.recoveryPassphrase } : {}),
    ...(o.recoveryKdf !== undefined ? { recoveryKdf: o.recoveryKdf } : {}),
  })
  // SECURITY: the header area of an in-place run still holds plaintext of the image's first 16 MiB
  if (wipe) pwriteFull(fd, new Uint8Array(WARD_DATA_OFFSET), 0)
  if (keyslotArea) pwriteFull(fd, keyslotArea.bytes, keyslotArea.offset)
  fsyncSync(fd)
  writeHeaders(fd, newIdentity(), json, 1n)
}

/**
 * Encrypt a raw image into a new LUKS2 file (aes-xts-plain64, 512-bit DEK, 4096-byte sectors,
 * Ward token; optional recovery keyslot). The output is written to a new temporary file with a
 * random name beside `out` (mode 0600) and renamed when complete, so `out` never holds a
 * half-written disk (disk/new-output.ts). Refuses to overwrite `out`.
 */
export async function encryptDisk(
  input: string,
  out: string,
  o: EncryptOptions,
): Promise<DiskResult> {
  checkKek(o.kek)
  const seg = segmentSize(o, undefined, NEW_FILE_SEGMENT_BYTES)
  const fdIn = openFile(input, constants.O_RDONLY)
  let output: NewOutput | undefined
  let mapped: MappedInput | undefined
  const dek = newDek()
  try {
    const size = fstatSync(fdIn).size
    if (!fstatSync(fdIn).isFile())
      throw new EnvelopeError('ERR_DISK_OPTIONS', `${input} is not a regular file`)
    checkRawImage(fdIn, input, size, { allowEmpty: true, ...o })
    output = NewOutput.create(out)
    const fdOut = output.fd
    ftruncateSync(fdOut, WARD_DATA_OFFSET + size)
    await writeNewHeader(fdOut, dek, o, false, size)
    const map = (mapped = mapInputWanted(o, input) ? mapInputFile(fdIn, size) : undefined)
    const outMap =
      map && mapOutputWanted(o, fdOut, output.tempPath)
        ? mapOutputFile(fdOut, WARD_DATA_OFFSET + size)
        : undefined
    if (map && outMap) {
      try {
        await encryptMapped(map, outMap, {
          key: dek,
          size,
          seg,
          outOffset: WARD_DATA_OFFSET,
          onProgress: (d) => o.onProgress?.(d, size),
        })
      } finally {
        outMap.close() // before the fsync below, which writes back the pages it dirtied
      }
    } else
      await runPipeline({
        fdIn: map ? undefined : fdIn,
        fdOut,
        steps: ascending(size, seg, 0, WARD_DATA_OFFSET),
        maxLength: seg,
        durable: false,
        transformsInFlight: map ? MAPPED_TRANSFORMS_IN_FLIGHT : 1,
        transform: (buf, step) =>
          map
            ? xtsSectorsFromMappedAsync({
                direction: 'encrypt',
                key: dek,
                src: map,
                srcOffset: step.readPos,
                dst: buf,
                firstSector: step.readPos / WARD_SECTOR_SIZE,
                sectorSize: WARD_SECTOR_SIZE,
              })
            : xtsEncryptSectorsAsync(dek, buf, step.readPos / WARD_SECTOR_SIZE, WARD_SECTOR_SIZE),
        onProgress: (d) => o.onProgress?.(d, size),
      })
    output.commit()
    output = undefined
    return {
      path: out,
      dataBytes: size,
      dataOffset: WARD_DATA_OFFSET,
      providerId: o.providerId,
      kekId: o.kekId,
      recoveryKeyslot: o.recoveryPassphrase !== undefined,
    }
  } catch (e) {
    output?.abort()
    throw asDiskError(e, `encrypting ${input} to ${out}`)
  } finally {
    dek.fill(0)
    mapped?.close()
    closeQuietly(fdIn)
  }
}
