import type { KeyObject } from 'node:crypto'
import { close, constants, fdatasync, fstat, open, type Stats } from 'node:fs'
import {
  diskDataArea,
  mapInputFile,
  refuseJournaled,
  sectorWriter,
  xtsReadSectorsAsync,
  xtsSectorsFromMappedAsync,
  type MappedInput,
  type SectorWriter,
} from '@ward/envelope'
import { NBD_ERR, NbdError, type NbdBackend } from '@ward/nbd'
import { HostError } from '../errors.js'
import { SectorLocks } from './sector-locks.js'

/*
 * The crypto filter's data path: a LUKS2 volume (aes-xts-plain64, as @ward/envelope writes it)
 * seen as its plaintext, for @ward/nbd's server. Every request is turned into whole sectors:
 * reads decrypt them, writes encrypt them (in the request's own buffer: no copy), a write that
 * does not cover whole sectors reads, decrypts and merges its edge sectors first (under a lock on
 * those sectors). Zeroes (WRITE_ZEROES, TRIM) are written encrypted: a hole or a run of zero
 * bytes in the file would decrypt to noise for any LUKS reader. FLUSH is an fdatasync of the
 * file. The volume key lives in one private buffer, zeroed at close.
 */

/** What reached the file (tests and the benchmark read them; never data). */
export interface EncryptedDiskStats {
  reads: number
  writes: number
  /** Writes that were not whole sectors (read-modify-write of their edge sectors). */
  partialWrites: number
  /** Reads that were not whole sectors (decrypted through a bounce buffer). */
  partialReads: number
  flushes: number
  /** fdatasync calls (FLUSH, and FUA writes/trims/zeroes). */
  syncs: number
  trims: number
  zeroes: number
  bytesRead: number
  bytesWritten: number
  /** Milliseconds requests spent in the filter, summed (overlapping requests count each). */
  serviceMs: number
}

export interface EncryptedDiskOptions {
  /** The volume key (DEK, 64 bytes). Copied; the caller may zero its own copy at once. */
  readonly volumeKey: KeyObject | Uint8Array
  /** Open the file read-only and refuse writes. */
  readonly readOnly?: boolean
  /**
   * Decrypt reads straight from a shared read-only mapping of the file into the reply buffer
   * (one pass, no read() copy; native addon only). The file must not be truncated while served
   * (a read past a cut-off end would fault the process). Default false.
   */
  readonly mapReads?: boolean
}

/** An open encrypted disk as an NBD backend. */
export interface EncryptedDisk extends NbdBackend {
  readonly path: string
  /** Plaintext bytes (the LUKS2 data segment). */
  readonly size: number
  readonly sectorSize: number
  /** File offset of the data segment. */
  readonly dataOffset: number
  readonly stats: EncryptedDiskStats
  read(offset: number, length: number): Promise<Buffer>
  /** Writes encrypted zeros (a discarded range reads as zeros). */
  trim(offset: number, length: number, opts: { readonly fua: boolean }): Promise<void>
  writeZeroes(
    offset: number,
    length: number,
    opts: { readonly fua: boolean; readonly noHole: boolean },
  ): Promise<void>
  /** Waits for the operations in progress, closes the file and zeroes the key. Idempotent. */
  close(): Promise<void>
}

type Kind = 'read' | 'write' | 'flush' | 'trim' | 'zeroes'

/** The reply to a range past the end, as the NBD core gives it ("Error values" in the spec). */
const RANGE_ERRNO: Readonly<Record<Kind, number>> = {
  read: NBD_ERR.EINVAL,
  trim: NBD_ERR.EINVAL,
  flush: NBD_ERR.EINVAL,
  write: NBD_ERR.ENOSPC,
  zeroes: NBD_ERR.ENOSPC,
}

/** Bytes of zeros encrypted per write by WRITE_ZEROES and TRIM. */
const ZERO_CHUNK = 1024 * 1024

