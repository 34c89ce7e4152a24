/**
 * The center's client of a joined host: the host's admin operations over mutual TLS (the center's
 * client certificate; the host's certificate checked against the center's CA and the expected host
 * id), one JSON request per line as on the host's admin socket, typed by the host's `AdminOps`
 * table: only `{ remote: true }` rows can be called. Connections are kept and reused.
 */
import { connect, type PeerCertificate, type TLSSocket } from 'node:tls'
import { isIP } from 'node:net'
import type { Logger } from '@ward/core'
import type { Secret } from '@ward/core'
import {
  HOST_OU,
  MAX_LINE,
  hostUri,
  parseHostPort,
  type AdminParams,
  type CallOptions,
  type OpProgress,
  type AdminResult,
  type RemoteOp,
} from '@ward/host'
import { CenterError } from '../errors.js'

/** Timeouts and pool size of a host client. */
export const HostClientLimits = {
  /** TCP connect plus TLS handshake. */
  connectMs: 10_000,
  /** One call, from sending the request to its answer (a VM power-off may wait for the guest). */
  callMs: 300_000,
  /** An idle pooled connection is closed after this (the host closes at 120 s). */
  idleMs: 30_000,
  /** Idle connections kept per host. */
  maxIdle: 4,
  /** Longest answer line read. */
  maxAnswer: 16 * MAX_LINE,
} as const

/** The remote operations whose parameters are all optional: `call(op)` may leave them out. */
export type OptionalParamsRemoteOp = {
  [O in RemoteOp]: Record<string, never> extends AdminParams<O> ? O : never
}[RemoteOp]

export interface HostClientOptions {
  /** The host id the center gave the host at its join (its certificate's CN and URI SAN). */
  readonly hostId: string
  /** Its listener, HOST:PORT (from the join). */
  readonly address: string
  /** The center's CA and client certificate (CenterPki). */
  readonly pki: {
    readonly caCertPem: string
    readonly client: { readonly certPem: string; readonly keyPem: string }
  }
  readonly log?: Logger
  readonly connectMs?: number
  readonly callMs?: number
  readonly idleMs?: number
}

class IdentityMismatch extends Error {}

/** Why `peer` is not host `hostId`'s certificate, or undefined when it is. */
export function notTheHost(peer: PeerCertificate, hostId: string): string | undefined {
  const one = (v: string | string[] | undefined): string[] =>
    Array.isArray(v) ? v : v === undefined ? [] : [v]
  if (!one(peer.subject?.OU).includes(HOST_OU)) return 'not a host certificate'
  if (!one(peer.subject?.CN).includes(hostId)) return `its CN is not ${hostId}`
  const sans = (peer.subjectaltname ?? '').split(', ')
  if (!sans.includes(`URI:${hostUri(hostId)}`)) return `no SAN ${hostUri(hostId)}`
  return undefined
}

interface Pending {
  readonly id: number
  readonly onProgress: ((p: OpProgress) => void) | undefined
  resolve(v: unknown): void
  reject(e: Error): void
}

/** One pooled connection: one call at a time. */
class Connection {
  readonly socket: TLSSocket
  #buf = ''
  #pending: Pending | undefined
  #idleTimer: NodeJS.Timeout | undefined
  closed = false
  constructor(socket: TLSSocket) {
    this.socket = socket
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => this.#data(d))
    socket.on('error', () => socket.destroy())
    socket.on('close', () => {
      this.closed = true
      clearTimeout(this.#idleTimer)
      this.#pending?.reject(
        new CenterError(
          'ERR_CENTER_HOST_UNREACHABLE',
          'the host closed the connection without answering (it refused the request or stopped)',
        ),
      )
      this.#pending = undefined
    })
  }

  #data(d: string): void {
    this.#buf += d
    if (this.#buf.length > HostClientLimits.maxAnswer) {
      const p = this.#pending
      this.#pending = undefined
      this.socket.destroy()
      p?.reject(new CenterError('ERR_CENTER_HOST_PROTOCOL', 'the host answered too much'))
      return
    }
    let nl: number
    while ((nl = this.#buf.indexOf('\n')) >= 0) {
      const line = this.#buf.slice(0, nl)
      this.#buf = this.#buf.slice(nl + 1)
      this.#line(line)
    }
  }

