import { concatBytes } from '../binary/layout.js'
import { EnvelopeError } from '../errors.js'
import { chunkAad, encodeVmId, openChunk } from './chunk.js'
import { parseVmFileHeader, unwrapVmFileDek, type VmFileHeaderValue } from './header.js'
import { VMFILE_MAX_HEADER, VMFILE_TAG } from './layout.js'
import type { VmFileOpenOptions } from './reader.js'

/**
 * Incremental VM file decryption for non-seekable input (pipes, sockets), with bounded memory.
 * Each chunk is authenticated before its plaintext is returned, but truncation is only known at
 * `final()`: treat the output as incomplete until `final()` returns.
 */
export class VmFileOpener {
  #kek: Uint8Array
  readonly #options: VmFileOpenOptions
  /** Input not yet consumed, kept as pieces and joined only when a chunk can be opened. */
  #parts: Uint8Array[] = []
  #length = 0
  #state:
    | { kind: 'header' }
    | {
        kind: 'body'
        header: VmFileHeaderValue
        dek: Uint8Array
        aad: Uint8Array
        stored: number
        index: number
      }
    | { kind: 'done' } = { kind: 'header' }

  constructor(kek: Uint8Array, options: VmFileOpenOptions) {
    encodeVmId(options.vmId)
    this.#kek = kek.slice()
    this.#options = options
  }

  /** The header, once enough bytes arrived to decode it. */
  get header(): Readonly<VmFileHeaderValue> | undefined {
    return this.#state.kind === 'body' ? this.#state.header : undefined
  }

  /** Add ciphertext; returns the plaintext of the chunks authenticated so far. */
  update(data: Uint8Array): Uint8Array[] {
    if (this.#state.kind === 'done')
      throw new EnvelopeError('ERR_VMFILE_PARAMS', 'opener already finished')
    this.#parts.push(data.slice())
    this.#length += data.length
    try {
      if (this.#state.kind === 'header' && this.#length >= VMFILE_MAX_HEADER) this.#start()
      return this.#drain(false)
    } catch (e) {
      this.dispose()
      throw e
    }
  }

  /** End of input: authenticates the last chunk (so truncation fails here) and zeroes the key. */
  final(): Uint8Array[] {
    if (this.#state.kind === 'done')
      throw new EnvelopeError('ERR_VMFILE_PARAMS', 'opener already finished')
    try {
      if (this.#state.kind === 'header') this.#start()
      return this.#drain(true)
    } finally {
      this.dispose()
    }
  }

  /** Zero the keys (also on failure paths). */
  dispose(): void {
    if (this.#state.kind === 'body') this.#state.dek.fill(0)
    this.#kek.fill(0)
    this.#state = { kind: 'done' }
  }

  /** Join the pending pieces into one array (amortised: each join consumes a chunk or the header). */
  #joined(): Uint8Array {
    const all = this.#parts.length === 1 ? this.#parts[0]! : concatBytes(this.#parts)
    this.#parts = [all]
    return all
  }

  #keep(rest: Uint8Array): void {
    this.#parts = rest.length > 0 ? [rest] : []
    this.#length = rest.length
  }

  #start(): void {
    const pending = this.#joined()
    const { header, bytes } = parseVmFileHeader(pending)
    if (header.role !== this.#options.role)
      throw new EnvelopeError(
        'ERR_VMFILE_ROLE_MISMATCH',
        `the file is a ${header.role} file, not ${this.#options.role}: open it with role ${header.role}, or check where it came from`,
      )
    const dek = unwrapVmFileDek(header, this.#kek)
    this.#kek.fill(0)
    this.#state = {
      kind: 'body',
      header,
      dek,
      aad: chunkAad(bytes, this.#options.vmId),
      stored: header.chunkSize + VMFILE_TAG,
      index: 0,
    }
    this.#keep(pending.subarray(bytes.length))
  }

  #drain(end: boolean): Uint8Array[] {
    const s = this.#state
    if (s.kind !== 'body') return []
    const out: Uint8Array[] = []
    // Keep more than one stored chunk pending: a chunk is "not last" only if bytes follow it.
    if (this.#length > s.stored) {
      const pending = this.#joined()
      let off = 0
      while (pending.length - off > s.stored) {
        const sealed = pending.subarray(off, off + s.stored)
        out.push(openChunk(s.dek, s.header.noncePrefix, s.aad, s.index++, false, sealed))
        off += s.stored
      }
      this.#keep(pending.slice(off))
    }
    if (end) {
      const rest = this.#joined()
      if (rest.length < VMFILE_TAG || (s.index > 0 && rest.length === VMFILE_TAG))
        throw new EnvelopeError(
          'ERR_VMFILE_TRUNCATED',
          'the stream ended inside a chunk or without its final chunk: it was truncated; restore it from a backup',
        )
      out.push(openChunk(s.dek, s.header.noncePrefix, s.aad, s.index++, true, rest))
      this.#keep(new Uint8Array(0))
    }
    return out
  }
}
