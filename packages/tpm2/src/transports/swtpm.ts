/**
 * swtpm over TCP: the data port carries raw TPM 2.0 command/response streams (no framing; read the
 * 10-byte header, then size-10), the control port carries swtpm's CMD_* requests
 * (swtpm include/swtpm/tpm_ioctl.h; man swtpm_ioctls). swtpm serves one client at a time, so the
 * data connection is opened lazily and `close()` frees it for other tools (tpm2-tools).
 */
import { Socket, connect } from 'node:net'
import { TpmError } from '../errors.js'
import { HEADER_SIZE, Queue, responseSize, type Transport } from './transport.js'

export interface SwtpmAddress {
  readonly host: string
  readonly port: number
  /** control port; swtpm convention (and tpm2-tss) is port + 1 */
  readonly ctrlPort: number
}

/** Parse `swtpm:HOST:PORT` (control port = PORT + 1). */
export function parseSwtpmSpec(spec: string): SwtpmAddress {
  const m = /^swtpm:([^:]+):(\d{1,5})$/.exec(spec)
  const port = m ? Number(m[2]) : NaN
  if (!m || !(port > 0 && port < 65535))
    throw new TpmError('ERR_TPM_ARG', `"${spec}" is not a swtpm address; use swtpm:127.0.0.1:PORT`)
  return { host: m[1]!, port, ctrlPort: port + 1 }
}

/** Read exactly what `want(buffered)` says from a socket, with a timeout. */
function exchange(
  sock: Socket,
  request: Uint8Array,
  want: (buf: Buffer) => number | undefined,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  what: string,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new TpmError('ERR_TPM_TIMEOUT', `${what}: aborted before sending`))
      return
    }
    let buf: Buffer = Buffer.alloc(0)
    const done = (err: Error | undefined, out?: Buffer): void => {
      clearTimeout(timer)
      sock.off('data', onData)
      sock.off('error', onError)
      sock.off('close', onClose)
      signal?.removeEventListener('abort', onAbort)
      if (err) reject(err)
      else resolve(out!)
    }
    const onData = (d: Buffer): void => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d])
      let n: number | undefined
      try {
        n = want(buf)
      } catch (e) {
        sock.destroy()
        done(e as Error)
        return
      }
      if (n !== undefined && buf.length >= n) {
        if (buf.length > n) {
          sock.destroy()
          done(
            new TpmError(
              'ERR_TPM_DECODE',
              `${what}: ${buf.length - n} unexpected bytes after the response`,
            ),
          )
        } else done(undefined, buf)
      }
    }
    const onError = (e: Error): void =>
      done(new TpmError('ERR_TPM_TRANSPORT', `${what}: ${e.message}`, { cause: e }))
    const onClose = (): void =>
      done(new TpmError('ERR_TPM_TRANSPORT', `${what}: connection closed by swtpm mid-response`))
    const onAbort = (): void => {
      sock.destroy()
      done(new TpmError('ERR_TPM_TIMEOUT', `${what}: aborted`))
    }
    const timer = setTimeout(() => {
      sock.destroy()
      done(
        new TpmError(
          'ERR_TPM_TIMEOUT',
          `${what}: no response within ${timeoutMs} ms; is swtpm running?`,
        ),
      )
    }, timeoutMs)
    sock.on('data', onData)
    sock.on('error', onError)
    sock.on('close', onClose)
    signal?.addEventListener('abort', onAbort)
    sock.write(request)
  })
}

function open(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port })
    const timer = setTimeout(() => {
      s.destroy()
      reject(new TpmError('ERR_TPM_TIMEOUT', `connect to ${host}:${port} timed out`))
    }, timeoutMs)
    s.once('connect', () => {
      clearTimeout(timer)
      s.setNoDelay(true)
      resolve(s)
    })
    s.once('error', (e) => {
      clearTimeout(timer)
      reject(
        new TpmError(
          'ERR_TPM_TRANSPORT',
          `cannot connect to swtpm at ${host}:${port}: ${e.message}`,
          {
            cause: e,
          },
        ),
      )
    })
  })
}