  #line(line: string): void {
    const p = this.#pending
    let m: {
      id?: unknown
      ok?: unknown
      result?: unknown
      progress?: unknown
      error?: { code?: unknown; message?: unknown }
    }
    try {
      m = JSON.parse(line) as typeof m
    } catch {
      m = {}
    }
    if (m.progress !== undefined && m.ok === undefined) {
      // progress of the pending request (a row declared { progress: true } and asked for)
      const g = m.progress as { done?: unknown; total?: unknown }
      if (
        p !== undefined &&
        m.id === p.id &&
        Number.isSafeInteger(g.done) &&
        Number.isSafeInteger(g.total)
      )
        p.onProgress?.({ done: g.done as number, total: g.total as number })
      return
    }
    if (p === undefined || typeof m !== 'object' || m === null || typeof m.ok !== 'boolean') {
      this.#pending = undefined
      this.socket.destroy()
      p?.reject(new CenterError('ERR_CENTER_HOST_PROTOCOL', 'the host sent a malformed answer'))
      return
    }
    this.#pending = undefined
    if (m.ok && m.id !== p.id) {
      this.socket.destroy()
      p.reject(new CenterError('ERR_CENTER_HOST_PROTOCOL', 'the host answered another request'))
      return
    }
    if (m.ok) return p.resolve(m.result)
    const code = typeof m.error?.code === 'string' ? m.error.code.slice(0, 64) : 'ERR_HOST_AGENT'
    const message =
      typeof m.error?.message === 'string' ? m.error.message.slice(0, 1000) : 'no message'
    // a protocol error answers id 0 and the host closes: this connection is done
    if (m.id !== p.id) this.socket.destroy()
    p.reject(new CenterError('ERR_CENTER_HOST_REFUSED', message, { hostCode: code }))
  }

  send(
    id: number,
    line: string,
    timeoutMs: number,
    onProgress: ((p: OpProgress) => void) | undefined,
  ): Promise<unknown> {
    clearTimeout(this.#idleTimer)
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending = undefined
        this.socket.destroy()
        reject(
          new CenterError(
            'ERR_CENTER_HOST_TIMEOUT',
            `the host did not answer within ${Math.round(timeoutMs / 1000)} s`,
          ),
        )
      }, timeoutMs)
      this.#pending = {
        id,
        onProgress,
        resolve: (v) => {
          clearTimeout(timer)
          resolve(v)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      }
      this.socket.write(line)
    })
  }

  idle(ms: number, onExpire: () => void): void {
    this.#idleTimer = setTimeout(() => {
      onExpire()
      this.socket.destroy()
    }, ms)
    this.#idleTimer.unref()
  }
}

/** A client of one joined host. */
export class HostClient {
  readonly hostId: string
  readonly address: string
  readonly #o: HostClientOptions
  readonly #host: string
  readonly #port: number
  readonly #idle: Connection[] = []
  #nextId = 1
  #closed = false
  #peerNotAfter: number | undefined

  constructor(o: HostClientOptions) {
    this.hostId = o.hostId
    this.address = o.address
    this.#o = o
    let hp: { host: string; port: number }
    try {
      hp = parseHostPort(o.address, 'host address')
    } catch (e) {
      throw new CenterError('ERR_CENTER_HOST_ID', (e as Error).message, {}, { cause: e })
    }
    this.#host = hp.host
    this.#port = hp.port
  }

  /**
   * `call('keys.has', { providerId, kekId })` resolves to `{ inCache }`; only remote operations.
   * With `onProgress`, an operation that streams progress (`vm.encrypt`, `vm.decrypt`,
   * `vm.recrypt`) reports it before resolving (the center's task rows).
   */
  call<O extends OptionalParamsRemoteOp>(
    op: O,
    params?: AdminParams<O>,
    options?: CallOptions,
  ): Promise<AdminResult<O>>
  call<O extends RemoteOp>(
    op: O,
    params: AdminParams<O>,
    options?: CallOptions,
  ): Promise<AdminResult<O>>
  async call<O extends RemoteOp>(
    op: O,
    params?: AdminParams<O>,
    options?: CallOptions,
  ): Promise<AdminResult<O>> {
    // the host answers each operation with its row's result type (protocol.ts)
    return (await this.callRaw(op, params ?? {}, options)) as AdminResult<O>
  }

