import { open } from 'node:fs/promises'
import { EnvelopeError } from '../errors.js'
import { parseVmFileHeader } from './header.js'
import { VMFILE_MAX_HEADER, VmFileHeader, type VmFileRole } from './layout.js'
import { ioError } from './io.js'
import { vmFileGeometry } from './reader.js'

/** What a VM file says without its KEK: never key material. */
export interface VmFileDescription {
  readonly format: 'ward-vmfile'
  readonly version: number
  readonly cipher: 'aes-256-gcm'
  readonly chunkSize: number
  readonly role: VmFileRole
  readonly providerId: string
  readonly kekId: string
  readonly headerSize: number
  readonly fileSize: number
  /** Plaintext size and chunk count as implied by the file size; absent when truncated. */
  readonly plaintextSize?: number
  readonly chunkCount?: number
}

async function readHead(path: string): Promise<{ head: Uint8Array; fileSize: number }> {
  let fh
  try {
    fh = await open(path, 'r')
  } catch (e) {
    throw ioError('open', path, e)
  }
  try {
    const fileSize = (await fh.stat()).size
    const head = new Uint8Array(Math.min(fileSize, VMFILE_MAX_HEADER))
    const { bytesRead } = await fh.read(head, 0, head.length, 0)
    return { head: head.subarray(0, bytesRead), fileSize }
  } catch (e) {
    throw ioError('read', path, e)
  } finally {
    await fh.close()
  }
}

/** Describe a VM file from its header (format, cipher, chunk size, role, provider and KEK ids). */
export async function describeVmFile(path: string): Promise<VmFileDescription> {
  const { head, fileSize } = await readHead(path)
  const { header, bytes } = parseVmFileHeader(head)
  let sizes: { plaintextSize?: number; chunkCount?: number } = {}
  try {
    const g = vmFileGeometry(bytes.length, header.chunkSize, fileSize)
    sizes = { plaintextSize: g.size, chunkCount: g.chunkCount }
  } catch (e) {
    if (!(e instanceof EnvelopeError)) throw e
  }
  return {
    format: 'ward-vmfile',
    version: header.version,
    cipher: header.cipher,
    chunkSize: header.chunkSize,
    role: header.role,
    providerId: header.providerId,
    kekId: header.kekId,
    headerSize: bytes.length,
    fileSize,
    ...sizes,
  }
}

/** True when `path` starts with a well-formed Ward VM file header. I/O errors still throw. */
export async function isVmFile(path: string): Promise<boolean> {
  const { head } = await readHead(path)
  try {
    parseVmFileHeader(head)
    return true
  } catch (e) {
    // A newer version of the format is still a Ward VM file.
    if (e instanceof EnvelopeError) return e.code === 'ERR_VMFILE_VERSION'
    throw e
  }
}

/**
 * Does `path` start with the Ward VM file magic? True for a file whose header is cut short or
 * damaged: describe it to get the coded error instead of calling it "not a Ward VM file".
 */
export async function hasVmFileMagic(path: string): Promise<boolean> {
  const { head } = await readHead(path)
  const m = VmFileHeader.magic.value
  return head.length >= m.length && m.every((b, i) => head[i] === b)
}
