import { connect, type Socket } from 'node:net'
import { NbdError } from '../errors.js'
import {
  CLIENT_FLAG,
  CMD,
  CMD_FLAG,
  HANDSHAKE_FLAG,
  INFO,
  NBD_ERR,
  OPT,
  REP,
  SIZE,
  nameOf,
} from '../protocol/constants.js'
import { decode, encode } from '../protocol/layout.js'
import {
  ClientFlags,
  ExportNameReply,
  InfoBlockSize,
  InfoExport,
  OptionHeader,
  OptionReplyHeader,
  Request,
  ServerGreeting,
  SimpleReply,
} from '../protocol/messages.js'

/** Reads exact byte counts from a socket (the client side is not performance critical). */
class ByteReader {
  readonly #chunks: Buffer[] = []
  #length = 0
  #waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined
  #error: Error | undefined

  constructor(s: Socket) {
    s.on('data', (c: Buffer) => {
      this.#chunks.push(c)
      this.#length += c.length
      this.#check()
    })
    const gone = (): void =>
      this.fail(new NbdError('ERR_NBD_CLOSED', 'NBD server closed the connection'))
    s.on('end', gone)
    s.on('close', gone)
    s.on('error', (e) =>
      this.fail(new NbdError('ERR_NBD_CLOSED', `NBD socket: ${e.message}`, { cause: e })),
    )
  }

  fail(e: Error): void {
    this.#error ??= e
    const w = this.#waiter
    this.#waiter = undefined
    w?.reject(this.#error)
  }

  exact(n: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.#waiter = { n, resolve, reject }
      this.#check()
    })
  }

  #check(): void {
    const w = this.#waiter
    if (w === undefined) return
    if (this.#length >= w.n) {
      const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks)
      this.#chunks.length = 0
      const out = all.subarray(0, w.n)
      if (all.length > w.n) this.#chunks.push(all.subarray(w.n))
      this.#length -= w.n
      this.#waiter = undefined
      w.resolve(out)
    } else if (this.#error !== undefined) {
      this.#waiter = undefined
      w.reject(this.#error)
    }
  }
}

export interface NbdClientOptions {
  readonly exportName?: string
  /** Handshake and per-request timeout (default 30 s). */
  readonly timeoutMs?: number
  /** Use NBD_OPT_EXPORT_NAME (no error replies) instead of NBD_OPT_GO. */
  readonly exportNameOption?: boolean
}

export interface NbdReply {
  /** NBD error value, 0 on success. */
  readonly error: number
  /** READ data on success. */
  readonly data?: Buffer
}

interface Outstanding {
  readonly type: number
  readonly length: number
  readonly resolve: (r: NbdReply) => void
  readonly reject: (e: Error) => void
  readonly timer: NodeJS.Timeout
}

/**
 * A small NBD client (fixed newstyle, NBD_OPT_GO or NBD_OPT_EXPORT_NAME, simple replies) for tests
 * and tools: requests may be pipelined, replies are matched by cookie.
 */
export class NbdClient {
  readonly size: number
  readonly flags: number
  readonly blockSize:
    { readonly minimum: number; readonly preferred: number; readonly maximum: number } | undefined
  readonly #s: Socket
  readonly #r: ByteReader
  readonly #timeoutMs: number
  readonly #outstanding = new Map<bigint, Outstanding>()
  #cookie = 1n
  #dead: Error | undefined

  private constructor(
    s: Socket,
    r: ByteReader,
    info: { size: number; flags: number; blockSize: NbdClient['blockSize'] },
    timeoutMs: number,
  ) {
    this.#s = s
    this.#r = r
    this.size = info.size
    this.flags = info.flags
    this.blockSize = info.blockSize
    this.#timeoutMs = timeoutMs
    void this.#loop()
  }

