import { constants, fstatSync, fsyncSync, ftruncateSync } from 'node:fs'
import { EnvelopeError } from '../errors.js'
import { unwrapKwp, wrapKwp } from '../keywrap/keywrap.js'
import { WARD_DATA_OFFSET, WARD_SECTOR_SIZE } from '../luks2/format.js'
import { findWardToken } from '../luks2/token.js'
import { unlockWithKek } from '../luks2/unlock.js'
import { readVolume } from '../luks2/volume.js'
import { xtsEncryptSectorsAsync } from '../xts/xts.js'
import {
  asDiskError,
  checkKek,
  closeQuietly,
  newDek,
  openFile,
  restrictToOwner,
  segmentSize,
} from './common.js'
import { writeNewHeader, type DiskResult, type EncryptOptions } from './encrypt.js'
import { checkRawImage, hasLuks2MagicFd } from './image-format.js'
import { Journal, journalPath } from './journal.js'
import { runPipeline, type Step } from './pipeline.js'

/*
 * In-place encryption: the file grows by the 16 MiB header area and every segment moves up by
 * that much, processed from the end backwards. A segment is never longer than the shift, so its
 * destination never overlaps its own source and only overwrites sources already moved: redoing
 * the segment in flight after a crash is always safe. The journal records the DEK wrapped by the
 * KEK, the original size and how many segments are done (docs/disk-format.md).
 */

const OP = 'encrypt-in-place'

function unwrapJournalDek(j: Journal, kek: Uint8Array): Uint8Array {
  const wrapped = j.state.wrappedDek
  if (typeof wrapped !== 'string')
    throw new EnvelopeError('ERR_DISK_JOURNAL', 'journal has no wrapped DEK')
  try {
    return unwrapKwp(kek, new Uint8Array(Buffer.from(wrapped, 'base64')))
  } catch (e) {
    throw new EnvelopeError(
      'ERR_DISK_WRONG_KEK',
      'the KEK does not unwrap the DEK recorded in the journal; resume with the KEK the operation started with',
      { cause: e },
    )
  }
}

const num = (j: Journal, key: string): number => {
  const v = j.state[key]
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new EnvelopeError('ERR_DISK_JOURNAL', `journal field ${key} is invalid`)
  return v
}

/**
 * Encrypt a raw image file in place into a LUKS2 disk. Crash-safe: after kill -9 or power loss,
 * running it again with the same KEK resumes from the journal `FILE.ward-journal`. On a file that
 * is already a Ward disk this KEK opens, it reports `alreadyDone`. The file's mode loses its group
 * and other bits (0644 becomes 0600) before anything is written.
 */
