import { concatBytes } from '../binary/layout.js'
import { EnvelopeError } from '../errors.js'
import { chunkAad, encodeVmId, sealChunk, VMFILE_MAX_CHUNKS } from './chunk.js'
import { newVmFileHeader } from './header.js'
import { VM_FILE_ROLES, VMFILE_DEFAULT_CHUNK, type VmFileRole } from './layout.js'

export interface VmFileSealOptions {
  readonly vmId: string
  readonly role: VmFileRole
  readonly providerId: string
  readonly kekId: string
  /** Plaintext bytes per chunk; default 64 KiB. */
  readonly chunkSize?: number
}

/**
 * Incremental VM file encryption with bounded memory (one chunk buffered): `header` first, then
 * whatever `update` returns, then `final()`. Used by {@link encryptVmFile}; usable on any stream.
 */
export class VmFileSealer {
  /** The encoded header: write it first. */
  readonly header: Uint8Array
  readonly chunkSize: number
  #dek: Uint8Array
  readonly #prefix: Uint8Array
  readonly #aad: Uint8Array
  #buf: Uint8Array
  #fill = 0
  #index = 0
  #done = false

  constructor(options: VmFileSealOptions, kek: Uint8Array) {
    if (!VM_FILE_ROLES.includes(options.role))
      throw new EnvelopeError(
        'ERR_VMFILE_PARAMS',
        `role must be one of ${VM_FILE_ROLES.join(', ')}`,
      )
    encodeVmId(options.vmId)
    const { parsed, dek } = newVmFileHeader(
      {
        role: options.role,
        chunkSize: options.chunkSize ?? VMFILE_DEFAULT_CHUNK,
        providerId: options.providerId,
        kekId: options.kekId,
      },
      kek,
    )
    this.header = parsed.bytes
    this.chunkSize = parsed.header.chunkSize
    this.#dek = dek
    this.#prefix = parsed.header.noncePrefix
    this.#aad = chunkAad(parsed.bytes, options.vmId)
    this.#buf = new Uint8Array(this.chunkSize)
  }

  /**
   * Add plaintext; returns the output completed so far (possibly nothing), as pieces to write in
   * order (each sealed chunk is a ciphertext piece and a tag piece).
   */
  update(data: Uint8Array): Uint8Array[] {
    if (this.#done) throw new EnvelopeError('ERR_VMFILE_PARAMS', 'sealer already finished')
    const out: Uint8Array[] = []
    let off = 0
    while (off < data.length) {
      // A full buffer is sealed only once more data arrives: only then do we know it is not last.
      if (this.#fill === this.chunkSize) {
        out.push(...this.#seal(this.#buf, false))
        this.#fill = 0
      }
      // Fast path: whole chunks followed by more data are sealed straight from the input.
      if (this.#fill === 0 && data.length - off > this.chunkSize) {
        out.push(...this.#seal(data.subarray(off, off + this.chunkSize), false))
        off += this.chunkSize
        continue
      }
      const n = Math.min(this.chunkSize - this.#fill, data.length - off)
      this.#buf.set(data.subarray(off, off + n), this.#fill)
      this.#fill += n
      off += n
    }
    return out
  }

  /** Seal the last chunk (empty only for an empty file) and zero the key. */
  final(): Uint8Array {
    if (this.#done) throw new EnvelopeError('ERR_VMFILE_PARAMS', 'sealer already finished')
    try {
      return concatBytes(this.#seal(this.#buf.subarray(0, this.#fill), true))
    } finally {
      this.dispose()
    }
  }

  /** Zero the key and buffer (also on failure paths). */
  dispose(): void {
    this.#done = true
    this.#dek.fill(0)
    this.#buf.fill(0)
  }

  #seal(plaintext: Uint8Array, last: boolean): [Uint8Array, Uint8Array] {
    if (this.#index > VMFILE_MAX_CHUNKS)
      throw new EnvelopeError('ERR_VMFILE_PARAMS', 'file too large for its chunk size')
    const sealed = sealChunk(this.#dek, this.#prefix, this.#aad, this.#index, last, plaintext)
    this.#index++
    return sealed
  }
}
