import type { Socket } from 'node:net'
import { NbdError, type NbdErrorCode } from '../errors.js'
import { checkRequest, type ExportLimits } from '../protocol/commands.js'
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
import { decode, encode, type Infer } from '../protocol/layout.js'
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
import { errnoOf, type NbdBackend } from './backend.js'
import { BufferPool } from './buffer-pool.js'
import { adoptForDirectReads } from './direct-read.js'
import type { ResolvedOptions } from './options.js'

/** Largest option data read into memory; longer options are skipped unread and refused TOO_BIG. */
export const MAX_OPTION_DATA = 4 + SIZE.MAX_STRING + 2 + 2 * 64
/** During the handshake, stop reading while this many reply bytes wait for the client. */
const HANDSHAKE_WRITE_HIGH = 64 * 1024
/** After the server ends a connection, how long the client has to read what is left. */
const CLOSE_LINGER_MS = 10_000
/** Largest zero buffer the WRITE_ZEROES fallback writes at once. */
const ZERO_CHUNK = 1024 * 1024
/**
 * Direct reads: bytes read at once while no WRITE payload is being received (headers, options;
 * the start of a payload that came with its header is copied from here).
 */
const STAGING_BYTES = 4096

/** What the connection needs from its server. */
export interface ConnectionHost {
  readonly backend: NbdBackend
  readonly options: ResolvedOptions
  readonly limits: ExportLimits
  readonly pool: BufferPool
  /** Exclusive mode: take the export for this connection; false when another holds it. */
  claim(c: Connection): boolean
  /** Called once when the connection has closed. */
  closed(c: Connection): void
}

type State =
  | 'flags' // waiting for the client flags
  | 'option' // option haggling
  | 'request' // transmission: waiting for a request header
  | 'payload' // transmission: reading a WRITE payload
  | 'discard' // dropping a refused WRITE's payload or an oversized option's data
  | 'closing' // no more input is read; in-flight requests finish, then the socket ends
  | 'closed'

type Header = Infer<typeof Request>

interface Pending {
  readonly h: Header
  readonly errno: number
  readonly cost: number
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

// a READ reply's header is written into the HEAD bytes of its pooled buffer
if (BufferPool.HEAD !== SimpleReply.size) throw new Error('BufferPool.HEAD must be a simple reply')

/**
 * One client connection: newstyle fixed handshake, then transmission with simple replies.
 * Memory per connection is bounded: input is read only while a request can be admitted (at most
 * `maxInflight` requests and `maxInflightBytes` payload bytes; a slot frees when its reply has been
 * handed to the kernel), option data is at most MAX_OPTION_DATA. A violation that leaves the stream
 * untrustworthy closes this connection only; nothing here throws out of an event handler.
 */
export class Connection {
  readonly id: number
  readonly #s: Socket
  readonly #host: ConnectionHost
  readonly #o: ResolvedOptions
  #state: State = 'flags'
  readonly #chunks: Buffer[] = []
  #head = 0
  #buffered = 0
  readonly #hdr = Buffer.alloc(Request.size)
  // option being read
  #opt: { option: number; data: Buffer; filled: number } | undefined
  #optionsSeen = 0
  #noZeroes = false
  // WRITE payload being read
  #payload: { p: Pending; buf: Buffer; parent: Buffer; filled: number } | undefined
  #discard = 0
  #afterDiscard: (() => void) | undefined
  #pending: Pending | undefined
  #inflight = 0
  #inflightBytes = 0
  #blocked = false
  #ended = false
  #handshaking = true
  #timer: NodeJS.Timeout | undefined
  #closeCode: NbdErrorCode | undefined
  readonly #done: Promise<void>
  #resolveDone!: () => void
  /** Direct reads (see direct-read.ts): the buffer for reads outside a payload, else undefined. */
  readonly #staging: Buffer | undefined

