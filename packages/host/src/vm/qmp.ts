import { connect, type Socket } from 'node:net'
import { HostError } from '../errors.js'

/** Longest QMP message accepted from QEMU (replies here are small). */
const MAX_MESSAGE = 1 << 20

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void }

/**
 * A QMP client (QEMU Machine Protocol: one JSON object per line each way) on QEMU's unix socket.
 * `connectQmp` retries until QEMU has created the socket, bounded by `timeoutMs`, and negotiates
 * capabilities. Commands are matched to replies by id; events go to `onEvent`.
 */
export class QmpClient {
  readonly #socket: Socket
  readonly #pending = new Map<number, Pending>()
  #next = 1
  #buf = ''
  #closed = false
  onEvent: ((event: string, data: unknown) => void) | undefined

  private constructor(socket: Socket) {
    this.#socket = socket
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => this.#data(d))
    socket.on('error', () => undefined)
    socket.on('close', () => this.#fail(new HostError('ERR_HOST_QMP', 'QMP connection closed')))
  }

  static async connect(path: string, timeoutMs: number): Promise<QmpClient> {
    const end = Date.now() + timeoutMs
    for (;;) {
      const s = await new Promise<Socket | undefined>((resolve) => {
        const c = connect(path)
        c.once('connect', () => resolve(c))
        c.once('error', () => resolve(undefined))
      })
      if (s) {
        const q = new QmpClient(s)
        try {
          await q.#greeting(Math.max(1000, end - Date.now()))
          await q.execute('qmp_capabilities', undefined, Math.max(1000, end - Date.now()))
          return q
        } catch (e) {
          q.close()
          throw e
        }
      }
      if (Date.now() > end)
        throw new HostError('ERR_HOST_QMP', `QEMU's QMP socket did not open within ${timeoutMs} ms`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  #greetingWaiter: Pending | undefined

  #greeting(timeoutMs: number): Promise<unknown> {
    return withTimeout(
      new Promise((resolve, reject) => (this.#greetingWaiter = { resolve, reject })),
      timeoutMs,
      'QMP greeting',
    )
  }

  #data(d: string): void {
    this.#buf += d
    if (this.#buf.length > MAX_MESSAGE && !this.#buf.includes('\n')) {
      this.#fail(new HostError('ERR_HOST_QMP', 'QMP message too long'))
      this.#socket.destroy()
      return
    }
    let nl: number
    while ((nl = this.#buf.indexOf('\n')) >= 0) {
      const line = this.#buf.slice(0, nl).trim()
      this.#buf = this.#buf.slice(nl + 1)
      if (line.length === 0) continue
      let m: Record<string, unknown>
      try {
        m = JSON.parse(line) as Record<string, unknown>
      } catch {
        continue
      }
      if ('QMP' in m) {
        this.#greetingWaiter?.resolve(m.QMP)
        this.#greetingWaiter = undefined
      } else if (typeof m.event === 'string') this.onEvent?.(m.event, m.data)
      else if (typeof m.id === 'number') {
        const p = this.#pending.get(m.id)
        if (!p) continue
        this.#pending.delete(m.id)
        if ('error' in m) {
          const e = m.error as { class?: string; desc?: string }
          p.reject(
            new HostError(
              'ERR_HOST_QMP',
              `QEMU refused: ${String(e.desc ?? e.class).slice(0, 200)}`,
            ),
          )
        } else p.resolve(m.return)
      }
    }
  }

  #fail(e: Error): void {
    this.#closed = true
    this.#greetingWaiter?.reject(e)
    this.#greetingWaiter = undefined
    for (const p of this.#pending.values()) p.reject(e)
    this.#pending.clear()
  }

  /** Run one QMP command; rejects on QEMU's error, a closed socket or after `timeoutMs`. */
  execute(command: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<unknown> {
    if (this.#closed) return Promise.reject(new HostError('ERR_HOST_QMP', 'QMP connection closed'))
    const id = this.#next++
    const p = new Promise<unknown>((resolve, reject) => this.#pending.set(id, { resolve, reject }))
    this.#socket.write(
      `${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`,
    )
    return withTimeout(p, timeoutMs, `QMP ${command}`).finally(() => this.#pending.delete(id))
  }

  close(): void {
    this.#closed = true
    this.#socket.destroy()
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new HostError('ERR_HOST_QMP', `${what}: no answer within ${ms} ms`)),
        ms,
      )
    }),
  ]).finally(() => clearTimeout(timer))
}
