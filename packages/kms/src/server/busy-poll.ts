/**
 * Poll mode after a reply, as poll-mode servers (Seastar, DPDK, SPDK) do: for `windowUs` after
 * the last reply the event loop keeps polling its sockets with a zero timeout instead of sleeping
 * in epoll_wait, so a client's next request is read by a running CPU instead of one that has to
 * be woken from halt (on a VM each wake-up is an exit to the hypervisor: tens of µs). This is the
 * in-process form of the kernel's cpuidle halt-polling (`guest_halt_poll_ns`), for this process
 * only. The cost is CPU: at most `windowUs` of polling after each reply, i.e. one core while
 * requests keep arriving closer together than the window, nothing once they stop. 0 turns it off.
 */
export class BusyPoll {
  readonly #windowMs: number
  #until = 0
  #running = false
  /** Zero-timeout loop turns taken (for tests and status). */
  turns = 0

  constructor(windowUs: number) {
    if (!Number.isInteger(windowUs) || windowUs < 0 || windowUs > 1_000_000)
      throw new RangeError(`busy-poll window must be 0-1000000 µs (got ${windowUs})`)
    this.#windowMs = windowUs / 1000
  }

  /** A reply went out: keep polling for the window from now. */
  touch(): void {
    if (this.#windowMs === 0) return
    this.#until = performance.now() + this.#windowMs
    if (!this.#running) {
      this.#running = true
      setImmediate(this.#tick)
    }
  }

  get polling(): boolean {
    return this.#running
  }

  // A pending immediate makes libuv poll for I/O with a zero timeout on this loop turn.
  readonly #tick = (): void => {
    this.turns++
    if (performance.now() < this.#until) setImmediate(this.#tick)
    else this.#running = false
  }
}