export async function encryptInPlace(path: string, o: EncryptOptions): Promise<DiskResult> {
  checkKek(o.kek)
  const jpath = journalPath(path)
  const fd = openFile(path, constants.O_RDWR)
  let journal: Journal | undefined
  let dek: Uint8Array | undefined
  try {
    journal = Journal.open(jpath)
    let resumed = true
    if (!journal) {
      resumed = false
      let vol
      try {
        vol = readVolume(fd)
      } catch (e) {
        // SECURITY: a LUKS2 volume with a damaged or cut header is not a raw image to encrypt
        if (hasLuks2MagicFd(fd)) throw e
        vol = undefined
      }
      if (vol) {
        if (findWardToken(vol.meta)) {
          unlockWithKek(vol, o.kek).fill(0) // throws when it is another KEK's disk
          return {
            path,
            dataBytes: vol.fileSize - WARD_DATA_OFFSET,
            dataOffset: WARD_DATA_OFFSET,
            alreadyDone: true,
          }
        }
        throw new EnvelopeError(
          'ERR_DISK_ALREADY_LUKS2',
          `${path} is already a LUKS2 volume (no Ward token); refusing to encrypt it in place (if the guest encrypted it itself, use encrypt --in/--out)`,
        )
      }
      const st = fstatSync(fd)
      if (!st.isFile()) throw new EnvelopeError('ERR_DISK_OPTIONS', `${path} is not a regular file`)
      checkRawImage(fd, path, st.size, o)
      restrictToOwner(fd, path) // before the journal and the first write
      const seg = segmentSize(o, WARD_DATA_OFFSET)
      dek = newDek()
      journal = Journal.create(
        jpath,
        {
          op: OP,
          version: 1,
          phase: 'data',
          rawSize: st.size,
          segmentBytes: seg,
          providerId: o.providerId,
          kekId: o.kekId,
          wrappedDek: Buffer.from(wrapKwp(o.kek, dek)).toString('base64'),
          recovery: o.recoveryPassphrase !== undefined,
        },
        0,
      )
    } else {
      if (journal.state.op !== OP)
        throw new EnvelopeError(
          'ERR_DISK_JOURNAL_OTHER_OP',
          `${jpath} belongs to an unfinished '${String(journal.state.op).slice(0, 32)}'; finish that command first`,
        )
      dek = unwrapJournalDek(journal, o.kek)
      if (journal.state.recovery === true && o.recoveryPassphrase === undefined)
        throw new EnvelopeError(
          'ERR_DISK_RECOVERY_PASSPHRASE_NEEDED',
          `${path} was being encrypted with a recovery keyslot; resume with the same --recovery-passphrase-file`,
        )
      restrictToOwner(fd, path)
    }
    const j = journal
    const k = dek
    const rawSize = num(j, 'rawSize')
    const seg = num(j, 'segmentBytes')
    if (seg % 4096 !== 0 || seg < 4096 || seg > WARD_DATA_OFFSET)
      throw new EnvelopeError('ERR_DISK_JOURNAL', 'journal segment size is invalid')
    const providerId = typeof j.state.providerId === 'string' ? j.state.providerId : o.providerId
    const kekId = typeof j.state.kekId === 'string' ? j.state.kekId : o.kekId

    if (j.state.phase === 'data') {
      const size = fstatSync(fd).size
      if (size !== rawSize && size !== rawSize + WARD_DATA_OFFSET)
        throw new EnvelopeError(
          'ERR_DISK_JOURNAL_MISMATCH',
          `${path} is ${size} bytes; the journal expects ${rawSize} or ${rawSize + WARD_DATA_OFFSET}; it was changed since`,
        )
      if (size === rawSize) {
        ftruncateSync(fd, rawSize + WARD_DATA_OFFSET)
        fsyncSync(fd)
      }
      const count = Math.ceil(rawSize / seg)
      const doneCount = j.lastRecord()?.n ?? 0
      if (doneCount > count)
        throw new EnvelopeError(
          'ERR_DISK_JOURNAL',
          'journal progress is beyond the end of the file',
        )
      // segment i covers [i*seg, min((i+1)*seg, rawSize)); done: the `doneCount` highest ones
      const steps: Step[] = []
      for (let i = count - 1 - doneCount; i >= 0; i--) {
        const start = i * seg
        steps.push({
          readPos: start,
          writePos: start + WARD_DATA_OFFSET,
          length: Math.min(seg, rawSize - start),
        })
      }
      const base = rawSize - steps.reduce((a, st) => a + st.length, 0)
      await runPipeline({
        fdIn: fd,
        fdOut: fd,
        steps,
        maxLength: seg,
        durable: true,
        transform: (buf, step) =>
          xtsEncryptSectorsAsync(k, buf, step.readPos / WARD_SECTOR_SIZE, WARD_SECTOR_SIZE),
        afterWrite: (_step, i) => j.writeRecord(doneCount + i + 1, new Uint8Array(0)),
        onProgress: (d) => o.onProgress?.(Math.min(rawSize, base + d), rawSize),
      })
      j.setState({ ...j.state, phase: 'header' })
    }
    if (j.state.phase !== 'header')
      throw new EnvelopeError('ERR_DISK_JOURNAL', 'journal phase is invalid')
    await writeNewHeader(fd, k, { ...o, providerId, kekId }, true, rawSize)
    j.remove()
    journal = undefined
    o.onProgress?.(rawSize, rawSize)
    return {
      path,
      dataBytes: rawSize,
      dataOffset: WARD_DATA_OFFSET,
      providerId,
      kekId,
      resumed,
      recoveryKeyslot: o.recoveryPassphrase !== undefined,
    }
  } catch (e) {
    throw asDiskError(e, `encrypting ${path} in place`)
  } finally {
    dek?.fill(0)
    journal?.close()
    closeQuietly(fd)
  }
}