  /** Connect to a unix socket path (or use a connected socket) and negotiate the export. */
  static async connect(target: string | Socket, o: NbdClientOptions = {}): Promise<NbdClient> {
    const timeoutMs = o.timeoutMs ?? 30_000
    const s = typeof target === 'string' ? connect(target) : target
    const r = new ByteReader(s)
    const timer = setTimeout(
      () => r.fail(new NbdError('ERR_NBD_TIMEOUT', 'NBD handshake timed out')),
      timeoutMs,
    )
    try {
      const info = await handshake(s, r, o.exportName ?? '', o.exportNameOption ?? false)
      return new NbdClient(s, r, info, timeoutMs)
    } catch (e) {
      s.destroy()
      throw e
    } finally {
      clearTimeout(timer)
    }
  }

  /** Send one request; resolves with the reply (an error value is not an exception here). */
  request(
    type: number,
    a: { flags?: number; offset?: number; length?: number; payload?: Uint8Array } = {},
  ): Promise<NbdReply> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead)
    const cookie = this.#cookie++
    const length = a.length ?? a.payload?.length ?? 0
    const hdr = encode(Request, {
      flags: a.flags ?? 0,
      type,
      cookie,
      offset: a.offset ?? 0,
      length,
    })
    return new Promise<NbdReply>((resolve, reject) => {
      if (type !== CMD.DISC) {
        const timer = setTimeout(() => {
          this.#outstanding.delete(cookie)
          reject(new NbdError('ERR_NBD_TIMEOUT', `NBD ${nameOf(CMD, type)} got no reply in time`))
        }, this.#timeoutMs)
        this.#outstanding.set(cookie, { type, length, resolve, reject, timer })
      }
      this.#s.cork()
      this.#s.write(hdr)
      if (a.payload !== undefined && a.payload.length > 0) this.#s.write(a.payload)
      this.#s.uncork()
      if (type === CMD.DISC) resolve({ error: 0 })
    })
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const r = await this.request(CMD.READ, { offset, length })
    check(r, 'READ')
    return r.data ?? Buffer.alloc(0)
  }

  async write(offset: number, data: Uint8Array, o: { fua?: boolean } = {}): Promise<void> {
    check(
      await this.request(CMD.WRITE, { offset, payload: data, flags: o.fua ? CMD_FLAG.FUA : 0 }),
      'WRITE',
    )
  }

  async flush(): Promise<void> {
    check(await this.request(CMD.FLUSH), 'FLUSH')
  }

  async trim(offset: number, length: number): Promise<void> {
    check(await this.request(CMD.TRIM, { offset, length }), 'TRIM')
  }

  async writeZeroes(
    offset: number,
    length: number,
    o: { noHole?: boolean; fua?: boolean } = {},
  ): Promise<void> {
    const flags = (o.noHole ? CMD_FLAG.NO_HOLE : 0) | (o.fua ? CMD_FLAG.FUA : 0)
    check(await this.request(CMD.WRITE_ZEROES, { offset, length, flags }), 'WRITE_ZEROES')
  }

  /** NBD_CMD_DISC, then wait (bounded) for the server to close. */
  async disconnect(): Promise<void> {
    if (this.#s.destroyed) return
    const closed = new Promise<void>((r) => this.#s.once('close', () => r()))
    await this.request(CMD.DISC).catch(() => undefined)
    this.#s.end()
    const t = setTimeout(() => this.#s.destroy(), this.#timeoutMs)
    await closed
    clearTimeout(t)
  }

  /** Drop the connection without NBD_CMD_DISC. */
  destroy(): void {
    this.#s.destroy()
  }

  async #loop(): Promise<void> {
    try {
      for (;;) {
        const h = decode(SimpleReply, await this.#r.exact(SimpleReply.size))
        const o = this.#outstanding.get(h.cookie)
        if (o === undefined)
          throw new NbdError('ERR_NBD_PROTOCOL', 'NBD reply for a cookie not in flight', {
            details: { cookie: h.cookie.toString() },
          })
        this.#outstanding.delete(h.cookie)
        clearTimeout(o.timer)
        if (o.type === CMD.READ && h.error === 0 && o.length > 0)
          o.resolve({ error: 0, data: await this.#r.exact(o.length) })
        else o.resolve({ error: h.error })
      }
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e))
      this.#dead = err
      for (const o of this.#outstanding.values()) {
        clearTimeout(o.timer)
        o.reject(err)
      }
      this.#outstanding.clear()
      this.#s.destroy()
    }
  }
}

function check(r: NbdReply, what: string): void {
  if (r.error !== 0)
    throw new NbdError('ERR_NBD_REPLY', `NBD ${what} failed: ${nameOf(NBD_ERR, r.error)}`, {
      errno: r.error,
    })
}

async function handshake(
  s: Socket,
  r: ByteReader,
  name: string,
  exportNameOption: boolean,
): Promise<{ size: number; flags: number; blockSize: NbdClient['blockSize'] }> {
  const g = decode(ServerGreeting, await r.exact(ServerGreeting.size))
  if ((g.handshakeFlags & HANDSHAKE_FLAG.FIXED_NEWSTYLE) === 0)
    throw new NbdError('ERR_NBD_PROTOCOL', 'NBD server does not offer fixed newstyle')
  const noZeroes = (g.handshakeFlags & HANDSHAKE_FLAG.NO_ZEROES) !== 0
  s.write(
    encode(ClientFlags, {
      flags: CLIENT_FLAG.C_FIXED_NEWSTYLE | (noZeroes ? CLIENT_FLAG.C_NO_ZEROES : 0),
    }),
  )
  const nameBytes = Buffer.from(name)
  if (exportNameOption) {
    s.write(encode(OptionHeader, { option: OPT.EXPORT_NAME, length: nameBytes.length }))
    s.write(nameBytes)
    const e = decode(ExportNameReply, await r.exact(ExportNameReply.size))
    if (!noZeroes) await r.exact(SIZE.EXPORT_NAME_ZEROES)
    return { size: e.size, flags: e.flags, blockSize: undefined }
  }
  const data = Buffer.alloc(4 + nameBytes.length + 2 + 2)
  data.writeUInt32BE(nameBytes.length, 0)
  nameBytes.copy(data, 4)
  data.writeUInt16BE(1, 4 + nameBytes.length)
  data.writeUInt16BE(INFO.BLOCK_SIZE, 6 + nameBytes.length)
  s.write(encode(OptionHeader, { option: OPT.GO, length: data.length }))
  s.write(data)
  let exp: { size: number; flags: number } | undefined
  let blockSize: NbdClient['blockSize']
  for (;;) {
    const h = decode(OptionReplyHeader, await r.exact(OptionReplyHeader.size))
    if (h.length > 65536) throw new NbdError('ERR_NBD_PROTOCOL', 'NBD option reply too long')
    const body = h.length > 0 ? await r.exact(h.length) : Buffer.alloc(0)
    if (h.option !== OPT.GO)
      throw new NbdError('ERR_NBD_PROTOCOL', 'NBD option reply for another option')
    if (h.type === REP.ACK) break
    if (h.type === REP.INFO && body.length >= 2) {
      const t = body.readUInt16BE(0)
      if (t === INFO.EXPORT && body.length === InfoExport.size) exp = decode(InfoExport, body)
      if (t === INFO.BLOCK_SIZE && body.length === InfoBlockSize.size)
        blockSize = decode(InfoBlockSize, body)
      continue
    }
    if (h.type >= 0x80000000)
      throw new NbdError(
        'ERR_NBD_OPTION_REFUSED',
        `NBD_OPT_GO refused: ${nameOf(REP, h.type)} ${body.toString()}`,
        {
          details: { reply: nameOf(REP, h.type), message: body.toString() },
        },
      )
  }
  if (exp === undefined)
    throw new NbdError('ERR_NBD_PROTOCOL', 'NBD_OPT_GO succeeded without NBD_INFO_EXPORT')
  return { ...exp, blockSize }
}
