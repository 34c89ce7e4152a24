import { open, type FileHandle } from 'node:fs/promises'
import { EnvelopeError } from '../errors.js'
import { chunkAad, encodeVmId, openChunk } from './chunk.js'
import { parseVmFileHeader, unwrapVmFileDek, type VmFileHeaderValue } from './header.js'
import { VMFILE_MAX_HEADER, VMFILE_TAG, type VmFileRole } from './layout.js'
import { ioError } from './io.js'

export interface VmFileOpenOptions {
  readonly vmId: string
  readonly role: VmFileRole
}

/** Chunk geometry of a VM file body, from the header's chunk size and the file size. */
export interface VmFileGeometry {
  readonly headerLength: number
  readonly chunkCount: number
  /** Plaintext size. */
  readonly size: number
  readonly lastChunkLength: number
}

/** Compute chunk count and plaintext size; a body that cannot be whole chunks is truncated. */
export function vmFileGeometry(
  headerLength: number,
  chunkSize: number,
  fileSize: number,
): VmFileGeometry {
  const body = fileSize - headerLength
  const stored = chunkSize + VMFILE_TAG
  if (body < VMFILE_TAG)
    throw new EnvelopeError(
      'ERR_VMFILE_TRUNCATED',
      'the file has no final chunk: it was truncated; restore it from a backup',
    )
  const chunkCount = Math.ceil(body / stored)
  const lastStored = body - (chunkCount - 1) * stored
  if (lastStored < VMFILE_TAG || (chunkCount > 1 && lastStored === VMFILE_TAG))
    throw new EnvelopeError(
      'ERR_VMFILE_TRUNCATED',
      'the file ends inside a chunk: it was truncated; restore it from a backup',
    )
  const lastChunkLength = lastStored - VMFILE_TAG
  return {
    headerLength,
    chunkCount,
    size: (chunkCount - 1) * chunkSize + lastChunkLength,
    lastChunkLength,
  }
}

/** Random-access reader over an encrypted VM file. Close it to zero the key. */
export interface VmFileReader {
  readonly header: Readonly<VmFileHeaderValue>
  readonly geometry: VmFileGeometry
  /** Plaintext size in bytes. */
  readonly size: number
  /** Decrypt and authenticate chunk `index` (reads only that chunk). */
  readChunk(index: number): Promise<Uint8Array>
  /** Decrypt `count` consecutive chunks from `first` with one read. */
  readChunks(first: number, count: number): Promise<Uint8Array[]>
  /** Decrypt `length` plaintext bytes from `offset`, reading only the chunks that cover them. */
  readRange(offset: number, length: number): Promise<Uint8Array>
  close(): Promise<void>
}

/**
 * Open a VM file for random access. Checks the role, unwraps the DEK and authenticates the first
 * and last chunks now, so a wrong VM id or role, wrong KEK or truncation fails here.
 */
export async function openVmFile(
  path: string,
  kek: Uint8Array,
  options: VmFileOpenOptions,
): Promise<VmFileReader> {
  encodeVmId(options.vmId)
  let fh: FileHandle
  try {
    fh = await open(path, 'r')
  } catch (e) {
    throw ioError('open', path, e)
  }
  try {
    return await makeReader(fh, path, kek, options)
  } catch (e) {
    await fh.close().catch(() => undefined)
    throw e
  }
}

async function readAt(fh: FileHandle, path: string, pos: number, len: number): Promise<Uint8Array> {
  const buf = new Uint8Array(len)
  let off = 0
  try {
    while (off < len) {
      const { bytesRead } = await fh.read(buf, off, len - off, pos + off)
      if (bytesRead === 0) break
      off += bytesRead
    }
  } catch (e) {
    throw ioError('read', path, e)
  }
  if (off !== len)
    throw new EnvelopeError('ERR_VMFILE_TRUNCATED', `${path}: the file shrank while reading`)
  return buf
}