  /**
   * One request, any operation name and parameters (tests and tools; `call` is the typed form).
   * A non-remote operation is sent all the same: the host refuses it (ERR_HOST_REMOTE_DENIED).
   */
  async callRaw(
    op: string,
    params: Record<string, unknown>,
    options: CallOptions = {},
  ): Promise<unknown> {
    if (this.#closed)
      throw new CenterError('ERR_CENTER_HOST_UNREACHABLE', 'this host client was closed')
    let conn = this.#idle.pop()
    while (conn?.closed) conn = this.#idle.pop()
    conn ??= await this.#connect()
    const id = this.#nextId++
    const t0 = Date.now()
    try {
      const onProgress = options.onProgress
      const r = await conn.send(
        id,
        `${JSON.stringify(onProgress ? { id, op, params, progress: true } : { id, op, params })}\n`,
        this.#o.callMs ?? HostClientLimits.callMs,
        onProgress,
      )
      this.#release(conn)
      this.#o.log?.debug({ hostId: this.hostId, op, ms: Date.now() - t0 }, 'host call')
      return r
    } catch (e) {
      if (!conn.closed && e instanceof CenterError && e.code === 'ERR_CENTER_HOST_REFUSED')
        this.#release(conn)
      this.#o.log?.warn(
        {
          hostId: this.hostId,
          op: op.slice(0, 64),
          code: (e as CenterError).code,
          ...(e instanceof CenterError && typeof e.details.hostCode === 'string'
            ? { hostCode: e.details.hostCode }
            : {}),
        },
        'host call failed',
      )
      throw e
    }
  }

  /** When the host's certificate of the last connection expires (ms), undefined before one. */
  get peerNotAfter(): number | undefined {
    return this.#peerNotAfter
  }

  /** Close every pooled connection; later calls fail. */
  close(): void {
    this.#closed = true
    for (const c of this.#idle.splice(0)) c.socket.destroy()
  }

  #release(conn: Connection): void {
    if (conn.closed || this.#closed || this.#idle.length >= HostClientLimits.maxIdle) {
      conn.socket.end()
      return
    }
    this.#idle.push(conn)
    conn.idle(this.#o.idleMs ?? HostClientLimits.idleMs, () => {
      const i = this.#idle.indexOf(conn)
      if (i >= 0) this.#idle.splice(i, 1)
    })
  }

  #connect(): Promise<Connection> {
    const hostId = this.hostId
    const ms = this.#o.connectMs ?? HostClientLimits.connectMs
    return new Promise<Connection>((resolve, reject) => {
      const socket = connect({
        host: this.#host,
        port: this.#port,
        ...(isIP(this.#host) === 0 ? { servername: this.#host } : {}),
        key: this.#o.pki.client.keyPem,
        cert: this.#o.pki.client.certPem,
        ca: this.#o.pki.caCertPem,
        minVersion: 'TLSv1.3',
        // the chain is checked against the center's CA by TLS; the identity is the host id
        checkServerIdentity: (_name, peer) => {
          const why = notTheHost(peer, hostId)
          return why === undefined ? undefined : new IdentityMismatch(why)
        },
      })
      const timer = setTimeout(() => {
        socket.destroy()
        reject(
          new CenterError(
            'ERR_CENTER_HOST_TIMEOUT',
            `host ${hostId} at ${this.address}: no TLS handshake within ${Math.round(ms / 1000)} s`,
          ),
        )
      }, ms)
      const onError = (e: NodeJS.ErrnoException): void => {
        clearTimeout(timer)
        socket.destroy()
        reject(
          e instanceof IdentityMismatch
            ? new CenterError(
                'ERR_CENTER_HOST_IDENTITY',
                `the listener at ${this.address} is not host ${hostId} (${e.message}): update the inventory or join the host again`,
                { hostId },
              )
            : new CenterError(
                'ERR_CENTER_HOST_UNREACHABLE',
                `host ${hostId} at ${this.address} is unreachable (${e.code ?? e.message}): check that ward host serve runs there and its port is reachable`,
                { hostId, cause: e.code ?? 'error' },
              ),
        )
      }
      socket.once('error', onError)
      socket.once('secureConnect', () => {
        clearTimeout(timer)
        socket.off('error', onError)
        const notAfter = Date.parse(socket.getPeerCertificate().valid_to)
        if (Number.isFinite(notAfter)) this.#peerNotAfter = notAfter
        resolve(new Connection(socket))
      })
    })
  }
}

/** The KEK the center pushes to a host: ids and bytes (a Secret, never logged). */
export interface PushedKey {
  readonly providerId: string
  readonly kekId: string
  readonly key: Secret
}

/**
 * Push a KEK into a host's key cache (`keys.add` over mutual TLS): "hosts never see KMS
 * credentials: the center fetches a KEK and pushes it to the host that needs it". The host
 * persists it when its key persistence is on (`persisted` in the answer).
 */
export function pushKey(host: HostClient, k: PushedKey): Promise<AdminResult<'keys.add'>> {
  // a view of the secret's bytes, not a copy: nothing to zero afterwards
  const key = k.key.use((b) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64'))
  return host.call('keys.add', { providerId: k.providerId, kekId: k.kekId, key })
}
