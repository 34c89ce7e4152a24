/** What the TPM core needs from a connection: one command in, one response out. */
import { TpmError } from '../errors.js'

export interface Transport {
  /** Send one complete command; resolve with one complete response (header included). */
  send(command: Uint8Array, signal?: AbortSignal): Promise<Uint8Array>
  /** Release the connection; a later `send` may reconnect. */
  close(): Promise<void>
}

/** Part 1 §18 response header: tag u16, responseSize u32, responseCode u32. */
export const HEADER_SIZE = 10
/** Upper bound for a response (swtpm and PC TPMs use 4096; leave room for large NV buffers). */
export const MAX_RESPONSE = 65536

/** Validate the size field of a response header; ERR_TPM_DECODE if it cannot be a response. */
export function responseSize(header: Uint8Array): number {
  const size = new DataView(header.buffer, header.byteOffset, header.byteLength).getUint32(2)
  if (size < HEADER_SIZE || size > MAX_RESPONSE)
    throw new TpmError('ERR_TPM_DECODE', `response size ${size} is out of range`)
  return size
}

/**
 * Runs tasks one at a time, in order: a TPM executes one command at a time and swtpm serves a
 * single client, so concurrent callers queue here instead of interleaving bytes.
 */
export class Queue {
  #tail: Promise<unknown> = Promise.resolve()
  run<T>(task: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(task, task)
    this.#tail = next.catch(() => undefined)
    return next
  }
}
