import { closeSync, constants, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs'
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { Secret } from '@ward/core'
import { HostError } from '../errors.js'
import { readFileBounded, writeFileAtomic } from '../util/files.js'
import type { CachedKey, KeyRef } from './key-cache.js'

/**
 * Key-persistence store: an append-only journal of AES-256-GCM records under one store key
 * (kept in the TPM-sealed configuration archive), so a boot costs one unseal whatever the
 * number of keys. Layout: `WARDKST2` | storeId (16) | epoch (16) | records; record = u32 len |
 * u32 ~len | nonce (12) | ciphertext | tag (16); AAD = storeId | epoch | u64 sequence, so records
 * cannot be reordered, moved to another store or file (every compaction starts a new epoch) or
 * dropped from the middle. Plaintext: u8 op | op data: 1 add (u16 len | provider id | u16 len |
 * KEK id | u16 len | key), 2 remove (provider id, KEK id), 3 checkpoint (u64 value).
 *
 * Anti-rollback: a checkpoint record carries a value of the TPM's journal counter. Every removal
 * is written together with the checkpoint "counter + 1" and acknowledged only once the counter
 * was incremented to it, so a journal whose latest checkpoint is below the counter (an older
 * copy, a cut one) is refused: a removed key never comes back. The latest checkpoint may be one
 * ahead of the counter (a crash between the write and the increment); the increment is then
 * finished. Adds are not anchored (a rollback can only drop keys added since the last removal,
 * which their providers push again).
 */
const MAGIC = Buffer.from('WARDKST2', 'latin1')
const HEADER = MAGIC.length + 16 + 16
const OP_ADD = 1
const OP_REMOVE = 2
const OP_CHECKPOINT = 3
/** Smallest record: nonce, a one-byte plaintext, tag. */
const MIN_RECORD = 12 + 1 + 16
/** Largest record accepted (ids ≤ 255 bytes, key ≤ 64 bytes). */
const MAX_RECORD = 2048
/** Largest journal accepted (≈ 2.5 million records). */
export const MAX_STORE = 256 << 20

export interface OpenedStore {
  readonly store: KeyStore
  readonly entries: CachedKey[]
  /** A torn final record (crash during an unacknowledged write) was cut off. */
  readonly truncatedTail: boolean
  /** The latest checkpoint is one ahead of the counter: increment it (a crash came in between). */
  readonly pendingAnchor: boolean
}

const idOf = (r: KeyRef): string => `${r.providerId}\u0000${r.kekId}`

function corrupt(why: string, offset: number): HostError {
  return new HostError(
    'ERR_HOST_KEYSTORE_CORRUPT',
    `the key-persistence store is corrupt (${why} at byte ${offset}); it was left as it is. Disable key persistence with --remove-all-stored-keys and let providers refill the cache`,
    { offset },
  )
}

function rollback(why: string, details: Record<string, string>): HostError {
  return new HostError(
    'ERR_HOST_KEYSTORE_ROLLBACK',
    `the key-persistence store is older than the TPM's journal counter says (${why}): an earlier copy of keystore.journal was put back or cut, and it could bring removed keys back, so none of its keys is used. It was left as it is. Disable key persistence with --remove-all-stored-keys and let providers refill the cache`,
    details,
  )
}

export class KeyStore {
  readonly #path: string
  readonly #key: Secret
  readonly #storeId: Buffer
  #epoch: Buffer
  #fd: number
  #seq: bigint
  #records: number
  /** ids of the live entries (the values are the cache's) */
  readonly #live = new Set<string>()
  #checkpoint: bigint

  private constructor(
    path: string,
    key: Secret,
    storeId: Buffer,
    epoch: Buffer,
    fd: number,
    seq: bigint,
    checkpoint: bigint,
  ) {
    this.#path = path
    this.#key = key
    this.#storeId = storeId
    this.#epoch = epoch
    this.#fd = fd
    this.#seq = seq
    this.#records = Number(seq)
    this.#checkpoint = checkpoint
  }

  /** Create an empty store anchored at `checkpoint` (replacing any file at `path`). */
  static create(path: string, key: Secret, storeId: Buffer, checkpoint: bigint): KeyStore {
    const epoch = randomBytes(16)
    writeFileAtomic(path, KeyStore.#image(key, storeId, epoch, [], checkpoint))
    const fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW)
    return new KeyStore(path, key, storeId, epoch, fd, 1n, checkpoint)
  }

  /**
   * Write a complete journal holding `entries`, anchored at `checkpoint`, to `path` (atomic).
   * Used to re-encrypt the store under a new key (`keystore.journal.next`).
   */
  static write(
    path: string,
    key: Secret,
    storeId: Buffer,
    entries: readonly CachedKey[],
    checkpoint: bigint,
  ): void {
    writeFileAtomic(path, KeyStore.#image(key, storeId, randomBytes(16), entries, checkpoint))
  }

  /** The store id in a journal's header (undefined when the file is missing or not a journal). */
  static storeIdOf(path: string): Buffer | undefined {
    const b = readFileBounded(path, MAX_STORE)
    if (!b || b.length < HEADER || !b.subarray(0, MAGIC.length).equals(MAGIC)) return undefined
    return Buffer.from(b.subarray(MAGIC.length, MAGIC.length + 16))
  }

  /**
   * Open, authenticate and replay the journal; a missing file is an empty store anchored at
   * `anchor`. With `anchor` (the TPM journal counter's value) the latest checkpoint must equal it
   * or be one ahead (`pendingAnchor`); without, any checkpoint is accepted (the journal comes from
   * another TPM and is re-anchored by the caller). Nothing is written unless the journal is
   * accepted; then a torn final record is cut off.
   */
  static open(
    path: string,
    key: Secret,
    storeId: Buffer,
    o: { anchor: bigint | undefined },
  ): OpenedStore {
    const bytes = readFileBounded(path, MAX_STORE)
    if (!bytes)
      return {
        store: KeyStore.create(path, key, storeId, o.anchor ?? 0n),
        entries: [],
        truncatedTail: false,
        pendingAnchor: false,
      }
    const r = replay(bytes, key, storeId, o.anchor)
    const fd = openSync(path, constants.O_RDWR | constants.O_APPEND | constants.O_NOFOLLOW)
    if (r.truncatedTail) {
      ftruncateSync(fd, r.end)
      fsyncSync(fd)
    }
    const store = new KeyStore(path, key, storeId, r.epoch, fd, r.seq, r.checkpoint)
    for (const id of r.live.keys()) store.#live.add(id)
    const entries = [...r.live.values()]
    if (store.#records > 2 * store.#live.size + 64) store.compact(entries)
    return {
      store,
      entries,
      truncatedTail: r.truncatedTail,
      pendingAnchor: o.anchor !== undefined && r.checkpoint === o.anchor + 1n,
    }
  }

  /** Replay the journal at `path` (checks as `open`, no anchor) without writing anything. */
  static read(
    path: string,
    key: Secret,
    storeId: Buffer,
  ): { entries: CachedKey[]; checkpoint: bigint } {
    const bytes = readFileBounded(path, MAX_STORE)
    if (!bytes) return { entries: [], checkpoint: 0n }
    const r = replay(bytes, key, storeId, undefined)
    return { entries: [...r.live.values()], checkpoint: r.checkpoint }
  }

  /** Number of records in the journal (adds, removes, checkpoints). */
  get records(): number {
    return this.#records
  }

  /** The latest checkpoint written: the value the TPM journal counter must reach. */
  get checkpoint(): bigint {
    return this.#checkpoint
  }

  /** Is (provider, KEK) stored? */
  has(ref: KeyRef): boolean {
    return this.#live.has(idOf(ref))
  }

  /** Append one record per key, then one fsync: the keys are durable when this returns. */
  appendAdd(entries: readonly CachedKey[]): void {
    if (entries.length === 0) return
    const parts: Buffer[] = []
    for (const e of entries) {
      const plain = e.key.use((k) => encodePlain(OP_ADD, e, k))
      parts.push(this.#encrypt(plain))
      plain.fill(0)
    }
    this.#write(Buffer.concat(parts))
    for (const e of entries) this.#live.add(idOf(e))
  }

  /**
   * Append the removal and the checkpoint "latest + 1" in one write (fsync). The removal is
   * anchored once the TPM journal counter reaches `checkpoint` (the caller increments it).
   */
  appendRemove(ref: KeyRef): bigint {
    const next = this.#checkpoint + 1n
    this.#write(
      Buffer.concat([
        this.#encrypt(encodePlain(OP_REMOVE, ref, undefined)),
        this.#encrypt(encodeCheckpoint(next)),
      ]),
    )
    this.#live.delete(idOf(ref))
    this.#checkpoint = next
    return next
  }

  /** Append a checkpoint (the counter moved past the latest one: anchor the journal at its value). */
  appendCheckpoint(value: bigint): void {
    this.#write(this.#encrypt(encodeCheckpoint(value)))
    this.#checkpoint = value
  }

  /** Rewrite the journal with only the live entries, in a new epoch (atomic replace). */
  compact(entries: readonly CachedKey[], checkpoint: bigint = this.#checkpoint): void {
    const epoch = randomBytes(16)
    const image = KeyStore.#image(this.#key, this.#storeId, epoch, entries, checkpoint)
    closeSync(this.#fd)
    this.#fd = -1
    writeFileAtomic(this.#path, image)
    this.#fd = openSync(this.#path, constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW)
    this.#epoch = epoch
    this.#seq = BigInt(entries.length + 1)
    this.#records = entries.length + 1
    this.#live.clear()
    for (const e of entries) this.#live.add(idOf(e))
    this.#checkpoint = checkpoint
  }

  /** Close the journal and zero the store key. */
  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd)
    this.#fd = -1
    this.#key.dispose()
  }

  /** A whole journal: header, one add per entry, the checkpoint. */
  static #image(
    key: Secret,
    storeId: Buffer,
    epoch: Buffer,
    entries: readonly CachedKey[],
    checkpoint: bigint,
  ): Buffer {
    const parts: Buffer[] = [MAGIC, storeId, epoch]
    let seq = 0n
    for (const e of entries) {
      const plain = e.key.use((k) => encodePlain(OP_ADD, e, k))
      parts.push(encryptRecord(key, storeId, epoch, seq++, plain))
      plain.fill(0)
    }
    parts.push(encryptRecord(key, storeId, epoch, seq, encodeCheckpoint(checkpoint)))
    return Buffer.concat(parts)
  }

  #encrypt(plain: Buffer): Buffer {
    const out = encryptRecord(this.#key, this.#storeId, this.#epoch, this.#seq, plain)
    this.#seq++
    this.#records++
    return out
  }

  #write(buf: Buffer): void {
    if (this.#fd < 0) throw new HostError('ERR_HOST_KEYSTORE_CLOSED', 'the key store is closed')
    let off = 0
    while (off < buf.length) off += writeSync(this.#fd, buf, off, buf.length - off)
    fsyncSync(this.#fd)
  }
}

/** Parse and authenticate a whole journal (see `KeyStore.open`); throws on anything but a torn tail. */
function replay(
  bytes: Buffer,
  key: Secret,
  storeId: Buffer,
  anchor: bigint | undefined,
): {
  live: Map<string, CachedKey>
  checkpoint: bigint
  epoch: Buffer
  seq: bigint
  end: number
  truncatedTail: boolean
} {
  if (bytes.length < HEADER || !bytes.subarray(0, MAGIC.length).equals(MAGIC))
    throw corrupt('bad header', 0)
  if (!bytes.subarray(MAGIC.length, MAGIC.length + 16).equals(storeId))
    throw corrupt('store id does not match the configuration', MAGIC.length)
  const epoch = Buffer.from(bytes.subarray(MAGIC.length + 16, HEADER))
  const live = new Map<string, CachedKey>()
  let off = HEADER
  let seq = 0n
  let checkpoint: bigint | undefined
  let truncatedTail = false
  try {
    while (off < bytes.length) {
      const rest = bytes.length - off
      // A crash can leave a prefix of the last write, or (file systems that extend the size
      // before the data) zeros: only those are a torn tail. Anything else is refused.
      if (rest < 8 || isZero(bytes, off)) {
        truncatedTail = true
        break
      }
      const len = bytes.readUInt32BE(off)
      if (bytes.readUInt32BE(off + 4) !== ~len >>> 0 || len < MIN_RECORD || len > MAX_RECORD)
        throw corrupt('bad record length', off)
      if (8 + len > rest) {
        truncatedTail = true
        break
      }
      let plain: Buffer
      try {
        plain = decryptRecord(key, storeId, epoch, seq, bytes.subarray(off + 8, off + 8 + len))
      } catch {
        throw corrupt('record failed authentication', off)
      }
      const at = off
      const cp = applyRecord(plain, live, () => corrupt('bad record contents', at))
      plain.fill(0)
      if (cp !== undefined) checkpoint = cp
      off += 8 + len
      seq++
    }
    if (checkpoint === undefined) throw rollback('it holds no checkpoint', {})
    if (anchor !== undefined && checkpoint !== anchor && checkpoint !== anchor + 1n)
      throw rollback(`its latest checkpoint is ${checkpoint}, the counter is at ${anchor}`, {
        checkpoint: checkpoint.toString(),
        counter: anchor.toString(),
      })
  } catch (e) {
    for (const k of live.values()) k.key.dispose()
    throw e
  }
  return { live, checkpoint, epoch, seq, end: off, truncatedTail }
}

function isZero(b: Buffer, from: number): boolean {
  for (let i = from; i < b.length; i++) if (b[i] !== 0) return false
  return true
}

function aad(storeId: Buffer, epoch: Buffer, seq: bigint): Buffer {
  const b = Buffer.alloc(40)
  storeId.copy(b, 0)
  epoch.copy(b, 16)
  b.writeBigUInt64BE(seq, 32)
  return b
}

function encryptRecord(
  key: Secret,
  storeId: Buffer,
  epoch: Buffer,
  seq: bigint,
  plain: Buffer,
): Buffer {
  const nonce = randomBytes(12)
  return key.use((k) => {
    const c = createCipheriv('aes-256-gcm', k, nonce)
    c.setAAD(aad(storeId, epoch, seq))
    const ct = Buffer.concat([c.update(plain), c.final()])
    const head = Buffer.alloc(8)
    const len = 12 + ct.length + 16
    head.writeUInt32BE(len, 0)
    head.writeUInt32BE(~len >>> 0, 4)
    return Buffer.concat([head, nonce, ct, c.getAuthTag()])
  })
}

function decryptRecord(
  key: Secret,
  storeId: Buffer,
  epoch: Buffer,
  seq: bigint,
  rec: Buffer,
): Buffer {
  const nonce = rec.subarray(0, 12)
  const tag = rec.subarray(rec.length - 16)
  return key.use((k) => {
    const d = createDecipheriv('aes-256-gcm', k, nonce)
    d.setAAD(aad(storeId, epoch, seq))
    d.setAuthTag(tag)
    return Buffer.concat([d.update(rec.subarray(12, rec.length - 16)), d.final()])
  })
}

function encodeCheckpoint(value: bigint): Buffer {
  const b = Buffer.alloc(9)
  b.writeUInt8(OP_CHECKPOINT, 0)
  b.writeBigUInt64BE(value, 1)
  return b
}

function encodePlain(op: number, ref: KeyRef, key: Uint8Array | undefined): Buffer {
  const p = Buffer.from(ref.providerId, 'utf8')
  const k = Buffer.from(ref.kekId, 'utf8')
  const v = key ?? new Uint8Array(0)
  const b = Buffer.alloc(1 + 2 + p.length + 2 + k.length + (op === OP_ADD ? 2 + v.length : 0))
  let o = b.writeUInt8(op, 0)
  o = b.writeUInt16BE(p.length, o)
  o += p.copy(b, o)
  o = b.writeUInt16BE(k.length, o)
  o += k.copy(b, o)
  if (op === OP_ADD) {
    o = b.writeUInt16BE(v.length, o)
    b.set(v, o)
  }
  return b
}

/** Apply one record to `live`; returns the value of a checkpoint record. */
function applyRecord(
  plain: Buffer,
  live: Map<string, CachedKey>,
  bad: () => HostError,
): bigint | undefined {
  let o = 0
  const take = (n: number): Buffer => {
    if (o + n > plain.length) throw bad()
    const s = plain.subarray(o, o + n)
    o += n
    return s
  }
  const u16 = (): number => take(2).readUInt16BE(0)
  const op = take(1)[0]
  if (op === OP_CHECKPOINT) {
    const v = take(8).readBigUInt64BE(0)
    if (o !== plain.length) throw bad()
    return v
  }
  const providerId = take(u16()).toString('utf8')
  const kekId = take(u16()).toString('utf8')
  const id = idOf({ providerId, kekId })
  if (op === OP_ADD) {
    const len = u16()
    if (len === 0 || len > 64) throw bad()
    const key = new Secret(new Uint8Array(take(len)))
    if (o !== plain.length) throw bad()
    live.get(id)?.key.dispose()
    live.set(id, { providerId, kekId, key })
  } else if (op === OP_REMOVE) {
    if (o !== plain.length) throw bad()
    live.get(id)?.key.dispose()
    live.delete(id)
  } else throw bad()
  return undefined
}