  /**
   * `direct`: `socket` was just accepted and has read nothing (pauseOnConnect); it is re-wrapped to
   * read into our buffers when Node allows it (see direct-read.ts).
   */
  constructor(id: number, socket: Socket, host: ConnectionHost, direct = false) {
    this.id = id
    this.#host = host
    let s = socket
    if (direct) {
      const staging = Buffer.allocUnsafeSlow(STAGING_BYTES)
      const adopted = adoptForDirectReads(socket, {
        target: () => this.#readTarget(staging),
        received: (n, buf) => this.#guard(() => this.#received(staging, n, buf)),
      })
      if (adopted !== undefined) {
        s = adopted
        this.#staging = staging
      }
    }
    this.#s = s
    this.#o = host.options
    this.#done = new Promise((r) => (this.#resolveDone = r))
    s.setNoDelay?.(true)
    s.on('data', (c: Buffer) => this.#guard(() => this.#onData(c)))
    s.on('end', () => this.#guard(() => this.#onEnd()))
    s.on('error', () => this.#closeWith('ERR_NBD_SOCKET'))
    s.on('close', () => this.#onClose())
    s.on('drain', () => this.#guard(() => this.#unblockHandshake()))
    if (direct) s.resume() // accepted paused (pauseOnConnect)
    this.#timer = setTimeout(
      () => this.#fail('ERR_NBD_HANDSHAKE_TIMEOUT'),
      this.#o.handshakeTimeoutMs,
    )
    this.#timer.unref()
    this.#emit({ type: 'open', connection: id, directReads: this.#staging !== undefined })
    this.#s.write(
      encode(ServerGreeting, {
        handshakeFlags: HANDSHAKE_FLAG.FIXED_NEWSTYLE | HANDSHAKE_FLAG.NO_ZEROES,
      }),
    )
  }

  /** Resolves once the socket has closed. */
  get done(): Promise<void> {
    return this.#done
  }

  get inTransmission(): boolean {
    return !this.#handshaking && this.#state !== 'closing' && this.#state !== 'closed'
  }

  /**
   * Server shutdown: a connection still in the handshake is closed; one in transmission reads no
   * more requests, finishes those in flight and then ends.
   */
  shutdown(): void {
    if (this.#state === 'closed') return
    if (this.#handshaking) return this.#fail('ERR_NBD_SHUTDOWN')
    this.#toClosing()
    this.#maybeFinish()
  }

  /** Close now, dropping replies still owed. */
  destroy(code: NbdErrorCode = 'ERR_NBD_SHUTDOWN'): void {
    this.#fail(code)
  }

  // ---------------------------------------------------------------- plumbing

  #emit(e: Parameters<ResolvedOptions['onEvent']>[0]): void {
    try {
      this.#o.onEvent(e)
    } catch {
      // a listener's failure is not the client's
    }
  }

  /** Run an event handler; an unexpected exception closes this connection, never the process. */
  #guard(fn: () => void): void {
    try {
      fn()
    } catch {
      this.#fail('ERR_NBD_INTERNAL')
    }
  }

  #fail(code: NbdErrorCode): void {
    this.#closeWith(code)
    this.#s.destroy()
  }

  #closeWith(code: NbdErrorCode): void {
    if (this.#state === 'closed') return
    this.#closeCode ??= code
    this.#state = 'closed'
    this.#dropInput()
  }

  #onClose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#state = 'closed'
    this.#dropInput()
    this.#payload = undefined
    this.#pending = undefined
    this.#emit(
      this.#closeCode === undefined
        ? { type: 'close', connection: this.id }
        : { type: 'close', connection: this.id, code: this.#closeCode },
    )
    this.#host.closed(this)
    this.#resolveDone()
  }

  #dropInput(): void {
    this.#chunks.length = 0
    this.#head = 0
    this.#buffered = 0
  }

  #onData(chunk: Buffer): void {
    if (this.#state === 'closing' || this.#state === 'closed') return
    this.#chunks.push(chunk)
    this.#buffered += chunk.length
    this.#pump()
  }

  /** Direct reads: a payload being received is read into its own buffer, the rest into staging. */
  #readTarget(staging: Buffer): Uint8Array {
    const p = this.#payload
    if (this.#state === 'payload' && p !== undefined && this.#buffered === 0)
      return p.buf.subarray(p.filled)
    return staging
  }

