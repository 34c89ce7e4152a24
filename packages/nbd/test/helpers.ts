import { mkdtempSync, rmSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NbdServer, type NbdBackend, type NbdEvent, type NbdServerOptions } from '../src/index.js'
import { openFileBackend, type FileBackend } from '../src/testing/index.js'
import { CLIENT_FLAG, INFO, OPT } from '../src/protocol/constants.js'
import { encode } from '../src/protocol/layout.js'
import { ClientFlags, OptionHeader, ServerGreeting } from '../src/protocol/messages.js'

/** A fresh 0700 folder (mkdtemp's mode) for sockets and images. */
export function tempDir(prefix = 'ward-nbd-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

export interface Running {
  readonly dir: string
  readonly path: string
  readonly uri: string
  readonly server: NbdServer
  readonly events: NbdEvent[]
  stop(): Promise<void>
}

/** An NbdServer on a unix socket in a fresh 0700 folder. */
export async function serve(backend: NbdBackend, o: NbdServerOptions = {}): Promise<Running> {
  const { dir, cleanup } = tempDir()
  const path = join(dir, 'nbd.sock')
  const events: NbdEvent[] = []
  const server = new NbdServer(backend, {
    ...o,
    onEvent: (e) => {
      events.push(e)
      o.onEvent?.(e)
    },
  })
  await server.listen(path)
  return {
    dir,
    path,
    uri: `nbd+unix:///?socket=${path}`,
    server,
    events,
    async stop() {
      await server.close({ timeoutMs: 2000 })
      cleanup()
    },
  }
}

/** A file-backed export of `size` bytes (sparse) in its own folder, served. */
export async function serveFile(
  size: number,
  o: NbdServerOptions = {},
): Promise<Running & { backend: FileBackend; image: string }> {
  const { dir, cleanup } = tempDir('ward-nbd-img-')
  const image = join(dir, 'disk.img')
  const backend = await openFileBackend(image, { create: { size } })
  const r = await serve(backend, o)
  return {
    ...r,
    backend,
    image,
    async stop() {
      await r.stop()
      await backend.close()
      cleanup()
    },
  }
}

/** In-memory backend with hooks, for unit tests. */
export function memoryBackend(
  size: number,
  hooks: Partial<Pick<NbdBackend, 'read' | 'write' | 'flush' | 'trim' | 'writeZeroes'>> & {
    readOnly?: boolean
  } = {},
): NbdBackend & { data: Buffer; calls: string[] } {
  const data = Buffer.alloc(size)
  const calls: string[] = []
  return {
    size,
    data,
    calls,
    readOnly: hooks.readOnly ?? false,
    read:
      hooks.read ??
      (async (offset, length) => {
        calls.push(`read ${offset} ${length}`)
        return Buffer.from(data.subarray(offset, offset + length))
      }),
    write:
      hooks.write ??
      (async (offset, d, { fua }) => {
        calls.push(`write ${offset} ${d.length}${fua ? ' fua' : ''}`)
        data.set(d, offset)
      }),
    flush:
      hooks.flush ??
      (async () => {
        calls.push('flush')
      }),
    trim:
      hooks.trim ??
      (async (offset, length) => {
        calls.push(`trim ${offset} ${length}`)
      }),
    ...(hooks.writeZeroes === undefined ? {} : { writeZeroes: hooks.writeZeroes }),
  }
}

/** Everything a raw peer got back: bytes until the server closed (or the deadline). */
export interface RawResult {
  readonly output: Buffer
  /** The server closed the connection before the deadline. */
  readonly closed: boolean
}

/**
 * Connect, send `input` (and half-close when `end`), collect the output until the server closes
 * or `ms` pass (then the socket is destroyed and `closed` is false).
 */
export function rawExchange(
  path: string,
  input: Uint8Array,
  o: { end?: boolean; ms?: number } = {},
): Promise<RawResult> {
  return new Promise((resolve) => {
    const s = connect(path)
    const out: Buffer[] = []
    let done = false
    const finish = (closed: boolean): void => {
      if (done) return
      done = true
      clearTimeout(t)
      s.destroy()
      resolve({ output: Buffer.concat(out), closed })
    }
    const t = setTimeout(() => finish(false), o.ms ?? 5000)
    s.on('data', (c: Buffer) => out.push(c))
    s.on('error', () => undefined)
    s.on('close', () => finish(true))
    s.write(input)
    if (o.end ?? true) s.end()
  })
}

/** Raw socket that waits for whole byte counts (for step-by-step protocol tests). */
export class RawPeer {
  readonly socket: Socket
  readonly #chunks: Buffer[] = []
  #length = 0
  #closed = false
  #wake: (() => void) | undefined

  private constructor(s: Socket) {
    this.socket = s
    s.on('data', (c: Buffer) => {
      this.#chunks.push(c)
      this.#length += c.length
      this.#wake?.()
    })
    s.on('error', () => undefined)
    s.on('close', () => {
      this.#closed = true
      this.#wake?.()
    })
  }

  static open(path: string): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = connect(path)
      s.once('connect', () => resolve(new RawPeer(s)))
      s.once('error', reject)
    })
  }

  get closed(): boolean {
    return this.#closed
  }

  send(b: Uint8Array): void {
    this.socket.write(b)
  }

  /** Exactly `n` bytes, or throws if the connection closes first or `ms` pass. */
  async read(n: number, ms = 5000): Promise<Buffer> {
    const end = Date.now() + ms
    while (this.#length < n) {
      if (this.#closed) throw new Error(`closed after ${this.#length} of ${n} bytes`)
      const left = end - Date.now()
      if (left <= 0) throw new Error(`timeout waiting for ${n} bytes (have ${this.#length})`)
      await new Promise<void>((r) => {
        const t = setTimeout(r, left)
        this.#wake = () => {
          clearTimeout(t)
          r()
        }
      })
      this.#wake = undefined
    }
    const out = Buffer.allocUnsafe(n)
    let at = 0
    while (at < n) {
      const c = this.#chunks[0]!
      const k = Math.min(c.length, n - at)
      c.copy(out, at, 0, k)
      at += k
      if (k === c.length) this.#chunks.shift()
      else this.#chunks[0] = c.subarray(k)
    }
    this.#length -= n
    return out
  }

  /** Resolves true when the server closes within `ms`. */
  async waitClosed(ms = 5000): Promise<boolean> {
    const end = Date.now() + ms
    while (!this.#closed && Date.now() < end) await new Promise((r) => setTimeout(r, 10))
    return this.#closed
  }

  /** Read the greeting and send client flags (fixed newstyle, no zeroes). */
  async greet(flags = CLIENT_FLAG.C_FIXED_NEWSTYLE | CLIENT_FLAG.C_NO_ZEROES): Promise<Buffer> {
    const g = await this.read(ServerGreeting.size)
    this.send(encode(ClientFlags, { flags }))
    return g
  }

  destroy(): void {
    this.socket.destroy()
  }
}

/** Option bytes: header + data. */
export function option(opt: number, data: Uint8Array = new Uint8Array(0)): Buffer {
  return Buffer.concat([encode(OptionHeader, { option: opt, length: data.length }), data])
}

/** NBD_OPT_GO / NBD_OPT_INFO data for `name` with information requests. */
export function goData(name = '', infos: readonly number[] = [INFO.BLOCK_SIZE]): Buffer {
  const n = Buffer.from(name)
  const b = Buffer.alloc(4 + n.length + 2 + 2 * infos.length)
  b.writeUInt32BE(n.length, 0)
  n.copy(b, 4)
  b.writeUInt16BE(infos.length, 4 + n.length)
  infos.forEach((t, i) => b.writeUInt16BE(t, 6 + n.length + 2 * i))
  return b
}

/** Greeting + client flags + NBD_OPT_GO: the bytes that put a raw peer in transmission. */
export function goPrefix(): Buffer {
  return Buffer.concat([
    encode(ClientFlags, { flags: CLIENT_FLAG.C_FIXED_NEWSTYLE | CLIENT_FLAG.C_NO_ZEROES }),
    option(OPT.GO, goData()),
  ])
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
