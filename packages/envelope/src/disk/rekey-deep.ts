import { constants, fdatasyncSync } from 'node:fs'
import { EnvelopeError } from '../errors.js'
import { unwrapKwp, wrapKwp } from '../keywrap/keywrap.js'
import { makeDigest } from '../luks2/digest.js'
import type { KeyslotKdfOptions } from '../luks2/kdf.js'
import { createKeyslot, keyslotAreaSize } from '../luks2/keyslot.js'
import { findWardToken, makeWardToken } from '../luks2/token.js'
import {
  dataSegment,
  segmentBytes,
  unlockWithKek,
  unlockWithPassphrase,
  WARD_REKEY_REQUIREMENT,
} from '../luks2/unlock.js'
import { readVolume, writeHeaders, type Luks2Volume } from '../luks2/volume.js'
import { xtsReencryptSectors, xtsReencryptSectorsAsync } from '../xts/xts.js'
import {
  ascending,
  checkKek,
  closeQuietly,
  newDek,
  openFile,
  segmentSize,
  asDiskError,
  type DiskRunOptions,
} from './common.js'
import type { DiskResult } from './encrypt.js'
import { preadFull, pwriteFull } from './io.js'
import { Journal, journalPath } from './journal.js'
import { PIPELINE_BUFFERS, runPipeline } from './pipeline.js'

/*
 * Deep rekey: every sector re-encrypted in place under a new DEK, then the header switched to it.
 * Crash safety without plaintext on disk: before a segment is written, the journal records, for
 * each of its sectors, 16 bytes from the head and the tail of both its old and its new ciphertext.
 * After a crash the segment in flight is repaired sector by sector: a sector still matching its
 * old ciphertext is re-encrypted, one matching the new is kept (a sector is one page, which a
 * killed write never tears). Both DEKs sit in the journal wrapped by the KEK. While it runs, the
 * header carries the mandatory requirement `ward-rekey`, so neither cryptsetup nor Ward opens the
 * half-converted disk.
 */

const OP = 'deep-rekey'
const CHECK = 64

export interface DeepRekeyOptions extends DiskRunOptions {
  readonly kek: Uint8Array
  /** Needed when the disk has passphrase keyslots: the recovery keyslot is rebuilt for the new DEK. */
  readonly recoveryPassphrase?: Uint8Array
  /** Check the passphrase against this keyslot only (cryptsetup --key-slot). */
  readonly recoveryKeyslotId?: string
  /** KDF of the rebuilt keyslot (argon2id defaults when absent). */
  readonly recoveryKdf?: KeyslotKdfOptions
}

function unwrapField(j: Journal, field: string, kek: Uint8Array): Uint8Array {
  const v = j.state[field]
  if (typeof v !== 'string') throw new EnvelopeError('ERR_DISK_JOURNAL', `journal has no ${field}`)
  try {
    return unwrapKwp(kek, new Uint8Array(Buffer.from(v, 'base64')))
  } catch (e) {
    throw new EnvelopeError(
      'ERR_DISK_WRONG_KEK',
      'the KEK does not unwrap the keys recorded in the journal; resume with the KEK the rekey started with',
      { cause: e },
    )
  }
}

function checks(buf: Uint8Array, sectorSize: number, out: Uint8Array, at: 0 | 32): void {
  if (buf.byteOffset % 4 === 0 && out.byteOffset % 4 === 0) {
    // word copies: this runs on the main thread for every sector, and copying 32-bit words is
    // much cheaper than subarray+set per sector (bench/README.md, "Figures from source comments")
    const src = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2)
    const dst = new Uint32Array(out.buffer, out.byteOffset, out.length >>> 2)
    const words = sectorSize >>> 2
    for (let w = 0, o = at >>> 2; w < src.length; w += words, o += CHECK >>> 2) {
      const t = w + words - 4
      for (let k = 0; k < 4; k++) {
        dst[o + k] = src[w + k] as number
        dst[o + 4 + k] = src[t + k] as number
      }
    }
    return
  }
  for (let s = 0, off = 0; off < buf.length; s++, off += sectorSize) {
    out.set(buf.subarray(off, off + 16), s * CHECK + at)
    out.set(buf.subarray(off + sectorSize - 16, off + sectorSize), s * CHECK + at + 16)
  }
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0

/**
 * Re-encrypt a Ward disk under a new DEK, in place and crash-safe: after kill -9, running it again
 * with the same KEK resumes from `DISK.ward-journal`.
 */