  #received(staging: Buffer, n: number, buf: Uint8Array): void {
    if (buf !== staging) {
      // straight into the payload: `buf` is the rest of #payload's buffer (#readTarget); once
      // the connection stopped reading input, what still arrives is dropped
      if (this.#state === 'closing' || this.#state === 'closed') return
      const p = this.#payload
      if (
        this.#state !== 'payload' ||
        p === undefined ||
        buf.buffer !== p.buf.buffer ||
        buf.byteOffset !== p.buf.byteOffset + p.filled ||
        n > p.buf.length - p.filled
      )
        return this.#fail('ERR_NBD_INTERNAL')
      p.filled += n
      this.#pump()
      return
    }
    this.#onData(staging.subarray(0, n))
    // staging is read into again next time: whatever is still buffered from it is copied out
    const last = this.#chunks.at(-1)
    if (last !== undefined && last.buffer === staging.buffer) {
      const from = this.#chunks.length === 1 ? this.#head : 0
      this.#chunks[this.#chunks.length - 1] = Buffer.from(last.subarray(from))
      if (this.#chunks.length === 1) this.#head = 0
    }
  }

  #onEnd(): void {
    this.#ended = true
    if (this.#handshaking) {
      // the client left during the handshake: nothing is owed to it
      this.#s.end()
      return
    }
    this.#pump()
  }

  /**
   * The client half-closed and everything buffered has been parsed: a WRITE cut short is dropped
   * unanswered, requests in flight finish, then the socket ends.
   */
  #inputEnded(): void {
    if (this.#payload !== undefined) {
      const { p } = this.#payload
      this.#payload = undefined
      this.#release(p.cost)
    }
    if (this.#state === 'discard' && this.#afterDiscard !== undefined) {
      // a refused WRITE whose payload never fully arrived: unanswered, its slot freed
      this.#afterDiscard = undefined
      this.#release(0)
    }
    this.#toClosing()
    this.#maybeFinish()
  }

