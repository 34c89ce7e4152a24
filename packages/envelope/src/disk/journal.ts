import { closeSync, fsyncSync, fstatSync, openSync, unlinkSync, constants } from 'node:fs'
import { createHash, timingSafeEqual } from 'node:crypto'
import { EnvelopeError } from '../errors.js'
import { CREATE_NEW, OWNER_ONLY } from '../fs/exclusive.js'
import { fsyncDir, preadFull, pwriteFull } from './io.js'

/*
 * The crash journal of in-place operations (docs/disk-format.md "Journal"): a sidecar file
 * `DISK.ward-journal`, mode 0600, fsync'd at every step. Two 4 KiB state slots hold a JSON state
 * (the slot with the higher sequence number and a valid SHA-256 wins, so a torn write of one
 * leaves the other), and two record slots hold the progress record of the segment in flight,
 * alternating by record number for the same reason. It never holds plaintext or a bare key.
 * Its name is well known, so it is only ever created new (O_EXCL) and only resumed from when it is
 * plainly the file Ward made: a regular file (not a symlink) owned by this user, mode 0600 or
 * narrower, with one link (a hard link would let journal writes land in another name's file).
 */

const STATE_SLOT = 4096
const STATE_MAGIC = Buffer.from('WARDJNL1')
const RECORD_MAGIC = Buffer.from('WARDREC1')
/** magic 8 | seq u64 | length u32 | payload | ... | sha256 over all bytes before it (last 32). */
const FIXED = 8 + 8 + 4
const SUM = 32
/** Bound on a record slot (a 64 MiB segment of 4 KiB sectors needs 1 MiB of check bytes). */
const MAX_RECORD = 4 << 20

/** Journal sidecar path of a disk. */
export const journalPath = (disk: string): string => `${disk}.ward-journal`

function seal(magic: Buffer, seq: bigint, payload: Uint8Array, slot: number): Uint8Array {
  if (FIXED + payload.length + SUM > slot)
    throw new EnvelopeError('ERR_DISK_JOURNAL', 'journal entry too large')
  const buf = Buffer.alloc(slot)
  magic.copy(buf, 0)
  buf.writeBigUInt64BE(seq, 8)
  buf.writeUInt32BE(payload.length, 16)
  buf.set(payload, FIXED)
  createHash('sha256')
    .update(buf.subarray(0, slot - SUM))
    .digest()
    .copy(buf, slot - SUM)
  return buf
}

function unseal(magic: Buffer, buf: Uint8Array): { seq: bigint; payload: Uint8Array } | undefined {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  if (!b.subarray(0, 8).equals(magic)) return undefined
  const sum = createHash('sha256')
    .update(b.subarray(0, b.length - SUM))
    .digest()
  if (!timingSafeEqual(sum, b.subarray(b.length - SUM))) return undefined
  const len = b.readUInt32BE(16)
  if (FIXED + len + SUM > b.length) return undefined
  return { seq: b.readBigUInt64BE(8), payload: b.subarray(FIXED, FIXED + len) }
}

function unsafe(path: string, problem: string): EnvelopeError {
  return new EnvelopeError(
    'ERR_DISK_JOURNAL_UNSAFE',
    `the journal ${path} is not used: ${problem}. Ward only resumes from the journal it created (a regular 0600 file of this user with one link); if this one is yours, fix that (chmod 600, chown, remove the other link, or move the real file in place of a symlink) and run the command again`,
  )
}

/** An open journal. State is a JSON object; records are opaque bytes numbered by the caller. */
export class Journal {
  readonly path: string
  readonly recordSize: number
  #fd: number
  #seq: bigint
  #state: Record<string, unknown>

  private constructor(
    path: string,
    fd: number,
    recordSize: number,
    seq: bigint,
    state: Record<string, unknown>,
  ) {
    this.path = path
    this.#fd = fd
    this.recordSize = recordSize
    this.#seq = seq
    this.#state = state
  }

  /** Create a new journal (refuses to replace one) and make it durable, entry included. */
  static create(path: string, state: Record<string, unknown>, recordPayloadMax: number): Journal {
    const recordSize = Math.ceil((FIXED + recordPayloadMax + SUM) / 4096) * 4096
    if (recordSize > MAX_RECORD)
      throw new EnvelopeError('ERR_DISK_JOURNAL', 'journal record too large: use smaller segments')
    const fd = openSync(path, constants.O_RDWR | CREATE_NEW, OWNER_ONLY)
    const j = new Journal(path, fd, recordSize, 0n, state)
    j.setState(state)
    fsyncDir(path)
    return j
  }