export async function rekeyDeep(path: string, o: DeepRekeyOptions): Promise<DiskResult> {
  checkKek(o.kek)
  const fd = openFile(path, constants.O_RDWR)
  let journal: Journal | undefined
  let oldDek: Uint8Array | undefined
  let newKey: Uint8Array | undefined
  try {
    journal = Journal.open(journalPath(path))
    if (journal && journal.state.op !== OP)
      throw new EnvelopeError(
        'ERR_DISK_JOURNAL_OTHER_OP',
        `the journal belongs to an unfinished '${String(journal.state.op).slice(0, 32)}'; finish that command first`,
      )
    let vol: Luks2Volume = readVolume(fd, { repair: true })
    const resumed = journal !== undefined
    if (!journal) {
      const s = dataSegment(vol)
      oldDek = unlockWithKek(vol, o.kek)
      if (vol.meta.keyslots.length > 0) {
        if (o.recoveryPassphrase === undefined)
          throw new EnvelopeError(
            'ERR_DISK_RECOVERY_PASSPHRASE_NEEDED',
            `${path} has a recovery keyslot; pass its passphrase (--recovery-passphrase-file) so it can be rebuilt for the new DEK`,
          )
        const opened = await unlockWithPassphrase(
          fd,
          vol,
          o.recoveryPassphrase,
          o.recoveryKeyslotId !== undefined ? { keyslot: o.recoveryKeyslotId } : {},
        )
        opened.fill(0)
      }
      const token = findWardToken(vol.meta)
      if (!token) throw new EnvelopeError('ERR_DISK_NO_WARD_TOKEN', `${path} has no Ward token`)
      const seg = segmentSize(o)
      newKey = newDek()
      journal = Journal.create(
        journalPath(path),
        {
          op: OP,
          version: 1,
          phase: 'data',
          uuid: vol.uuid,
          dataOffset: s.offset,
          dataBytes: segmentBytes(vol, s),
          sectorSize: s.sectorSize,
          ivTweak: s.ivTweak,
          segmentBytes: seg,
          hadKeyslots: vol.meta.keyslots.length > 0,
          wrappedOldDek: Buffer.from(wrapKwp(o.kek, oldDek)).toString('base64'),
          wrappedNewDek: Buffer.from(wrapKwp(o.kek, newKey)).toString('base64'),
        },
        (seg / s.sectorSize) * CHECK,
      )
    } else {
      oldDek = unwrapField(journal, 'wrappedOldDek', o.kek)
      newKey = unwrapField(journal, 'wrappedNewDek', o.kek)
      if (journal.state.hadKeyslots === true && o.recoveryPassphrase === undefined)
        throw new EnvelopeError(
          'ERR_DISK_RECOVERY_PASSPHRASE_NEEDED',
          `${path} had a recovery keyslot; resume with the same --recovery-passphrase-file`,
        )
    }
    const j = journal
    const oldK = oldDek
    const newK = newKey
    const st = j.state
    const [dataOffset, dataBytes, sectorSize, ivTweak, seg] = [
      st.dataOffset,
      st.dataBytes,
      st.sectorSize,
      st.ivTweak,
      st.segmentBytes,
    ].map((v) => {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
        throw new EnvelopeError('ERR_DISK_JOURNAL', 'journal layout fields are invalid')
      return v
    }) as [number, number, number, number, number]
    if (
      ![512, 1024, 2048, 4096].includes(sectorSize) ||
      seg % sectorSize !== 0 ||
      seg === 0 ||
      dataOffset + dataBytes > vol.fileSize
    )
      throw new EnvelopeError('ERR_DISK_JOURNAL_MISMATCH', 'the journal does not match this disk')

    if (st.uuid !== vol.uuid)
      throw new EnvelopeError(
        'ERR_DISK_JOURNAL_MISMATCH',
        `the journal belongs to another disk (uuid ${String(st.uuid).slice(0, 40)})`,
      )
    if (st.phase === 'data' && !vol.meta.requirements.includes(WARD_REKEY_REQUIREMENT)) {
      // mark the header (after the journal exists) so nothing opens the disk while sectors are half old, half new
      const json = structuredClone(vol.meta.json)
      const config = json.config as Record<string, unknown>
      config.requirements = { mandatory: [WARD_REKEY_REQUIREMENT] }
      writeHeaders(fd, vol, json, vol.seqid + 1n)
      vol = readVolume(fd)
    }
    if (st.phase === 'data') {
      const steps = ascending(dataBytes, seg, dataOffset, dataOffset)
      const last = j.lastRecord()
      let first = 0
      if (last) {
        // repair the segment in flight, sector by sector
        const step = steps[last.n]
        if (!step || last.payload.length !== (step.length / sectorSize) * CHECK)
          throw new EnvelopeError(
            'ERR_DISK_JOURNAL',
            'journal record does not match the disk layout',
          )
        const sector0 = (step.readPos - dataOffset) / sectorSize + ivTweak
        const buf = new Uint8Array(step.length)
        preadFull(fd, buf, step.readPos)
        for (let sIdx = 0, off = 0; off < buf.length; sIdx++, off += sectorSize) {
          const sector = buf.subarray(off, off + sectorSize)
          const rec = last.payload.subarray(sIdx * CHECK, (sIdx + 1) * CHECK)
          const now = new Uint8Array(32)
          now.set(sector.subarray(0, 16))
          now.set(sector.subarray(sectorSize - 16), 16)
          if (same(now, rec.subarray(0, 32))) {
            xtsReencryptSectors(oldK, newK, sector, sector0 + sIdx, sectorSize)
          } else if (!same(now, rec.subarray(32, 64)))
            throw new EnvelopeError(
              'ERR_DISK_JOURNAL_TORN',
              `sector ${sector0 + sIdx} matches neither its old nor its new ciphertext; the disk was changed or torn outside Ward`,
            )
        }
        pwriteFull(fd, buf, step.readPos)
        fdatasyncSync(fd)
        buf.fill(0)
        first = last.n + 1
      }
      const rest = steps.slice(first)
      // one record buffer per pipeline buffer: steps ahead are transformed while step i is written
      const records = Array.from(
        { length: PIPELINE_BUFFERS },
        () => new Uint8Array((seg / sectorSize) * CHECK),
      )
      const doneBefore = rest.length > 0 ? (rest[0]?.readPos ?? dataOffset) - dataOffset : dataBytes
      await runPipeline({
        fdIn: fd,
        fdOut: fd,
        steps: rest,
        maxLength: seg,
        durable: true,
        transform: async (buf, step, i) => {
          const sector0 = (step.readPos - dataOffset) / sectorSize + ivTweak
          const record = records[i % PIPELINE_BUFFERS] as Uint8Array
          checks(buf, sectorSize, record, 0)
          await xtsReencryptSectorsAsync(oldK, newK, buf, sector0, sectorSize)
          checks(buf, sectorSize, record, 32)
        },
        beforeWrite: (buf, _step, i) =>
          j.writeRecord(
            first + i,
            (records[i % PIPELINE_BUFFERS] as Uint8Array).subarray(
              0,
              (buf.length / sectorSize) * CHECK,
            ),
          ),
        onProgress: (d) => o.onProgress?.(doneBefore + d, dataBytes),
      })
      j.setState({ ...j.state, phase: 'header' })
    }
    if (j.state.phase !== 'header')
      throw new EnvelopeError('ERR_DISK_JOURNAL', 'journal phase is invalid')
    await switchHeader(fd, vol, newK, dataBytes, o)
    j.remove()
    journal = undefined
    o.onProgress?.(dataBytes, dataBytes)
    const token = findWardToken(readVolume(fd).meta)
    return {
      path,
      dataBytes,
      dataOffset,
      resumed,
      recoveryKeyslot: o.recoveryPassphrase !== undefined && st.hadKeyslots === true,
      ...(token ? { providerId: token.providerId, kekId: token.kekId } : {}),
    }
  } catch (e) {
    throw asDiskError(e, `deep rekey of ${path}`)
  } finally {
    oldDek?.fill(0)
    newKey?.fill(0)
    journal?.close()
    closeQuietly(fd)
  }
}

