/**
 * Linux TPM character device (/dev/tpmrm0, the kernel resource manager; /dev/tpm0 without it):
 * write one whole command, read one whole response (drivers/char/tpm/tpm-dev-common.c).
 */
import { open, type FileHandle } from 'node:fs/promises'
import { TpmError } from '../errors.js'
import { HEADER_SIZE, MAX_RESPONSE, Queue, responseSize, type Transport } from './transport.js'

export class DeviceTransport implements Transport {
  readonly path: string
  readonly timeoutMs: number
  #fh: FileHandle | undefined
  readonly #queue = new Queue()
  constructor(path = '/dev/tpmrm0', o: { timeoutMs?: number } = {}) {
    this.path = path
    this.timeoutMs = o.timeoutMs ?? 120_000
  }
  send(command: Uint8Array): Promise<Uint8Array> {
    return this.#queue.run(async () => {
      try {
        this.#fh ??= await open(this.path, 'r+')
      } catch (e) {
        throw new TpmError(
          'ERR_TPM_TRANSPORT',
          `cannot open ${this.path}: ${(e as Error).message}; check the device exists and you may use it (group tss)`,
          { cause: e },
        )
      }
      const fh = this.#fh
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new TpmError(
                'ERR_TPM_TIMEOUT',
                `${this.path}: no response within ${this.timeoutMs} ms`,
              ),
            ),
          this.timeoutMs,
        )
      })
      try {
        return await Promise.race([this.#exchange(fh, command), timeout])
      } finally {
        clearTimeout(timer)
      }
    })
  }
  async #exchange(fh: FileHandle, command: Uint8Array): Promise<Uint8Array> {
    try {
      await fh.write(command, 0, command.length, null)
      const buf = Buffer.alloc(MAX_RESPONSE)
      const { bytesRead } = await fh.read(buf, 0, buf.length, null)
      if (bytesRead < HEADER_SIZE)
        throw new TpmError('ERR_TPM_DECODE', `short response (${bytesRead} bytes)`)
      const size = responseSize(buf)
      if (size !== bytesRead)
        throw new TpmError(
          'ERR_TPM_DECODE',
          `response says ${size} bytes, device gave ${bytesRead}`,
        )
      return buf.subarray(0, size)
    } catch (e) {
      if (e instanceof TpmError) throw e
      throw new TpmError('ERR_TPM_TRANSPORT', `${this.path}: ${(e as Error).message}`, { cause: e })
    }
  }
  close(): Promise<void> {
    return this.#queue.run(async () => {
      const fh = this.#fh
      this.#fh = undefined
      await fh?.close()
    })
  }
}