/** Data-port transport for swtpm (raw TPM 2.0 byte stream). */
export class SwtpmTransport implements Transport {
  readonly address: SwtpmAddress
  readonly timeoutMs: number
  #sock: Socket | undefined
  readonly #queue = new Queue()
  constructor(address: SwtpmAddress | string, o: { timeoutMs?: number } = {}) {
    this.address = typeof address === 'string' ? parseSwtpmSpec(address) : address
    this.timeoutMs = o.timeoutMs ?? 60_000
  }
  send(command: Uint8Array, signal?: AbortSignal): Promise<Uint8Array> {
    return this.#queue.run(async () => {
      if (this.#sock === undefined || this.#sock.destroyed) {
        this.#sock = await open(this.address.host, this.address.port, this.timeoutMs)
        this.#sock.on('error', () => undefined) // errors surface through exchange()
      }
      const sock = this.#sock
      try {
        return await exchange(
          sock,
          command,
          (b) => (b.length >= HEADER_SIZE ? responseSize(b) : undefined),
          this.timeoutMs,
          signal,
          'swtpm data port',
        )
      } catch (e) {
        sock.destroy()
        this.#sock = undefined
        throw e
      }
    })
  }
  close(): Promise<void> {
    return this.#queue.run(async () => {
      const s = this.#sock
      this.#sock = undefined
      if (s && !s.destroyed) await new Promise<void>((r) => s.end(r))
    })
  }
}

/** swtpm control channel commands, tpm_ioctl.h (PTM_* / CMD_*). */
export const SWTPM_CMD = {
  GET_CAPABILITY: 0x01,
  INIT: 0x02,
  SHUTDOWN: 0x03,
  GET_TPMESTABLISHED: 0x04,
  SET_LOCALITY: 0x05,
  STORE_VOLATILE: 0x0a,
  STOP: 0x0e,
  GET_CONFIG: 0x0f,
} as const

/** Control channel of one swtpm: power-on (CMD_INIT), CMD_STOP, CMD_SHUTDOWN, locality. */
export class SwtpmControl {
  readonly host: string
  readonly port: number
  readonly timeoutMs: number
  readonly #queue = new Queue()
  constructor(host: string, port: number, o: { timeoutMs?: number } = {}) {
    this.host = host
    this.port = port
    this.timeoutMs = o.timeoutMs ?? 10_000
  }
  /** Send one request (one write: swtpm does a single read()) and return the payload after `result`. */
  request(cmd: number, payload: Uint8Array, responseLength: number): Promise<Buffer> {
    return this.#queue.run(async () => {
      const sock = await open(this.host, this.port, this.timeoutMs)
      try {
        const req = Buffer.alloc(4 + payload.length)
        req.writeUInt32BE(cmd)
        req.set(payload, 4)
        const res = await exchange(
          sock,
          req,
          () => 4 + responseLength,
          this.timeoutMs,
          undefined,
          'swtpm control port',
        )
        const result = res.readUInt32BE(0)
        if (result !== 0)
          throw new TpmError(
            'ERR_TPM_SWTPM',
            `swtpm control command 0x${cmd.toString(16)} failed: result 0x${result.toString(16)}`,
          )
        return res.subarray(4)
      } finally {
        sock.destroy()
      }
    })
  }
  /** CMD_INIT: _TPM_Init (power on / reset); TPM2_Startup must follow. */
  async init(deleteVolatile = false): Promise<void> {
    const p = Buffer.alloc(4)
    p.writeUInt32BE(deleteVolatile ? 1 : 0)
    await this.request(SWTPM_CMD.INIT, p, 0)
  }
  /** CMD_STOP: halt the TPM; the process stays and answers TPM_RC_FAILURE until CMD_INIT. */
  async stop(): Promise<void> {
    await this.request(SWTPM_CMD.STOP, new Uint8Array(0), 0)
  }
  /** CMD_SHUTDOWN: the swtpm process exits. */
  async shutdown(): Promise<void> {
    await this.request(SWTPM_CMD.SHUTDOWN, new Uint8Array(0), 0)
  }
  /** CMD_SET_LOCALITY (0-4). */
  async setLocality(locality: number): Promise<void> {
    if (!Number.isInteger(locality) || locality < 0 || locality > 4)
      throw new TpmError('ERR_TPM_ARG', 'locality must be 0-4')
    await this.request(SWTPM_CMD.SET_LOCALITY, Uint8Array.of(locality), 0)
  }
  /** CMD_GET_TPMESTABLISHED. */
  async getTpmEstablished(): Promise<boolean> {
    // ptm_est response: u32 result, u8 bit, 3 bytes of struct padding
    const r = await this.request(SWTPM_CMD.GET_TPMESTABLISHED, new Uint8Array(0), 4)
    return r[0] !== 0
  }
}
