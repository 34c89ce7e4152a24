/**
 * Reusable payload buffers in power-of-two size classes. Large Buffer allocations are fresh mmap'd
 * memory on every request (page faults, munmap, GC pressure from external memory); reusing them
 * keeps the READ/WRITE path allocation-free in steady state. A buffer is given back only when
 * nothing can still read it (the socket write completed, the backend's promise settled).
 *
 * Every buffer has HEAD spare bytes before its class size: a READ is read at `HEAD` and its simple
 * reply header written in front of it, so header and payload leave in one socket write (no cork,
 * no writev of two buffers, no copy).
 */
export class BufferPool {
  /** Bytes before the payload area of every pooled buffer (a simple reply header). */
  static readonly HEAD = 16

  readonly #free = new Map<number, Buffer[]>()
  readonly #maxBytes: number
  #pooled = 0

  /** Keep at most `maxBytes` of idle buffers. */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes
  }

  /** Smallest class holding `n` bytes (at least 4 KiB). */
  static classOf(n: number): number {
    let c = 4096
    while (c < n) c *= 2
    return c
  }

  /**
   * A buffer of `HEAD` + at least `n` bytes (its contents are stale): the payload goes at `HEAD`
   * (or at 0, for a caller that needs no header room). Give the buffer itself back.
   */
  take(n: number): Buffer {
    const c = BufferPool.classOf(n)
    const list = this.#free.get(c)
    const b = list?.pop()
    if (b !== undefined) {
      this.#pooled -= c
      return b
    }
    return Buffer.allocUnsafeSlow(c + BufferPool.HEAD)
  }

  /** Return a buffer from `take`. */
  give(b: Buffer): void {
    const c = b.length - BufferPool.HEAD
    if (this.#pooled + c > this.#maxBytes) return
    let list = this.#free.get(c)
    if (list === undefined) this.#free.set(c, (list = []))
    list.push(b)
    this.#pooled += c
  }

  /** Idle bytes held. */
  get pooledBytes(): number {
    return this.#pooled
  }
}
