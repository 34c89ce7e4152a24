import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls'
import { KmipError } from '../errors.js'
import { FrameReader } from '../ttlv/frame.js'

interface Pending {
  readonly resolve: (b: Uint8Array) => void
  readonly reject: (e: Error) => void
  readonly timer: NodeJS.Timeout
}

/**
 * One TLS connection to a KMIP server. Requests are answered in order (KMIP has no request ids
 * at the message level), so several may be in flight; a timeout or any framing error destroys
 * the connection and fails everything pending on it.
 */
export class KmipConnection {
  readonly #socket: TLSSocket
  readonly #frames: FrameReader
  readonly #pending: Pending[] = []
  #dead: Error | undefined

  private constructor(socket: TLSSocket, maxMessageBytes: number) {
    this.#socket = socket
    this.#frames = new FrameReader(maxMessageBytes)
    socket.on('data', (chunk: Buffer) => {
      let msgs: Uint8Array[]
      try {
        msgs = this.#frames.push(chunk)
      } catch (e) {
        this.#fail(e as Error)
        return
      }
      for (const m of msgs) {
        const p = this.#pending.shift()
        if (p === undefined) {
          this.#fail(new KmipError('ERR_KMIP_RESPONSE', 'server sent a message nobody asked for'))
          return
        }
        clearTimeout(p.timer)
        p.resolve(m)
      }
    })
    socket.on('error', (e) =>
      this.#fail(new KmipError('ERR_KMIP_CLOSED', `connection error: ${e.message}`, { cause: e })),
    )
    socket.on('close', () =>
      this.#fail(new KmipError('ERR_KMIP_CLOSED', 'server closed the connection')),
    )
  }

  /** Opens a connection (TLS handshake included) within `timeoutMs`. */
  static open(
    options: ConnectionOptions,
    timeoutMs: number,
    maxMessageBytes: number,
  ): Promise<KmipConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(options)
      const timer = setTimeout(() => {
        socket.destroy()
        reject(
          new KmipError('ERR_KMIP_TIMEOUT', `connect to ${options.host}:${options.port} timed out`),
        )
      }, timeoutMs)
      socket.once('secureConnect', () => {
        clearTimeout(timer)
        socket.removeAllListeners('error')
        socket.setNoDelay(true)
        resolve(new KmipConnection(socket, maxMessageBytes))
      })
      socket.once('error', (e) => {
        clearTimeout(timer)
        socket.destroy()
        reject(
          new KmipError(
            'ERR_KMIP_CONNECT',
            `cannot connect to ${options.host}:${options.port}: ${e.message}`,
            { cause: e },
          ),
        )
      })
    })
  }

  /** True until the connection failed or was closed. */
  get alive(): boolean {
    return this.#dead === undefined && !this.#socket.destroyed
  }

  /** Number of requests awaiting a response. */
  get inFlight(): number {
    return this.#pending.length
  }

  /** TLS protocol negotiated (e.g. 'TLSv1.2'). */
  get protocol(): string | null {
    return this.#socket.getProtocol()
  }

  /** Cipher negotiated. */
  get cipher(): string {
    return this.#socket.getCipher().name
  }

  /** Sends one encoded message and resolves with the encoded response. */
  send(message: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(new KmipError('ERR_KMIP_TIMEOUT', `no response within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#pending.push({ resolve, reject, timer })
      this.#socket.write(message)
    })
  }

  /** Closes the connection; pending requests fail with ERR_KMIP_CLOSED. */
  close(): void {
    this.#fail(new KmipError('ERR_KMIP_CLOSED', 'connection closed by the client'))
  }

  #fail(e: Error): void {
    if (this.#dead === undefined) this.#dead = e
    this.#socket.destroy()
    for (const p of this.#pending.splice(0)) {
      clearTimeout(p.timer)
      p.reject(this.#dead)
    }
  }
}
