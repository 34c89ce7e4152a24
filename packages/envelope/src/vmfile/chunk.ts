import { gcmOpen, gcmSealParts } from '../aead/gcm.js'
import { concatBytes } from '../binary/layout.js'
import { EnvelopeError } from '../errors.js'

/** Largest chunk index: the counter is 32 bits. */
export const VMFILE_MAX_CHUNKS = 0xffffffff

/**
 * Chunk nonce (Tink streaming AEAD / age STREAM shape): the file's 7-byte prefix, the chunk index
 * as a 32-bit big-endian counter, then 1 for the last chunk and 0 otherwise. The flag makes a
 * truncated file fail: its new last chunk was sealed as "not last".
 */
export function chunkNonce(prefix: Uint8Array, index: number, last: boolean): Uint8Array {
  if (!Number.isInteger(index) || index < 0 || index > VMFILE_MAX_CHUNKS)
    throw new EnvelopeError('ERR_VMFILE_RANGE', `chunk index ${index} out of range`)
  const n = new Uint8Array(12)
  n.set(prefix, 0)
  new DataView(n.buffer).setUint32(7, index)
  n[11] = last ? 1 : 0
  return n
}

/** Associated data of every chunk: the encoded header, then the VM id (u16 BE length + UTF-8). */
export function chunkAad(header: Uint8Array, vmId: string): Uint8Array {
  const id = encodeVmId(vmId)
  const len = new Uint8Array(2)
  new DataView(len.buffer).setUint16(0, id.length)
  return concatBytes([header, len, id])
}

/** VM ids are 1..255 UTF-8 bytes. */
export function encodeVmId(vmId: string): Uint8Array {
  const id = typeof vmId === 'string' ? new TextEncoder().encode(vmId) : new Uint8Array(0)
  if (id.length < 1 || id.length > 255)
    throw new EnvelopeError('ERR_VMFILE_PARAMS', 'the VM id must be 1..255 UTF-8 bytes')
  return id
}

export function sealChunk(
  dek: Uint8Array,
  prefix: Uint8Array,
  aad: Uint8Array,
  index: number,
  last: boolean,
  plaintext: Uint8Array,
): [ciphertext: Uint8Array, tag: Uint8Array] {
  return gcmSealParts(dek, chunkNonce(prefix, index, last), plaintext, aad)
}

export function openChunk(
  dek: Uint8Array,
  prefix: Uint8Array,
  aad: Uint8Array,
  index: number,
  last: boolean,
  sealed: Uint8Array,
): Uint8Array {
  try {
    return gcmOpen(dek, chunkNonce(prefix, index, last), sealed, aad)
  } catch (e) {
    throw new EnvelopeError(
      'ERR_VMFILE_AUTH',
      `chunk ${index} failed authentication: the file belongs to another VM id or role, or was modified, reordered or truncated (check the VM id and role; otherwise restore the file from a backup)`,
      { cause: e },
    )
  }
}
