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

/** Hooks a server uses to bound what a connection may buffer (see {@link FrameReader}). */
export interface FrameReaderOptions {
  /**
   * Reads a frame's total length from its 8-byte header, before anything is buffered for it;
   * throwing refuses the frame (the caller drops the connection). Default: {@link frameLength}.
   */
  readonly length?: (header: Uint8Array) => number
  /**
   * Called once per frame with its total length, when its header is complete. Returning false
   * holds the frame: nothing more is consumed (the rest of the chunk stays buffered) until
   * {@link FrameReader.resume}. A server reserves the frame's bytes in a memory budget here.
   */
  readonly admit?: (total: number) => boolean
}

/**
 * Splits a byte stream into complete TTLV messages. `push` returns every message completed by the
 * chunk; it throws (and the caller must drop the connection) on an oversized or non-Structure
 * header. Memory held is bounded by one message plus one chunk.
 */
export class FrameReader {
  readonly #length: (header: Uint8Array) => number
  readonly #admit: ((total: number) => boolean) | undefined
  #chunks: Uint8Array[] = []
  #buffered = 0
  #need = 0 // total length of the current message, 0 = unknown yet
  /** Bytes not consumed yet: the rest of a chunk behind a held frame. */
  #rest: Uint8Array | undefined
  #held = false

  constructor(
    maxMessageBytes: number = defaultLimits.maxMessageBytes,
    options: FrameReaderOptions = {},
  ) {
    this.#length = options.length ?? ((h) => frameLength(h, maxMessageBytes))
    this.#admit = options.admit
  }

  /** Bytes currently buffered (an incomplete message, and what waits behind a held one). */
  get buffered(): number {
    return this.#buffered + (this.#rest?.length ?? 0)
  }

  /** Total length of the frame being read once its header is known, else undefined. */
  get pending(): number | undefined {
    return this.#need === 0 ? undefined : this.#need
  }

  /** Is a frame held by `admit` (nothing is consumed until {@link resume})? */
  get held(): boolean {
    return this.#held
  }

  push(chunk: Uint8Array): Uint8Array[] {
    if (this.#held) {
      // keep the order: behind what is held already
      this.#rest = this.#rest === undefined ? chunk : concat([this.#rest, chunk])
      return []
    }
    return this.#consume(chunk)
  }

  /** Continues after `admit` held a frame (the frame is now admitted). */
  resume(): Uint8Array[] {
    if (!this.#held) return []
    this.#held = false
    const rest = this.#rest ?? new Uint8Array(0)
    this.#rest = undefined
    return this.#consume(rest)
  }

  #consume(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = []
    let rest = chunk
    while (rest.length > 0 || (this.#need > 0 && this.#buffered === this.#need)) {
      if (this.#need === 0 && this.#buffered === 0 && rest.length >= 8) {
        // A whole header at the start of what is left (the usual case): read in place, and a
        // frame that the chunk holds whole is copied out at once, with no buffering.
        const need = this.#length(rest.subarray(0, 8))
        this.#need = need
        if (this.#admit !== undefined && !this.#admit(need)) {
          this.#chunks.push(rest.subarray(0, 8))
          this.#buffered = 8
          this.#held = true
          if (rest.length > 8) this.#rest = rest.subarray(8)
          break
        }
        if (rest.length >= need) {
          // a copy, so the caller's chunk buffer can be reused
          const msg = new Uint8Array(need)
          msg.set(rest.subarray(0, need))
          out.push(msg)
          this.#need = 0
          rest = rest.subarray(need)
          continue
        }
        // the frame goes on in a later chunk: its header is buffered, the rest read below
        this.#chunks.push(rest.subarray(0, 8))
        this.#buffered = 8
        rest = rest.subarray(8)
        continue
      }
      if (this.#need === 0) {
        const want = 8 - this.#buffered
        const take = rest.subarray(0, want)
        this.#chunks.push(take)
        this.#buffered += take.length
        rest = rest.subarray(take.length)
        if (this.#buffered < 8) break
        this.#need = this.#length(this.#concat())
        if (this.#admit !== undefined && !this.#admit(this.#need)) {
          this.#held = true
          if (rest.length > 0) this.#rest = rest
          break
        }
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

  /** Drops everything buffered (the connection is gone). */
  clear(): void {
    this.#chunks = []
    this.#buffered = 0
    this.#need = 0
    this.#rest = undefined
    this.#held = false
  }

  #concat(): Uint8Array {
    if (this.#chunks.length === 1) {
      const only = this.#chunks[0]!
      // copy so the caller's chunk buffer can be reused
      this.#chunks = [only.slice()]
      return this.#chunks[0]!
    }
    const all = concat(this.#chunks)
    this.#chunks = [all]
    return all
  }
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  let n = 0
  for (const c of chunks) n += c.length
  const all = new Uint8Array(n)
  let p = 0
  for (const c of chunks) {
    all.set(c, p)
    p += c.length
  }
  return all
}
