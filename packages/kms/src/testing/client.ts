/**
 * A minimal KMIP client over mTLS for tests and the benchmark (raw TTLV, one request in flight
 * per connection). Production clients use @ward/kmip's client.
 */
import { connect } from 'node:tls'
import type { TLSSocket } from 'node:tls'
import { randomBytes } from 'node:crypto'
import {
  bytes,
  enumeration,
  find,
  findAll,
  int,
  optionalValue,
  structure,
  Tag,
  decodeTtlv,
  encodeTtlv,
} from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'

export interface ClientTls {
  readonly ca: string | Buffer
  readonly cert: string | Buffer
  readonly key: string | Buffer
}

export interface BatchResult {
  readonly operation: number | undefined
  readonly batchId: Uint8Array | undefined
  readonly status: number
  readonly reason: number | undefined
  readonly message: string | undefined
  readonly payload: TtlvItem | undefined
}

export class KmipTestClient {
  readonly #sock: TLSSocket
  #buf: Buffer = Buffer.alloc(0)
  #waiters: ((b: Buffer | Error) => void)[] = []
  #closed = false
  major = 1
  minor = 4

  private constructor(sock: TLSSocket) {
    this.#sock = sock
    sock.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d])
      while (this.#buf.length >= 8) {
        const len = 8 + this.#buf.readUInt32BE(4)
        if (this.#buf.length < len) break
        const msg = this.#buf.subarray(0, len)
        this.#buf = this.#buf.subarray(len)
        this.#waiters.shift()?.(msg)
      }
    })
    const fail = (e: Error) => {
      this.#closed = true
      for (const w of this.#waiters.splice(0)) w(e)
    }
    sock.on('error', fail)
    sock.on('close', () => fail(new Error('connection closed')))
  }

  static connect(port: number, tls: ClientTls, host = '127.0.0.1'): Promise<KmipTestClient> {
    return new Promise((resolve, reject) => {
      const sock = connect(
        { host, port, ca: tls.ca, cert: tls.cert, key: tls.key, servername: 'localhost' },
        () => {
          sock.setNoDelay(true)
          resolve(new KmipTestClient(sock))
        },
      )
      sock.once('error', reject)
    })
  }

  /** Send raw bytes and wait for one framed response. */
  sendRaw(wire: Uint8Array): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      if (this.#closed) {
        reject(new Error('connection closed'))
        return
      }
      this.#waiters.push((b) => (b instanceof Error ? reject(b) : resolve(b)))
      this.#sock.write(wire)
    })
  }

  /** Build and send a request with the given batch items; returns decoded batch results. */
  async batch(
    items: readonly { op: number; payload: TtlvItem; id?: Uint8Array }[],
    headerExtra: TtlvItem[] = [],
  ): Promise<BatchResult[]> {
    const msg = structure(Tag.RequestMessage, [
      structure(Tag.RequestHeader, [
        structure(Tag.ProtocolVersion, [
          int(Tag.ProtocolVersionMajor, this.major),
          int(Tag.ProtocolVersionMinor, this.minor),
        ]),
        ...headerExtra,
        int(Tag.BatchCount, items.length),
      ]),
      ...items.map((it) =>
        structure(Tag.BatchItem, [
          enumeration(Tag.Operation, it.op),
          it.id !== undefined
            ? bytes(Tag.UniqueBatchItemID, it.id)
            : items.length > 1
              ? bytes(Tag.UniqueBatchItemID, randomBytes(4))
              : undefined,
          it.payload,
        ]),
      ),
    ])
    const res = decodeTtlv(await this.sendRaw(encodeTtlv(msg)))
    return parseResponse(res)
  }

  /** One operation; throws on failure with the result reason and message. */
  async call(op: number, payload: TtlvItem): Promise<TtlvItem | undefined> {
    const [r] = await this.batch([{ op, payload }])
    if (r === undefined) throw new Error('empty response')
    if (r.status !== 0)
      throw Object.assign(new Error(`KMIP failure reason ${r.reason}: ${r.message}`), {
        reason: r.reason,
      })
    return r.payload
  }

  /** True once the server (or this side) closed the connection. */
  get closed(): boolean {
    return this.#closed
  }

  close(): void {
    this.#sock.end()
    this.#sock.destroy()
  }
}

export function parseResponse(res: TtlvItem): BatchResult[] {
  return findAll(res, Tag.BatchItem).map((b) => ({
    operation: optionalValue(b, Tag.Operation, 'Enumeration'),
    batchId: optionalValue(b, Tag.UniqueBatchItemID, 'ByteString'),
    status: optionalValue(b, Tag.ResultStatus, 'Enumeration') ?? -1,
    reason: optionalValue(b, Tag.ResultReason, 'Enumeration'),
    message: optionalValue(b, Tag.ResultMessage, 'TextString'),
    payload: find(b, Tag.ResponsePayload),
  }))
}