/** Point the header at the new DEK: token, digest, recovery keyslot; drop the requirement. */
async function switchHeader(
  fd: number,
  vol: Luks2Volume,
  newK: Uint8Array,
  dataBytes: number,
  o: DeepRekeyOptions,
): Promise<void> {
  const json = structuredClone(vol.meta.json)
  const token = findWardToken(vol.meta)
  if (!token)
    throw new EnvelopeError(
      'ERR_DISK_NO_WARD_TOKEN',
      'the disk lost its Ward token during the rekey',
    )
  const tokens = json.tokens as Record<string, unknown>
  tokens[token.id] = makeWardToken(o.kek, newK, token.providerId, token.kekId, dataBytes)
  const keyslots: Record<string, unknown> = {}
  const hadKeyslots = vol.meta.keyslots.length > 0
  if (hadKeyslots && o.recoveryPassphrase !== undefined) {
    const areaOffset = 2 * vol.hdrSize
    const ks = await createKeyslot(newK, o.recoveryPassphrase, areaOffset, o.recoveryKdf)
    const area = new Uint8Array(keyslotAreaSize(newK.length))
    area.set(ks.area)
    ks.area.fill(0)
    // SECURITY: wipe the whole keyslots area so no stale keyslot of the old DEK survives
    pwriteFull(fd, new Uint8Array(vol.meta.keyslotsSize), areaOffset)
    pwriteFull(fd, area, areaOffset)
    keyslots['0'] = ks.json
  } else if (hadKeyslots) pwriteFull(fd, new Uint8Array(vol.meta.keyslotsSize), 2 * vol.hdrSize)
  json.keyslots = keyslots
  const segId = vol.meta.segments[0]?.id ?? '0'
  json.digests = { '0': makeDigest(newK, Object.keys(keyslots), [segId]) }
  for (const t of Object.values(tokens))
    if (t && typeof t === 'object' && 'keyslots' in t) (t as { keyslots: unknown }).keyslots = []
  const config = json.config as Record<string, unknown>
  delete config.requirements
  writeHeaders(fd, vol, json, vol.seqid + 1n)
}