  /**
   * The input can no longer be trusted (transmission phase): read nothing more, answer the requests
   * already in flight, then close. The client's earlier, valid requests are not lost.
   */
  #stopReading(code: NbdErrorCode): void {
    this.#closeCode ??= code
    this.#toClosing()
    this.#maybeFinish()
  }

  #toClosing(): void {
    if (this.#state === 'closed') return
    this.#state = 'closing'
    this.#dropInput() // and what still arrives is dropped on arrival (reading on sees the client's EOF)
    this.#pending = undefined
    this.#blocked = false
  }

  /** Copy `n` buffered bytes (n <= #buffered) into `target` at `at`. */
  #take(target: Uint8Array, at: number, n: number): void {
    let left = n
    while (left > 0) {
      const c = this.#chunks[0]!
      const k = Math.min(left, c.length - this.#head)
      target.set(c.subarray(this.#head, this.#head + k), at)
      at += k
      left -= k
      this.#head += k
      if (this.#head === c.length) {
        this.#chunks.shift()
        this.#head = 0
      }
    }
    this.#buffered -= n
  }

  #skip(n: number): void {
    let left = n
    while (left > 0) {
      const c = this.#chunks[0]!
      const k = Math.min(left, c.length - this.#head)
      left -= k
      this.#head += k
      if (this.#head === c.length) {
        this.#chunks.shift()
        this.#head = 0
      }
    }
    this.#buffered -= n
  }

  /** Parse whatever is buffered, as far as the state allows; then pause or resume the socket. */
  #pump(): void {
    while (!this.#blocked) {
      const before = this.#buffered
      const state = this.#state
      switch (state) {
        case 'flags':
          if (this.#buffered < ClientFlags.size) break
          this.#take(this.#hdr, 0, ClientFlags.size)
          this.#onClientFlags(decode(ClientFlags, this.#hdr).flags)
          break
        case 'option':
          this.#pumpOption()
          break
        case 'request':
          if (this.#buffered < Request.size) break
          this.#take(this.#hdr, 0, Request.size)
          this.#onRequest()
          break
        case 'payload': {
          const p = this.#payload!
          const n = Math.min(this.#buffered, p.buf.length - p.filled)
          this.#take(p.buf, p.filled, n)
          p.filled += n
          if (p.filled === p.buf.length) {
            this.#payload = undefined
            this.#state = 'request'
            this.#run(p.p, p.buf, p.parent)
          }
          break
        }
        case 'discard': {
          const n = Math.min(this.#buffered, this.#discard)
          this.#skip(n)
          this.#discard -= n
          if (this.#discard === 0) {
            const then = this.#afterDiscard!
            this.#afterDiscard = undefined
            then()
          }
          break
        }
        default:
          this.#dropInput()
      }
      if (this.#state === state && this.#buffered === before) break // no progress possible
    }
    if (this.#state === 'closed') return
    if (this.#ended && !this.#handshaking && !this.#blocked && this.#state !== 'closing')
      return this.#inputEnded()
    if (this.#blocked) this.#s.pause()
    else if (this.#s.isPaused()) this.#s.resume()
  }

  // ---------------------------------------------------------------- handshake

  #onClientFlags(flags: number): void {
    const known = CLIENT_FLAG.C_FIXED_NEWSTYLE | CLIENT_FLAG.C_NO_ZEROES
    // "the server MUST drop the TCP connection if the client sets an unknown flag"
    if ((flags & ~known) !== 0) return this.#fail('ERR_NBD_CLIENT_FLAGS')
    this.#noZeroes = (flags & CLIENT_FLAG.C_NO_ZEROES) !== 0
    this.#state = 'option'
  }

  #pumpOption(): void {
    if (this.#opt === undefined) {
      if (this.#buffered < OptionHeader.size) return
      this.#take(this.#hdr, 0, OptionHeader.size)
      let h
      try {
        h = decode(OptionHeader, this.#hdr)
      } catch {
        return this.#fail('ERR_NBD_BAD_MAGIC')
      }
      if (++this.#optionsSeen > this.#o.maxOptions) return this.#fail('ERR_NBD_TOO_MANY_OPTIONS')
      if (h.length > MAX_OPTION_DATA) {
        // skip it unread, then refuse it: bounded memory, and the stream stays in step
        const option = h.option
        this.#discard = h.length
        this.#afterDiscard = () => {
          this.#state = 'option'
          this.#emit({ type: 'refused', connection: this.id, code: 'ERR_NBD_OPTION_TOO_LARGE' })
          this.#optionReply(option, REP.ERR_TOO_BIG, 'option data too large')
        }
        this.#state = 'discard'
        return
      }
      this.#opt = { option: h.option, data: Buffer.allocUnsafe(h.length), filled: 0 }
    }
    const o = this.#opt
    const n = Math.min(this.#buffered, o.data.length - o.filled)
    this.#take(o.data, o.filled, n)
    o.filled += n
    if (o.filled < o.data.length) return
    this.#opt = undefined
    this.#onOption(o.option, o.data)
    if (this.#state === 'option' && this.#s.writableLength > HANDSHAKE_WRITE_HIGH)
      this.#blocked = true
  }

  #unblockHandshake(): void {
    if (this.#state !== 'option' || !this.#blocked) return
    this.#blocked = false
    this.#pump()
  }

  #optionReply(option: number, type: number, data?: Uint8Array | string): void {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data
    const h = encode(OptionReplyHeader, { option, type, length: bytes?.length ?? 0 })
    if (bytes === undefined || bytes.length === 0) this.#s.write(h)
    else {
      this.#s.cork()
      this.#s.write(h)
      this.#s.write(bytes)
      this.#s.uncork()
    }
  }

  #exportNamed(name: string): boolean {
    return name === '' || name === this.#o.exportName
  }

  #onOption(option: number, data: Buffer): void {
    switch (option) {
      case OPT.EXPORT_NAME: {
        let name: string
        try {
          name = utf8.decode(data)
        } catch {
          return this.#fail('ERR_NBD_EXPORT_UNKNOWN')
        }
        // this option cannot be answered with an error: "the server MUST terminate the session"
        if (!this.#exportNamed(name)) return this.#fail('ERR_NBD_EXPORT_UNKNOWN')
        if (!this.#host.claim(this)) return this.#fail('ERR_NBD_BUSY')
        const reply = encode(
          ExportNameReply,
          { size: this.#o.size, flags: this.#o.transmissionFlags },
          new Uint8Array(ExportNameReply.size + (this.#noZeroes ? 0 : SIZE.EXPORT_NAME_ZEROES)),
        )
        this.#s.write(reply)
        return this.#enterTransmission()
      }
      case OPT.ABORT:
        // "The server MUST reply with NBD_REP_ACK"; the client then drops the connection
        this.#optionReply(option, REP.ACK)
        this.#toClosing()
        return this.#maybeFinish()
      case OPT.LIST: {
        if (data.length !== 0)
          return this.#optionReply(option, REP.ERR_INVALID, 'LIST takes no data')
        const name = Buffer.from(this.#o.exportName)
        const server = Buffer.allocUnsafe(4 + name.length)
        server.writeUInt32BE(name.length, 0)
        name.copy(server, 4)
        this.#optionReply(option, REP.SERVER, server)
        return this.#optionReply(option, REP.ACK)
      }
      case OPT.INFO:
      case OPT.GO:
        return this.#onInfoOrGo(option, data)
      default:
        // STARTTLS (NOTLS mode), STRUCTURED_REPLY, META_CONTEXT, EXTENDED_HEADERS, unknown ones
        return this.#optionReply(
          option,
          REP.ERR_UNSUP,
          `option ${nameOf(OPT, option)} not supported`,
        )
    }
  }

  #onInfoOrGo(option: number, data: Buffer): void {
    // data: 32 bits name length, name, 16 bits count, count x 16 bits information requests
    if (data.length < 6) return this.#optionReply(option, REP.ERR_INVALID, 'option data too short')
    const nameLen = data.readUInt32BE(0)
    if (nameLen > data.length - 6)
      return this.#optionReply(option, REP.ERR_INVALID, 'name length beyond option data')
    const count = data.readUInt16BE(4 + nameLen)
    if (data.length !== 4 + nameLen + 2 + 2 * count)
      return this.#optionReply(option, REP.ERR_INVALID, 'information request count mismatch')
    let name: string
    try {
      name = utf8.decode(data.subarray(4, 4 + nameLen))
    } catch {
      return this.#optionReply(option, REP.ERR_INVALID, 'export name is not UTF-8')
    }
    if (!this.#exportNamed(name))
      return this.#optionReply(option, REP.ERR_UNKNOWN, 'no such export')
    const wanted = new Set<number>()
    for (let i = 0; i < count; i++) wanted.add(data.readUInt16BE(4 + nameLen + 2 + 2 * i))
    if (option === OPT.GO && !this.#host.claim(this)) {
      this.#emit({ type: 'refused', connection: this.id, code: 'ERR_NBD_BUSY' })
      return this.#optionReply(option, REP.ERR_POLICY, 'export in use by another client')
    }
    this.#s.cork()
    this.#optionReply(
      option,
      REP.INFO,
      encode(InfoExport, { size: this.#o.size, flags: this.#o.transmissionFlags }),
    )
    // sent whether or not asked: a client that did not ask may ignore it ("Option types")
    this.#optionReply(
      option,
      REP.INFO,
      encode(InfoBlockSize, {
        minimum: this.#o.minBlock,
        preferred: this.#o.preferredBlock,
        maximum: this.#o.maxPayload,
      }),
    )
    if (wanted.has(INFO.NAME))
      this.#optionReply(option, REP.INFO, infoString(INFO.NAME, this.#o.exportName))
    if (wanted.has(INFO.DESCRIPTION) && this.#o.description !== undefined)
      this.#optionReply(option, REP.INFO, infoString(INFO.DESCRIPTION, this.#o.description))
    this.#optionReply(option, REP.ACK)
    this.#s.uncork()
    if (option === OPT.GO) this.#enterTransmission()
  }

  #enterTransmission(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#handshaking = false
    this.#state = 'request'
    this.#blocked = false
    this.#emit({ type: 'ready', connection: this.id, flags: this.#o.transmissionFlags })
  }

  // ---------------------------------------------------------------- transmission

  #onRequest(): void {
    let h: Header
    try {
      h = decode(Request, this.#hdr)
    } catch {
      return this.#stopReading('ERR_NBD_BAD_MAGIC') // the stream cannot be re-synchronised
    }
    if (h.type === CMD.WRITE && h.length > this.#o.maxPayload)
      return this.#stopReading('ERR_NBD_PAYLOAD_TOO_LARGE') // its payload cannot be skipped safely
    if (h.type === CMD.DISC) {
      // "The server MUST handle all outstanding requests ... and close"; no reply
      this.#toClosing()
      return this.#maybeFinish()
    }
    const errno = checkRequest(h, this.#host.limits)
    const cost = errno === 0 && (h.type === CMD.READ || h.type === CMD.WRITE) ? h.length : 0
    const p: Pending = { h, errno, cost }
    if (!this.#admit(p)) {
      this.#pending = p
      this.#blocked = true
      return
    }
    this.#start(p)
  }

  #admit(p: Pending): boolean {
    if (this.#inflight >= this.#o.maxInflight) return false
    return this.#inflight === 0 || this.#inflightBytes + p.cost <= this.#o.maxInflightBytes
  }

  #start(p: Pending): void {
    this.#inflight++
    this.#inflightBytes += p.cost
    const { h } = p
    if (h.type === CMD.WRITE && h.length > 0) {
      if (p.errno !== 0) {
        // refused, but its payload is in the stream: skip it, then answer (a request cut short
        // by the end of input is never answered)
        this.#discard = h.length
        this.#afterDiscard = () => {
          this.#state = 'request'
          this.#reply(h.cookie, p.errno, undefined, p.cost)
        }
        this.#state = 'discard'
        return
      }
      const parent = this.#host.pool.take(h.length)
      this.#payload = { p, buf: parent.subarray(0, h.length), parent, filled: 0 }
      this.#state = 'payload'
      return
    }
    if (p.errno !== 0) return this.#reply(h.cookie, p.errno, undefined, p.cost)
    this.#run(p, undefined, undefined)
  }

  /** Serve one checked request; always ends in exactly one reply (or none when closed). */
  #run(p: Pending, payload: Buffer | undefined, payloadParent: Buffer | undefined): void {
    const { h } = p
    const fua = (h.flags & CMD_FLAG.FUA) !== 0
    const b = this.#host.backend
    const pool = this.#host.pool
    let work: Promise<unknown>
    // readInto: the pooled buffer, read at BufferPool.HEAD; its reply header goes in front of it
    let into: Buffer | undefined
    try {
      switch (h.type) {
        case CMD.READ:
          if (h.length === 0) work = Promise.resolve(undefined)
          else if (b.readInto === undefined) work = b.read(h.offset, h.length)
          else {
            into = pool.take(h.length)
            work = b.readInto(h.offset, into.subarray(BufferPool.HEAD, BufferPool.HEAD + h.length))
          }
          break
        // what these resolve to is ignored (only a READ's result is sent)
        case CMD.WRITE:
          work =
            h.length === 0
              ? fua
                ? b.flush()
                : Promise.resolve(undefined)
              : b.write(h.offset, payload!, { fua })
          break
        case CMD.FLUSH:
          work = b.flush()
          break
        case CMD.TRIM:
          work = h.length === 0 ? Promise.resolve(undefined) : b.trim!(h.offset, h.length, { fua })
          break
        case CMD.WRITE_ZEROES:
          work =
            h.length === 0
              ? Promise.resolve(undefined)
              : writeZeroes(b, h.offset, h.length, fua, (h.flags & CMD_FLAG.NO_HOLE) !== 0)
          break
        default:
          work = Promise.reject(new NbdError('ERR_NBD_INTERNAL', 'unchecked command'))
      }
    } catch (e) {
      work = Promise.reject(e)
    }
    work.then(
      (result) => {
        if (payloadParent !== undefined) pool.give(payloadParent)
        if (into !== undefined) return this.#replyRead(h.cookie, into, h.length, p.cost)
        if (h.type !== CMD.READ) return this.#reply(h.cookie, 0, undefined, p.cost)
        const data = result as Uint8Array | undefined
        if (h.length > 0 && data?.length !== h.length) {
          this.#backendError(h.type, NBD_ERR.EIO, 'short read')
          return this.#reply(h.cookie, NBD_ERR.EIO, undefined, p.cost)
        }
        this.#reply(h.cookie, 0, data, p.cost)
      },
      (e: unknown) => {
        if (payloadParent !== undefined) pool.give(payloadParent)
        if (into !== undefined) pool.give(into) // the backend is done with it: nothing was sent
        const errno = errnoOf(e)
        this.#backendError(h.type, errno, errorCode(e))
        this.#reply(h.cookie, errno, undefined, p.cost)
      },
    )
  }

  #backendError(type: number, errno: number, cause: string): void {
    this.#emit({
      type: 'backend-error',
      connection: this.id,
      command: nameOf(CMD, type),
      errno: nameOf(NBD_ERR, errno),
      cause,
    })
  }

  #reply(cookie: bigint, error: number, data: Uint8Array | undefined, cost: number): void {
    if (this.#state === 'closed' || this.#s.destroyed) return this.#release(cost)
    const hdr = encode(SimpleReply, { error, cookie }, Buffer.allocUnsafe(SimpleReply.size))
    const done = (): void => this.#guard(() => this.#release(cost))
    if (data === undefined || data.length === 0) {
      this.#s.write(hdr, done)
      return
    }
    this.#s.cork()
    this.#s.write(hdr)
    this.#s.write(data, done)
    this.#s.uncork()
  }

  /**
   * A successful readInto: the header is written into the pooled buffer's HEAD bytes, in front of
   * the data, and both leave in one socket write. The buffer goes back to the pool once the
   * socket is done with it.
   */
  #replyRead(cookie: bigint, buf: Buffer, length: number, cost: number): void {
    const pool = this.#host.pool
    if (this.#state === 'closed' || this.#s.destroyed) {
      pool.give(buf)
      return this.#release(cost)
    }
    encode(SimpleReply, { error: 0, cookie }, buf.subarray(0, BufferPool.HEAD))
    this.#s.write(buf.subarray(0, BufferPool.HEAD + length), (err?: Error | null) => {
      // after a failed write the kernel may not be done with the buffer: let GC have it instead
      if (err === undefined || err === null) pool.give(buf)
      this.#guard(() => this.#release(cost))
    })
  }

  #release(cost: number): void {
    this.#inflight--
    this.#inflightBytes -= cost
    const p = this.#pending
    if (p !== undefined && this.#state !== 'closed' && this.#admit(p)) {
      this.#pending = undefined
      this.#blocked = false
      this.#start(p)
      this.#pump()
    }
    this.#maybeFinish()
  }

  #maybeFinish(): void {
    if (this.#state !== 'closing' || this.#inflight !== 0) return
    this.#state = 'closed'
    this.#s.end()
    // a client that never reads the last replies does not keep the connection open
    setTimeout(() => this.#s.destroy(), CLOSE_LINGER_MS).unref()
  }
}

function infoString(type: number, s: string): Buffer {
  const b = Buffer.from(`\0\0${s}`)
  b.writeUInt16BE(type, 0)
  return b
}

function errorCode(e: unknown): string {
  const c = (e as { code?: unknown } | null)?.code
  return typeof c === 'string' ? c : e instanceof Error ? e.name : 'unknown'
}

async function writeZeroes(
  b: NbdBackend,
  offset: number,
  length: number,
  fua: boolean,
  noHole: boolean,
): Promise<void> {
  if (b.writeZeroes !== undefined) return b.writeZeroes(offset, length, { fua, noHole })
  // fallback: zeroes through write (fresh buffers: a backend may transform what it is given)
  for (let done = 0; done < length;) {
    const n = Math.min(ZERO_CHUNK, length - done)
    await b.write(offset + done, Buffer.alloc(n), { fua: false })
    done += n
  }
  if (fua) await b.flush()
}