const p = <T>(fn: (cb: (e: NodeJS.ErrnoException | null, v: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((e, v) => (e ? reject(e) : resolve(v))))

/** A private copy of the volume key (never a slice of Node's shared allocation pool). */
function copyKey(k: KeyObject | Uint8Array): Buffer {
  let src: Uint8Array
  let exported: Buffer | undefined
  if (k instanceof Uint8Array) src = k
  else {
    if (k.type !== 'secret')
      throw new HostError('ERR_HOST_FILTER_KEY', 'the volume key must be a secret KeyObject')
    src = exported = k.export()
  }
  try {
    if (src.length !== 64)
      throw new HostError(
        'ERR_HOST_FILTER_KEY',
        `the volume key must be 64 bytes (aes-xts-plain64, 512-bit), not ${src.length}`,
      )
    const key = Buffer.alloc(64)
    key.set(src)
    return key
  } finally {
    exported?.fill(0)
  }
}

/**
 * Open the LUKS2 disk at `path` for serving its plaintext. The volume key is checked against the
 * header's digest (ERR_LUKS2_DIGEST: another disk's key); a disk with an unfinished in-place
 * operation, a second segment or another cipher is refused with the envelope's codes.
 */
export async function openEncryptedDisk(
  path: string,
  o: EncryptedDiskOptions,
): Promise<EncryptedDisk> {
  const key = copyKey(o.volumeKey)
  let fd: number | undefined
  let map: MappedInput | undefined
  try {
    refuseJournaled(path)
    const readOnly = o.readOnly ?? false
    fd = await p<number>((cb) =>
      open(path, (readOnly ? constants.O_RDONLY : constants.O_RDWR) | constants.O_NOFOLLOW, cb),
    )
    const fdNow = fd
    const st = await p<Stats>((cb) => fstat(fdNow, cb))
    if (!st.isFile())
      throw new HostError('ERR_HOST_FILTER_DISK', `${path} is not a regular file`, { path })
    const area = diskDataArea(fd, key)
    if (o.mapReads === true) {
      map = mapInputFile(fd, area.offset + area.size)
      if (map === undefined)
        throw new HostError(
          'ERR_HOST_FILTER_DISK',
          `${path} cannot be mapped (mapped reads need the envelope's native addon); open it without mapReads`,
          { path },
        )
    }
    return new Disk(path, fd, key, area, readOnly, map)
  } catch (e) {
    key.fill(0)
    map?.close()
    if (fd !== undefined) close(fd, () => undefined)
    throw e
  }
}

class Disk implements EncryptedDisk {
  readonly path: string
  readonly size: number
  readonly sectorSize: number
  readonly dataOffset: number
  readonly readOnly: boolean
  /** One descriptor, no cache of ours: every connection sees every completed write. */
  readonly sharedCache = true
  readonly stats: EncryptedDiskStats = {
    reads: 0,
    writes: 0,
    partialWrites: 0,
    partialReads: 0,
    flushes: 0,
    syncs: 0,
    trims: 0,
    zeroes: 0,
    bytesRead: 0,
    bytesWritten: 0,
    serviceMs: 0,
  }
  readonly #fd: number
  readonly #key: Buffer
  readonly #firstSector: number
  readonly #map: MappedInput | undefined
  readonly #locks = new SectorLocks()
  /** Gathers the writes of one event-loop turn into one pool job (the envelope's io.ts). */
  readonly #writer: SectorWriter
  #active = 0
  #drained: (() => void) | undefined
  #closing: Promise<void> | undefined

  constructor(
    path: string,
    fd: number,
    key: Buffer,
    area: { offset: number; size: number; sectorSize: number; firstSector: number },
    readOnly: boolean,
    map: MappedInput | undefined,
  ) {
    this.path = path
    this.#fd = fd
    this.#key = key
    this.size = area.size
    this.sectorSize = area.sectorSize
    this.dataOffset = area.offset
    this.#firstSector = area.firstSector
    this.readOnly = readOnly
    this.#map = map
    this.#writer = sectorWriter({ fd, key, sectorSize: area.sectorSize })
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const b = Buffer.allocUnsafe(length)
    await this.readInto(offset, b)
    return b
  }

  readInto(offset: number, target: Uint8Array): Promise<void> {
    return this.#op(offset, target.length, 'read', () => {
      this.stats.reads++
      const ss = this.sectorSize
      const start = offset - (offset % ss)
      const end = roundUp(offset + target.length, ss)
      if (start === offset && end === offset + target.length)
        // the common case, whole sectors: the pool job's promise and one turn for the stats
        return this.#readSectors(start, target).then(() => {
          this.stats.bytesRead += target.length
        })
      return this.#readPartial(offset, target, start, end)
    })
  }

  /** A read that is not whole sectors: through a bounce buffer (zeroed after). */
  async #readPartial(offset: number, target: Uint8Array, start: number, end: number) {
    this.stats.partialReads++
    const bounce = Buffer.allocUnsafeSlow(end - start)
    try {
      await this.#readSectors(start, bounce)
      target.set(bounce.subarray(offset - start, offset - start + target.length))
    } finally {
      bounce.fill(0)
    }
    this.stats.bytesRead += target.length
  }

  write(offset: number, data: Uint8Array, opts: { readonly fua: boolean }): Promise<void> {
    return this.#op(offset, data.length, 'write', () => {
      this.stats.writes++
      const ss = this.sectorSize
      if (!opts.fua && data.length > 0 && offset % ss === 0 && data.length % ss === 0)
        // the common case, whole sectors: the pool job's promise and one turn for the stats
        return this.#writeSectors(offset, data).then(() => {
          this.stats.bytesWritten += data.length
        })
      return this.#writeThenSync(offset, data, opts.fua)
    })
  }

  async #writeThenSync(offset: number, data: Uint8Array, fua: boolean): Promise<void> {
    await this.#write(offset, data)
    if (fua) await this.#sync()
  }

  flush(): Promise<void> {
    return this.#op(0, 0, 'flush', async () => {
      this.stats.flushes++
      await this.#sync()
    })
  }

  trim(offset: number, length: number, opts: { readonly fua: boolean }): Promise<void> {
    return this.#op(offset, length, 'trim', async () => {
      this.stats.trims++
      await this.#zero(offset, length)
      if (opts.fua) await this.#sync()
    })
  }

  writeZeroes(
    offset: number,
    length: number,
    opts: { readonly fua: boolean; readonly noHole: boolean },
  ): Promise<void> {
    return this.#op(offset, length, 'zeroes', async () => {
      this.stats.zeroes++
      await this.#zero(offset, length)
      if (opts.fua) await this.#sync()
    })
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#active > 0) await new Promise<void>((r) => (this.#drained = r))
      this.#map?.close()
      this.#key.fill(0)
      await p<undefined>((cb) => close(this.#fd, (e) => cb(e, undefined)))
    })()
    return this.#closing
  }

  /**
   * Runs one operation after checking its range (the NBD core checks too; this backend must be
   * safe on its own) and that the disk is open; close() waits for it, so the descriptor is never
   * used after it was closed (and perhaps reused by another file).
   */
  #op(offset: number, length: number, kind: Kind, fn: () => Promise<void>): Promise<void> {
    try {
      this.#check(offset, length, kind)
    } catch (e) {
      return Promise.reject(e as Error)
    }
    this.#active++
    const t0 = performance.now()
    let work: Promise<void>
    try {
      work = fn()
    } catch (e) {
      work = Promise.reject(e as Error)
    }
    const done = (): void => {
      this.stats.serviceMs += performance.now() - t0
      if (--this.#active === 0) this.#drained?.()
    }
    return work.then(done, (e: unknown) => {
      done()
      throw e
    })
  }

  #check(offset: number, length: number, kind: Kind): void {
    if (this.#closing !== undefined)
      throw new NbdError('ERR_NBD_SHUTDOWN', 'the encrypted disk is closed', {
        errno: NBD_ERR.ESHUTDOWN,
      })
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > this.size
    )
      throw new NbdError('ERR_NBD_ARG', 'request outside the encrypted disk', {
        errno: RANGE_ERRNO[kind],
        details: { offset, length, size: this.size },
      })
    if (kind !== 'read' && kind !== 'flush' && this.readOnly)
      throw new NbdError('ERR_NBD_ARG', 'the encrypted disk is read-only', {
        errno: NBD_ERR.EPERM,
      })
  }

  /** Reads and decrypts whole sectors at plaintext offset `at` (sector-aligned) into `buf`. */
  #readSectors(at: number, buf: Uint8Array): Promise<void> {
    const sector = this.#firstSector + at / this.sectorSize
    if (this.#map !== undefined)
      return xtsSectorsFromMappedAsync({
        direction: 'decrypt',
        key: this.#key,
        src: this.#map,
        srcOffset: this.dataOffset + at,
        dst: buf,
        firstSector: sector,
        sectorSize: this.sectorSize,
      })
    // one pool job: pread, then decrypt in place (a file cut short: ERR_XTS_INPUT_SHORT, EIO)
    return xtsReadSectorsAsync({
      fd: this.#fd,
      position: this.dataOffset + at,
      key: this.#key,
      data: buf,
      firstSector: sector,
      sectorSize: this.sectorSize,
    })
  }

  /** Encrypts whole sectors in `buf` in place and writes them at plaintext offset `at`. */
  #writeSectors(at: number, buf: Uint8Array): Promise<void> {
    // with the other writes of this event-loop turn, one pool job: encrypt in place, then pwrite
    return this.#writer.write(this.dataOffset + at, buf, this.#firstSector + at / this.sectorSize)
  }

  async #write(offset: number, data: Uint8Array): Promise<void> {
    const ss = this.sectorSize
    const start = offset - (offset % ss)
    const end = roundUp(offset + data.length, ss)
    if (data.length === 0) return
    if (start === offset && end === offset + data.length) {
      await this.#writeSectors(offset, data) // the payload buffer is ours until we return
      this.stats.bytesWritten += data.length
      return
    }
    // read-modify-write of the partial edge sectors, which are locked against other partial writes
    this.stats.partialWrites++
    const headPartial = offset !== start
    const tailPartial = offset + data.length !== end
    const edges: number[] = []
    if (headPartial) edges.push(start / ss)
    if (tailPartial) edges.push(end / ss - 1)
    const release = await this.#locks.lock(edges)
    const buf = Buffer.allocUnsafeSlow(end - start)
    try {
      if (headPartial) await this.#readSectors(start, buf.subarray(0, ss))
      if (tailPartial && (!headPartial || end - start > ss))
        await this.#readSectors(end - ss, buf.subarray(buf.length - ss))
      buf.set(data, offset - start)
      await this.#writeSectors(start, buf)
      this.stats.bytesWritten += data.length
    } finally {
      release()
      buf.fill(0)
    }
  }

  /** Writes encrypted zeros over [offset, offset + length). */
  async #zero(offset: number, length: number): Promise<void> {
    if (length === 0) return
    const ss = this.sectorSize
    const end = offset + length
    const midStart = roundUp(offset, ss)
    const midEnd = end - (end % ss)
    if (midStart >= midEnd) return this.#write(offset, Buffer.alloc(length))
    if (offset < midStart) await this.#write(offset, Buffer.alloc(midStart - offset))
    const chunk = Buffer.allocUnsafeSlow(Math.min(ZERO_CHUNK, midEnd - midStart))
    for (let at = midStart; at < midEnd;) {
      const n = Math.min(chunk.length, midEnd - at)
      const part = chunk.subarray(0, n)
      part.fill(0)
      await this.#writeSectors(at, part)
      at += n
    }
    this.stats.bytesWritten += midEnd - midStart
    if (midEnd < end) await this.#write(midEnd, Buffer.alloc(end - midEnd))
  }

  async #sync(): Promise<void> {
    this.stats.syncs++
    await p<undefined>((cb) => fdatasync(this.#fd, (e) => cb(e, undefined)))
  }
}

const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m
