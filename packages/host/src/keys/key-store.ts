import {
  closeSync,
  constants,
  fsyncSync,
  ftruncateSync,
  openSync,
  writeSync,
  fstatSync,
} from 'node:fs'
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { Secret } from '@ward/core'
import { HostError } from '../errors.js'
import { readFileBounded, writeFileAtomic, fsyncDir } from '../util/files.js'
import { dirname } from 'node:path'
import type { CachedKey, KeyRef } from './key-cache.js'

/**
 * Key-persistence store: an append-only journal of AES-256-GCM records under one store key
 * (kept in the TPM-sealed configuration archive), so a boot costs one unseal whatever the
 * number of keys. Layout: `WARDKST1` | storeId (16) | records; record = u32 len | nonce (12) |
 * ciphertext | tag (16); AAD = storeId | u64 sequence, so records cannot be reordered, moved to
 * another store or dropped from the middle. Plaintext: u8 op (1 add, 2 remove) | u16 len |
 * provider id | u16 len | KEK id | u16 len | key (add only).
 */
const MAGIC = Buffer.from('WARDKST1', 'latin1')
const HEADER = MAGIC.length + 16
const OP_ADD = 1
const OP_REMOVE = 2
/** Largest record accepted (ids ≤ 255 bytes, key ≤ 64 bytes). */
const MAX_RECORD = 2048
/** Largest journal accepted (≈ 2.5 million records). */
export const MAX_STORE = 256 << 20

export interface OpenedStore {
  readonly store: KeyStore
  readonly entries: CachedKey[]
  /** A torn final record (crash during an unacknowledged write) was cut off. */
  readonly truncatedTail: boolean
}

export class KeyStore {
  readonly #path: string
  readonly #key: Secret
  readonly #storeId: Buffer
  #fd: number
  #seq: bigint
  #records: number
  #live: number

  private constructor(path: string, key: Secret, storeId: Buffer, fd: number, seq: bigint) {
    this.#path = path
    this.#key = key
    this.#storeId = storeId
    this.#fd = fd
    this.#seq = seq
    this.#records = Number(seq)
    this.#live = 0
  }

