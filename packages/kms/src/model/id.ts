/**
 * Unique Identifiers of new objects: UUID version 7 (RFC 9562 §5.7) with the 12-bit `rand_a`
 * field used as a counter within a millisecond (§6.2 method 1), so ids made by one generator sort
 * in creation order even when several objects are created in the same millisecond (Locate answers
 * by creation date, then id, and Offset Items pages through that order). Time-ordered keys also
 * append to the end of the database's primary-key index instead of touching a random page per
 * Create. The remaining 62 bits are random. One generator per server (server/runtime.ts).
 */
import type { RandomSource } from '../crypto/random.js'

export class ObjectIds {
  #lastMs = 0
  #counter = 0
  readonly #random: RandomSource

  constructor(random: RandomSource) {
    this.#random = random
  }

  /** A new id for an object created at `nowMs`. */
  next(nowMs: number = Date.now()): string {
    let ms = nowMs
    if (ms <= this.#lastMs) {
      ms = this.#lastMs // the clock stood still or stepped back: keep counting from the last id
      this.#counter++
      if (this.#counter > 0xfff) {
        ms++ // 4,096 ids in one millisecond: borrow the next one
        this.#counter = 0
      }
    } else this.#counter = 0
    this.#lastMs = ms
    const counter = this.#counter
    const b = this.#random(16)
    b.writeUIntBE(ms, 0, 6)
    b[6] = 0x70 | (counter >> 8)
    b[7] = counter & 0xff
    b[8] = 0x80 | (b[8]! & 0x3f)
    const h = b.toString('hex')
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
  }
}
