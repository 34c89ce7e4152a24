import { ftruncateSync } from 'node:fs'
import { EnvelopeError } from '../errors.js'
import { WARD_DATA_OFFSET, WARD_DEK_BYTES, WARD_SECTOR_SIZE } from '../luks2/format.js'
import { checkKek, newDek, asDiskError, type KekRef } from './common.js'
import { writeNewHeader, type DiskResult } from './encrypt.js'
import { NewOutput } from './new-output.js'

/** Largest thin disk accepted: 64 TiB of data (a VM disk, not a sanity bound on LUKS2). */
export const THIN_DISK_MAX_BYTES = 64 * 2 ** 40

export interface ThinDiskOptions extends KekRef {
  /** Data bytes (a multiple of the 4096-byte sector). */
  readonly size: number
  /**
   * The 64-byte XTS DEK to format the disk with (a VM keeps it in its key bundle too). Absent: a
   * fresh one, which the caller never sees.
   */
  readonly dek?: Uint8Array
}

/**
 * A new, empty Ward disk of `size` data bytes: only the LUKS2 header area is written (the DEK
 * wrapped under the KEK in the Ward token), the data area is a hole, so the file takes about the
 * header's blocks until the guest writes. Like `encryptDisk`, `out` is never half-written and is
 * never overwritten. Unwritten sectors hold no ciphertext: a reader that decrypts them gets
 * pseudo-random bytes, as with any LUKS2 volume formatted without a wipe.
 */
export async function createThinDisk(out: string, o: ThinDiskOptions): Promise<DiskResult> {
  checkKek(o.kek)
  if (!Number.isSafeInteger(o.size) || o.size <= 0 || o.size % WARD_SECTOR_SIZE !== 0)
    throw new EnvelopeError(
      'ERR_DISK_OPTIONS',
      `a disk size must be a positive multiple of ${WARD_SECTOR_SIZE} bytes (got ${String(o.size)})`,
    )
  if (o.size > THIN_DISK_MAX_BYTES)
    throw new EnvelopeError('ERR_DISK_OPTIONS', `a disk holds at most ${THIN_DISK_MAX_BYTES} bytes`)
  if (o.dek !== undefined && (!(o.dek instanceof Uint8Array) || o.dek.length !== WARD_DEK_BYTES))
    throw new EnvelopeError('ERR_DISK_OPTIONS', `the DEK must be ${WARD_DEK_BYTES} bytes`)
  const dek = o.dek ?? newDek()
  let output: NewOutput | undefined
  try {
    output = NewOutput.create(out)
    ftruncateSync(output.fd, WARD_DATA_OFFSET + o.size)
    await writeNewHeader(output.fd, dek, o, false, o.size)
    output.commit()
    output = undefined
    return {
      path: out,
      dataBytes: o.size,
      dataOffset: WARD_DATA_OFFSET,
      providerId: o.providerId,
      kekId: o.kekId,
      recoveryKeyslot: false,
    }
  } catch (e) {
    output?.abort()
    throw asDiskError(e, `creating ${out}`)
  } finally {
    if (o.dek === undefined) dek.fill(0)
  }
}