  /** Create an empty store (replacing any file at `path`). */
  static create(path: string, key: Secret, storeId: Buffer): KeyStore {
    writeFileAtomic(path, Buffer.concat([MAGIC, storeId]))
    const fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW)
    return new KeyStore(path, key, storeId, fd, 0n)
  }

  /** Open, authenticate and replay the journal; a missing file is an empty store. */
  static open(path: string, key: Secret, storeId: Buffer): OpenedStore {
    const bytes = readFileBounded(path, MAX_STORE)
    if (!bytes)
      return { store: KeyStore.create(path, key, storeId), entries: [], truncatedTail: false }
    const corrupt = (why: string, offset: number): HostError =>
      new HostError(
        'ERR_HOST_KEYSTORE_CORRUPT',
        `the key-persistence store is corrupt (${why} at byte ${offset}); disable key persistence with --remove-all-stored-keys and let providers refill the cache`,
        { offset },
      )
    if (bytes.length < HEADER || !bytes.subarray(0, MAGIC.length).equals(MAGIC))
      throw corrupt('bad header', 0)
    if (!bytes.subarray(MAGIC.length, HEADER).equals(storeId))
      throw corrupt('store id does not match the configuration', MAGIC.length)
    const live = new Map<string, CachedKey>()
    let off = HEADER
    let seq = 0n
    let truncatedTail = false
    while (off < bytes.length) {
      const start = off
      const len = off + 4 <= bytes.length ? bytes.readUInt32BE(off) : -1
      const last = len < 0 || off + 4 + len >= bytes.length
      if (len < 0 || off + 4 + len > bytes.length || len < 12 + 16 + 1 || len > MAX_RECORD) {
        if (last) {
          truncatedTail = true
          off = start
          break
        }
        throw corrupt('bad record length', start)
      }
      const rec = bytes.subarray(off + 4, off + 4 + len)
      let plain: Buffer
      try {
        plain = decryptRecord(key, storeId, seq, rec)
      } catch {
        // Only the final record can be unacknowledged (torn by a crash); anything else is tampering.
        if (last) {
          truncatedTail = true
          off = start
          break
        }
        throw corrupt('record failed authentication', start)
      }
      applyRecord(plain, live, () => corrupt('bad record contents', start))
      plain.fill(0)
      off += 4 + len
      seq++
    }
    const fd = openSync(path, constants.O_RDWR | constants.O_APPEND | constants.O_NOFOLLOW)
    if (truncatedTail) {
      ftruncateSync(fd, off)
      fsyncSync(fd)
    }
    const store = new KeyStore(path, key, storeId, fd, seq)
    store.#live = live.size
    const entries = [...live.values()]
    if (store.#records > 2 * store.#live + 64) store.compact(entries)
    return { store, entries, truncatedTail }
  }

  /** Number of records in the journal (adds and removes). */
  get records(): number {
    return this.#records
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
    this.#live += entries.length
  }

  appendRemove(ref: KeyRef): void {
    this.#write(this.#encrypt(encodePlain(OP_REMOVE, ref, undefined)))
    this.#live = Math.max(0, this.#live - 1)
  }

  /** Rewrite the journal with only the live entries (atomic replace). */
  compact(entries: readonly CachedKey[]): void {
    const parts: Buffer[] = [MAGIC, this.#storeId]
    this.#seq = 0n
    for (const e of entries) {
      const plain = e.key.use((k) => encodePlain(OP_ADD, e, k))
      parts.push(this.#encrypt(plain))
      plain.fill(0)
    }
    closeSync(this.#fd)
    writeFileAtomic(this.#path, Buffer.concat(parts))
    this.#fd = openSync(this.#path, constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW)
    this.#records = entries.length
    this.#live = entries.length
  }

  /** Close the journal and zero the store key. */
  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd)
    this.#fd = -1
    this.#key.dispose()
  }

  #encrypt(plain: Buffer): Buffer {
    const nonce = randomBytes(12)
    const out = this.#key.use((k) => {
      const c = createCipheriv('aes-256-gcm', k, nonce)
      c.setAAD(aad(this.#storeId, this.#seq))
      const ct = Buffer.concat([c.update(plain), c.final()])
      const len = Buffer.alloc(4)
      len.writeUInt32BE(12 + ct.length + 16)
      return Buffer.concat([len, nonce, ct, c.getAuthTag()])
    })
    this.#seq++
    this.#records++
    return out
  }

  #write(buf: Buffer): void {
    if (this.#fd < 0) throw new HostError('ERR_HOST_KEYSTORE_CLOSED', 'the key store is closed')
    const before = fstatSync(this.#fd).size
    let off = 0
    while (off < buf.length) off += writeSync(this.#fd, buf, off, buf.length - off)
    fsyncSync(this.#fd)
    if (before === HEADER) fsyncDir(dirname(this.#path))
  }
}

function aad(storeId: Buffer, seq: bigint): Buffer {
  const b = Buffer.alloc(24)
  storeId.copy(b, 0)
  b.writeBigUInt64BE(seq, 16)
  return b
}

function decryptRecord(key: Secret, storeId: Buffer, seq: bigint, rec: Buffer): Buffer {
  const nonce = rec.subarray(0, 12)
  const tag = rec.subarray(rec.length - 16)
  return key.use((k) => {
    const d = createDecipheriv('aes-256-gcm', k, nonce)
    d.setAAD(aad(storeId, seq))
    d.setAuthTag(tag)
    return Buffer.concat([d.update(rec.subarray(12, rec.length - 16)), d.final()])
  })
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

function applyRecord(plain: Buffer, live: Map<string, CachedKey>, bad: () => HostError): void {
  let o = 0
  const take = (n: number): Buffer => {
    if (o + n > plain.length) throw bad()
    const s = plain.subarray(o, o + n)
    o += n
    return s
  }
  const u16 = (): number => take(2).readUInt16BE(0)
  const op = take(1)[0]
  const providerId = take(u16()).toString('utf8')
  const kekId = take(u16()).toString('utf8')
  const id = `${providerId}\u0000${kekId}`
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
}