async function makeReader(
  fh: FileHandle,
  path: string,
  kek: Uint8Array,
  options: VmFileOpenOptions,
): Promise<VmFileReader> {
  let fileSize: number
  try {
    fileSize = (await fh.stat()).size
  } catch (e) {
    throw ioError('stat', path, e)
  }
  const head = await readAt(fh, path, 0, Math.min(fileSize, VMFILE_MAX_HEADER))
  const parsed = parseVmFileHeader(head)
  const { header } = parsed
  if (header.role !== options.role)
    throw new EnvelopeError(
      'ERR_VMFILE_ROLE_MISMATCH',
      `the file is a ${header.role} file, not ${options.role}: open it with role ${header.role}, or check where it came from`,
    )
  const geometry = vmFileGeometry(parsed.bytes.length, header.chunkSize, fileSize)
  const dek = unwrapVmFileDek(header, kek)
  const aad = chunkAad(parsed.bytes, options.vmId)
  const stored = header.chunkSize + VMFILE_TAG
  let closed = false

  const readChunk = async (index: number): Promise<Uint8Array> => {
    if (closed) throw new EnvelopeError('ERR_VMFILE_PARAMS', 'reader is closed')
    if (!Number.isInteger(index) || index < 0 || index >= geometry.chunkCount)
      throw new EnvelopeError(
        'ERR_VMFILE_RANGE',
        `chunk ${index} outside 0..${geometry.chunkCount - 1}`,
      )
    const last = index === geometry.chunkCount - 1
    const len = last ? geometry.lastChunkLength + VMFILE_TAG : stored
    const sealed = await readAt(fh, path, geometry.headerLength + index * stored, len)
    return openChunk(dek, header.noncePrefix, aad, index, last, sealed)
  }

  const readChunks = async (first: number, count: number): Promise<Uint8Array[]> => {
    if (closed) throw new EnvelopeError('ERR_VMFILE_PARAMS', 'reader is closed')
    if (
      !Number.isInteger(first) ||
      !Number.isInteger(count) ||
      first < 0 ||
      count < 1 ||
      first + count > geometry.chunkCount
    )
      throw new EnvelopeError(
        'ERR_VMFILE_RANGE',
        `chunks ${first}+${count} outside 0..${geometry.chunkCount - 1}`,
      )
    const end = first + count
    const lastIncluded = end === geometry.chunkCount
    const len =
      (count - 1) * stored + (lastIncluded ? geometry.lastChunkLength + VMFILE_TAG : stored)
    const raw = await readAt(fh, path, geometry.headerLength + first * stored, len)
    const out: Uint8Array[] = []
    for (let i = first; i < end; i++) {
      const off = (i - first) * stored
      const last = i === geometry.chunkCount - 1
      out.push(
        openChunk(
          dek,
          header.noncePrefix,
          aad,
          i,
          last,
          raw.subarray(off, Math.min(off + stored, raw.length)),
        ),
      )
    }
    return out
  }

  const reader: VmFileReader = {
    header,
    geometry,
    size: geometry.size,
    readChunk,
    readChunks,
    async readRange(offset, length) {
      if (
        !Number.isSafeInteger(offset) ||
        !Number.isSafeInteger(length) ||
        offset < 0 ||
        length < 0 ||
        offset + length > geometry.size
      )
        throw new EnvelopeError(
          'ERR_VMFILE_RANGE',
          `range ${offset}+${length} outside the file's ${geometry.size} bytes`,
        )
      const out = new Uint8Array(length)
      let done = 0
      while (done < length) {
        const pos = offset + done
        const index = Math.floor(pos / header.chunkSize)
        const within = pos - index * header.chunkSize
        const chunk = await readChunk(index)
        const n = Math.min(chunk.length - within, length - done)
        out.set(chunk.subarray(within, within + n), done)
        chunk.fill(0)
        done += n
      }
      return out
    },
    async close() {
      if (closed) return
      closed = true
      dek.fill(0)
      await fh.close()
    },
  }
  try {
    // Authenticate the ends now: chunk 0 proves header, VM id and role; the last chunk proves length.
    ;(await readChunk(0)).fill(0)
    if (geometry.chunkCount > 1) (await readChunk(geometry.chunkCount - 1)).fill(0)
  } catch (e) {
    dek.fill(0)
    closed = true
    throw e
  }
  return reader
}
