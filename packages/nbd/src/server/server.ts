import { chmod, lstat, unlink } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import { NbdError } from '../errors.js'
import type { ExportLimits } from '../protocol/commands.js'
import type { NbdBackend } from './backend.js'
import { BufferPool } from './buffer-pool.js'
import { Connection, type ConnectionHost } from './connection.js'
import { resolveOptions, type NbdServerOptions, type ResolvedOptions } from './options.js'
import { prepareSocketPath } from './socket-path.js'

/** Idle payload buffers kept for reuse per server. */
const POOL_BYTES = 16 * 1024 * 1024

interface Listener {
  readonly server: Server
  readonly own: boolean
  readonly onConnection: (s: Socket) => void
  /** Our socket file (path and inode), removed at close while it is still ours. */
  readonly socket?: { readonly path: string; readonly ino: number }
}

/**
 * An NBD server (newstyle fixed handshake, simple replies) exporting one backend. Connections are
 * independent: a protocol violation, a stalled handshake or a slow reader affects only its own
 * connection. Listen on a unix socket with `listen(path)`, on a caller's net.Server with
 * `attach(server)`, or serve one connected socket with `handle(socket)`.
 */
export class NbdServer {
  readonly #options: ResolvedOptions
  readonly #host: ConnectionHost
  readonly #connections = new Set<Connection>()
  readonly #listeners: Listener[] = []
  #owner: Connection | undefined
  #nextId = 1
  #closing = false

  constructor(backend: NbdBackend, options: NbdServerOptions = {}) {
    const o = resolveOptions(backend, options)
    this.#options = o
    const limits: ExportLimits = {
      size: o.size,
      transmissionFlags: o.transmissionFlags,
      maxPayload: o.maxPayload,
      minBlock: o.minBlock,
    }
    this.#host = {
      backend,
      options: o,
      limits,
      pool: new BufferPool(POOL_BYTES),
      claim: (c) => {
        if (!o.exclusive) return true
        if (this.#owner !== undefined && this.#owner !== c) return false
        this.#owner = c
        return true
      },
      closed: (c) => {
        this.#connections.delete(c)
        if (this.#owner === c) this.#owner = undefined
      },
    }
  }

  /** Export size in bytes. */
  get size(): number {
    return this.#options.size
  }

  /** Transmission flags every client gets (TRANSMISSION_FLAG bits). */
  get transmissionFlags(): number {
    return this.#options.transmissionFlags
  }

  /** Open connections (handshake or transmission). */
  get connections(): number {
    return this.#connections.size
  }

  /** Serve one connected socket (a unix or TCP stream, or a socketpair end). */
  handle(socket: Socket): void {
    this.#serve(socket, false)
  }

  /** `direct`: accepted by our own listener, paused, nothing read yet (Connection). */
  #serve(socket: Socket, direct: boolean): void {
    const id = this.#nextId++
    if (this.#closing || this.#connections.size >= this.#options.maxConnections) {
      this.#emitQuiet({
        type: 'close',
        connection: id,
        code: this.#closing ? 'ERR_NBD_SHUTDOWN' : 'ERR_NBD_TOO_MANY_CONNECTIONS',
      })
      socket.on('error', () => undefined)
      socket.destroy()
      return
    }
    this.#connections.add(new Connection(id, socket, this.#host, direct))
  }

  /**
   * Serve connections accepted by `server` (the caller listens and closes it). Create it with
   * `allowHalfOpen: true` so that replies still owed when a client half-closes are delivered.
   */
  attach(server: Server): void {
    const onConnection = (s: Socket): void => this.handle(s)
    server.on('connection', onConnection)
    this.#listeners.push({ server, own: false, onConnection })
  }

  /**
   * Listen on a unix socket at `path` (absolute). Its folder must be a directory owned by this user
   * with mode 0700 or narrower (ERR_NBD_SOCKET_DIR otherwise); the socket is made 0600. A stale
   * socket from an earlier run is replaced; a live one or another file is refused.
   */
  async listen(path: string): Promise<void> {
    if (this.#closing) throw new NbdError('ERR_NBD_SHUTDOWN', 'NBD server is closing')
    await prepareSocketPath(path)
    // paused until the connection has taken over the socket's reads (direct-read.ts)
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true })
    const onConnection = (s: Socket): void => this.#serve(s, true)
    server.on('connection', onConnection)
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) =>
        reject(
          new NbdError('ERR_NBD_SOCKET_PATH', `cannot listen on ${path}: ${e.message}`, {
            cause: e,
          }),
        ),
      )
      server.listen(path, () => resolve())
    })
    server.on('error', () => undefined)
    try {
      await chmod(path, 0o600)
      const st = await lstat(path)
      this.#listeners.push({ server, own: true, onConnection, socket: { path, ino: st.ino } })
    } catch (e) {
      server.close()
      throw new NbdError('ERR_NBD_SOCKET_PATH', `cannot make ${path} 0600`, { cause: e })
    }
  }

  /**
   * Stop: no new connections; handshakes are cut; connections in transmission finish their
   * in-flight requests and end. After `timeoutMs` (default 10 s) the rest are destroyed.
   */
  async close(opts: { readonly timeoutMs?: number } = {}): Promise<void> {
    this.#closing = true
    const stops: Promise<void>[] = []
    for (const l of this.#listeners.splice(0)) {
      l.server.off('connection', l.onConnection)
      if (l.own) stops.push(new Promise((r) => l.server.close(() => r())))
      if (l.socket !== undefined) stops.push(removeIfOurs(l.socket.path, l.socket.ino))
    }
    const conns = [...this.#connections]
    for (const c of conns) c.shutdown()
    const all = Promise.all(conns.map((c) => c.done))
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<void>((r) => {
      timer = setTimeout(() => {
        for (const c of conns) c.destroy('ERR_NBD_SHUTDOWN')
        r()
      }, opts.timeoutMs ?? 10_000)
    })
    await Promise.race([all, timedOut])
    clearTimeout(timer)
    await all
    await Promise.all(stops)
  }

  #emitQuiet(e: Parameters<ResolvedOptions['onEvent']>[0]): void {
    try {
      this.#options.onEvent(e)
    } catch {
      // ignore listener failures
    }
  }
}

async function removeIfOurs(path: string, ino: number): Promise<void> {
  try {
    const st = await lstat(path)
    if (st.isSocket() && st.ino === ino) await unlink(path)
  } catch {
    // already gone
  }
}
