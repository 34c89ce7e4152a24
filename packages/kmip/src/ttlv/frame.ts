import { KmipError } from '../errors.js'
import { defaultLimits } from './item.js'

/**
 * Total byte length (header included) of the message whose first 8 bytes are `header`
 * (KMIP 1.4 §9.1: a message is one Structure item). Checks the length against `maxMessageBytes`
 * BEFORE anything is buffered, so a 100 MiB length prefix costs nothing.
 */
export function frameLength(
  header: Uint8Array,
  maxMessageBytes: number = defaultLimits.maxMessageBytes,
): number {
  if (header.length < 8)
    throw new KmipError('ERR_TTLV_TRUNCATED', 'need 8 bytes of message header', { offset: 0 })
  if (header[3] !== 0x01) {
    throw new KmipError('ERR_TTLV_TYPE', 'a KMIP message must be a Structure', { offset: 3 })
  }
  const len = ((header[4]! << 24) >>> 0) + (header[5]! << 16) + (header[6]! << 8) + header[7]!
  const total = 8 + len
  if (total > maxMessageBytes) {
    throw new KmipError(
      'ERR_TTLV_TOO_LARGE',
      `message of ${total} bytes exceeds ${maxMessageBytes}`,
      { offset: 4 },
    )
  }
  if (len % 8 !== 0)
    throw new KmipError('ERR_TTLV_LENGTH', 'Structure length is not a multiple of 8', { offset: 4 })
  return total
}

/**
 * Splits a byte stream into complete TTLV messages. `push` returns every message completed by the
 * chunk; it throws (and the caller must drop the connection) on an oversized or non-Structure
 * header. Memory held is bounded by one message plus one chunk.
 */
export class FrameReader {
  readonly #max: number
  #chunks: Uint8Array[] = []
  #buffered = 0
  #need = 0 // total length of the current message, 0 = unknown yet

  constructor(maxMessageBytes: number = defaultLimits.maxMessageBytes) {
    this.#max = maxMessageBytes
  }

  /** Bytes currently buffered (an incomplete message). */
  get buffered(): number {
    return this.#buffered
  }

  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = []
    let rest = chunk
    while (rest.length > 0) {
      if (this.#need === 0) {
        const want = 8 - this.#buffered
        const take = rest.subarray(0, want)
        this.#chunks.push(take)
        this.#buffered += take.length
        rest = rest.subarray(take.length)
        if (this.#buffered < 8) break
        this.#need = frameLength(this.#concat(), this.#max)
        continue
      }
      const take = rest.subarray(0, this.#need - this.#buffered)
      this.#chunks.push(take)
      this.#buffered += take.length
      rest = rest.subarray(take.length)
      if (this.#buffered === this.#need) {
        out.push(this.#concat())
        this.#chunks = []
        this.#buffered = 0
        this.#need = 0
      }
    }
    return out
  }

  #concat(): Uint8Array {
    if (this.#chunks.length === 1) {
      const only = this.#chunks[0]!
      // copy so the caller's chunk buffer can be reused
      this.#chunks = [only.slice()]
      return this.#chunks[0]!
    }
    const all = new Uint8Array(this.#buffered)
    let p = 0
    for (const c of this.#chunks) {
      all.set(c, p)
      p += c.length
    }
    this.#chunks = [all]
    return all
  }
}
