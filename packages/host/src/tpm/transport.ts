import { connect, type Socket } from 'node:net'
import { open, type FileHandle } from 'node:fs/promises'
import { HostError } from '../errors.js'

/** Moves one TPM command and its response; one command at a time. */
export interface TpmTransport {
  send(command: Uint8Array): Promise<Buffer>
  close(): Promise<void>
}

/** Largest TPM response accepted (TPM2 responses are bounded by MAX_RESPONSE_SIZE, 4 KiB typical). */
const MAX_RESPONSE = 64 << 10
const TIMEOUT_MS = 30_000

function connectTcp(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port })
    s.setNoDelay(true)
    s.once('connect', () => {
      s.removeAllListeners('error')
      resolve(s)
    })
    s.once('error', (e) =>
      reject(
        new HostError(
          'ERR_HOST_TPM_UNREACHABLE',
          `cannot connect to the TPM at ${host}:${port} (${(e as NodeJS.ErrnoException).code ?? 'error'}); start swtpm or check --tpm`,
          {},
          { cause: e },
        ),
      ),
    )
  })
}

/**
 * swtpm's TCP data port: raw TPM 2.0 command/response streams, no framing; the response length
 * is in its 10-byte header (TPM 2.0 Part 1 §18.2). swtpm serves one client at a time.
 */
export class SwtpmTransport implements TpmTransport {
  readonly host: string
  readonly port: number
  #socket: Socket | undefined
  #chain: Promise<unknown> = Promise.resolve()

  constructor(host: string, port: number) {
    this.host = host
    this.port = port
  }

  send(command: Uint8Array): Promise<Buffer> {
    const p = this.#chain.then(() => this.#send(command))
    this.#chain = p.catch(() => undefined)
    return p
  }

  async #send(command: Uint8Array): Promise<Buffer> {
    this.#socket ??= await connectTcp(this.host, this.port)
    const s = this.#socket
    return new Promise<Buffer>((resolve, reject) => {
      let buf = Buffer.alloc(0)
      const done = (e: Error | undefined, r?: Buffer): void => {
        s.off('data', onData)
        s.off('error', onErr)
        s.off('close', onClose)
        clearTimeout(timer)
        if (e) {
          s.destroy()
          this.#socket = undefined
          reject(e)
        } else resolve(r!)
      }
      const onData = (d: Buffer): void => {
        buf = Buffer.concat([buf, d])
        if (buf.length < 10) return
        const size = buf.readUInt32BE(2)
        if (size < 10 || size > MAX_RESPONSE)
          return done(new HostError('ERR_HOST_TPM_PROTOCOL', `bad TPM response size ${size}`))
        if (buf.length > size)
          return done(new HostError('ERR_HOST_TPM_PROTOCOL', 'trailing bytes after TPM response'))
        if (buf.length === size) done(undefined, buf)
      }
      const onErr = (e: Error): void =>
        done(new HostError('ERR_HOST_TPM_UNREACHABLE', `TPM connection failed: ${e.message}`))
      const onClose = (): void =>
        done(new HostError('ERR_HOST_TPM_UNREACHABLE', 'the TPM closed the connection'))
      const timer = setTimeout(
        () => done(new HostError('ERR_HOST_TPM_UNREACHABLE', 'the TPM did not answer in time')),
        TIMEOUT_MS,
      )
      s.on('data', onData)
      s.on('error', onErr)
      s.on('close', onClose)
      s.write(command)
    })
  }

  /** Close the data connection (swtpm then serves the next client, e.g. tpm2-tools). */
  async close(): Promise<void> {
    await this.#chain
    const s = this.#socket
    this.#socket = undefined
    if (s) await new Promise<void>((r) => s.end(r))
  }

  /**
   * Send one swtpm control-channel command (`u32 cmd | payload` → `u32 result | ...`,
   * swtpm include/swtpm/tpm_ioctl.h); the control port is the data port + 1.
   */
  async control(cmd: number, payload: Uint8Array = new Uint8Array(0)): Promise<number> {
    const s = await connectTcp(this.host, this.port + 1)
    try {
      return await new Promise<number>((resolve, reject) => {
        let buf = Buffer.alloc(0)
        s.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d])
          if (buf.length >= 4) resolve(buf.readUInt32BE(0))
        })
        s.once('error', reject)
        s.once('close', () =>
          reject(new HostError('ERR_HOST_TPM_PROTOCOL', 'swtpm control channel closed')),
        )
        const req = Buffer.alloc(4 + payload.length)
        req.writeUInt32BE(cmd, 0)
        req.set(payload, 4)
        s.write(req)
      })
    } finally {
      s.destroy()
    }
  }
}

/** Linux kernel resource manager device (`/dev/tpmrm0`): one write, one read per command. */
export class DeviceTransport implements TpmTransport {
  readonly path: string
  #fh: FileHandle | undefined
  #chain: Promise<unknown> = Promise.resolve()

  constructor(path: string) {
    this.path = path
  }

  send(command: Uint8Array): Promise<Buffer> {
    const p = this.#chain.then(async () => {
      this.#fh ??= await open(this.path, 'r+').catch((e: NodeJS.ErrnoException) => {
        throw new HostError(
          'ERR_HOST_TPM_UNREACHABLE',
          `cannot open ${this.path} (${e.code ?? 'error'}); run as root or check --tpm`,
        )
      })
      await this.#fh.write(command)
      const buf = Buffer.alloc(MAX_RESPONSE)
      const { bytesRead } = await this.#fh.read(buf, 0, buf.length, null)
      return buf.subarray(0, bytesRead)
    })
    this.#chain = p.catch(() => undefined)
    return p
  }

  async close(): Promise<void> {
    await this.#chain
    await this.#fh?.close()
    this.#fh = undefined
  }
}