  /** Open an existing journal; undefined when there is none. A journal with no valid state slot is ERR_DISK_JOURNAL. */
  static open(path: string): Journal | undefined {
    let fd: number
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_NOFOLLOW)
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === 'ENOENT') return undefined
      if (code === 'ELOOP') throw unsafe(path, 'it is a symlink')
      throw new EnvelopeError('ERR_DISK_JOURNAL', `cannot open the journal ${path}`, { cause: e })
    }
    const st = fstatSync(fd)
    const problem = !st.isFile()
      ? 'it is not a regular file'
      : typeof process.getuid === 'function' && st.uid !== process.getuid()
        ? `it is owned by uid ${st.uid}, not by this user`
        : st.nlink !== 1
          ? `it has ${st.nlink} hard links`
          : (st.mode & 0o077) !== 0
            ? `its mode is ${(st.mode & 0o777).toString(8).padStart(4, '0')}, not 0600`
            : undefined
    if (problem !== undefined) {
      closeSync(fd)
      throw unsafe(path, problem)
    }
    if (st.size === 0) {
      // created, then killed before its first state was written: the operation never touched
      // the disk (it only starts once the state is durable), so start afresh
      closeSync(fd)
      unlinkSync(path)
      return undefined
    }
    try {
      let best: { seq: bigint; payload: Uint8Array } | undefined
      for (const off of [0, STATE_SLOT]) {
        const buf = new Uint8Array(STATE_SLOT)
        if (preadFull(fd, buf, off) !== STATE_SLOT) continue
        const e = unseal(STATE_MAGIC, buf)
        if (e && (!best || e.seq > best.seq)) best = e
      }
      if (!best)
        throw new EnvelopeError(
          'ERR_DISK_JOURNAL',
          `the journal ${path} has no valid state; it was not written by Ward or is damaged`,
        )
      const state: unknown = JSON.parse(Buffer.from(best.payload).toString('utf8'))
      if (typeof state !== 'object' || state === null || Array.isArray(state))
        throw new EnvelopeError('ERR_DISK_JOURNAL', 'journal state is not an object')
      const s = state as Record<string, unknown>
      const recordSize = s.recordSize
      if (
        typeof recordSize !== 'number' ||
        !Number.isInteger(recordSize) ||
        recordSize < 4096 ||
        recordSize > MAX_RECORD ||
        recordSize % 4096 !== 0
      )
        throw new EnvelopeError('ERR_DISK_JOURNAL', 'journal record size is invalid')
      return new Journal(path, fd, recordSize, best.seq, s)
    } catch (e) {
      closeSync(fd)
      if (e instanceof SyntaxError)
        throw new EnvelopeError('ERR_DISK_JOURNAL', 'journal state does not parse', { cause: e })
      throw e
    }
  }

  get state(): Readonly<Record<string, unknown>> {
    return this.#state
  }

  /** Replace the state durably (the other slot, then fsync). */
  setState(state: Record<string, unknown>): void {
    const full = { ...state, recordSize: this.recordSize }
    this.#seq++
    const payload = Buffer.from(JSON.stringify(full))
    pwriteFull(
      this.#fd,
      seal(STATE_MAGIC, this.#seq, payload, STATE_SLOT),
      Number(this.#seq % 2n) * STATE_SLOT,
    )
    fsyncSync(this.#fd)
    this.#state = full
  }

  /** Write record `n` durably (slot n % 2). */
  writeRecord(n: number, payload: Uint8Array): void {
    const off = 2 * STATE_SLOT + (n % 2) * this.recordSize
    pwriteFull(this.#fd, seal(RECORD_MAGIC, BigInt(n), payload, this.recordSize), off)
    fsyncSync(this.#fd)
  }

  /** The valid record with the highest number, if any. */
  lastRecord(): { n: number; payload: Uint8Array } | undefined {
    const size = fstatSync(this.#fd).size
    let best: { seq: bigint; payload: Uint8Array } | undefined
    for (const slot of [0, 1]) {
      const off = 2 * STATE_SLOT + slot * this.recordSize
      if (off + this.recordSize > size) continue
      const buf = new Uint8Array(this.recordSize)
      preadFull(this.#fd, buf, off)
      const e = unseal(RECORD_MAGIC, buf)
      if (e && (!best || e.seq > best.seq)) best = e
    }
    return best && { n: Number(best.seq), payload: best.payload }
  }

  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd)
    this.#fd = -1
  }

  /** The operation finished: remove the journal durably. */
  remove(): void {
    this.close()
    unlinkSync(this.path)
    fsyncDir(this.path)
  }
}
