import { randomBytes } from 'node:crypto'
import { KmipError } from '../errors.js'
import {
  buildRequestMessage,
  parseResponseMessage,
  type RequestBatchItem,
  type ResponseBatchItem,
} from '../message/message.js'
import type { ProtocolVersion } from '../message/version.js'
import { ResultStatus } from '../tables/enums.js'
import { Tag } from '../tables/tags.js'
import { structure } from '../ttlv/build.js'
import { decodeTtlv } from '../ttlv/decode.js'
import { encodeTtlv } from '../ttlv/encode.js'
import type { TtlvItem } from '../ttlv/item.js'
import { KmipConnection } from './connection.js'
import { tlsConnectOptions, type KmipTlsOptions } from './tls.js'

/** One KMS server of a cluster. */
export interface KmipServerAddress {
  readonly host: string
  readonly port: number
}

/** Options for {@link KmipTransport} / KmipClient. */
export interface KmipClientOptions {
  /** Servers of the cluster in preference order; the next is tried on connect/timeout failure. */
  readonly servers: readonly KmipServerAddress[]
  readonly tls: KmipTlsOptions
  /** Protocol version put in request headers (default 1.4). */
  readonly version?: ProtocolVersion
  /** Per-request timeout in ms (default 10,000). */
  readonly timeoutMs?: number
  /** Connect + TLS handshake timeout in ms (default 5,000). */
  readonly connectTimeoutMs?: number
  /** Idle connections kept per server (default 4). */
  readonly poolSize?: number
  /** Largest response accepted (default 16 MiB). */
  readonly maxMessageBytes?: number
  /** Optional Authentication structure for request headers (e.g. username/password Credential). */
  readonly authentication?: TtlvItem
}

/** A request for one batch item. */
export interface BatchRequest {
  readonly operation: number
  readonly payload: TtlvItem
}

/**
 * Connection pool + failover + batching. `send` returns the batch items of the response in
 * request order (matched by Unique Batch Item ID when there are several). Failures to reach a
 * server (connect, TLS, timeout, connection lost before the answer) move on to the next server;
 * a KMIP-level failure is returned as is, never retried elsewhere.
 */
export class KmipTransport {
  readonly version: ProtocolVersion
  readonly #o: KmipClientOptions
  readonly #idle = new Map<number, KmipConnection[]>()
  #preferred = 0
  #closed = false

  constructor(options: KmipClientOptions) {
    if (options.servers.length === 0)
      throw new KmipError('ERR_KMIP_TLS_CONFIG', 'no KMS server given')
    // validate TLS settings up front
    tlsConnectOptions(options.tls, options.servers[0]!.host, options.servers[0]!.port)
    this.#o = options
    this.version = options.version ?? { major: 1, minor: 4 }
  }

  /** Index of the server that answered last (failover moves it). */
  get currentServer(): number {
    return this.#preferred
  }

  async #acquire(i: number): Promise<KmipConnection> {
    const idle = this.#idle.get(i) ?? []
    while (idle.length > 0) {
      const c = idle.pop()!
      if (c.alive) return c
    }
    const srv = this.#o.servers[i]!
    return KmipConnection.open(
      tlsConnectOptions(this.#o.tls, srv.host, srv.port),
      this.#o.connectTimeoutMs ?? 5000,
      this.#o.maxMessageBytes ?? 16 << 20,
    )
  }

  #release(i: number, c: KmipConnection): void {
    const idle = this.#idle.get(i) ?? []
    this.#idle.set(i, idle)
    if (!this.#closed && c.alive && idle.length < (this.#o.poolSize ?? 4)) idle.push(c)
    else c.close()
  }

  /** Sends one message with the given batch items; returns the response batch items in order. */
  async send(
    items: readonly BatchRequest[],
    version: ProtocolVersion = this.version,
  ): Promise<ResponseBatchItem[]> {
    if (this.#closed) throw new KmipError('ERR_KMIP_CLOSED', 'client is closed')
    const multi = items.length > 1
    const reqItems: RequestBatchItem[] = items.map((it) => ({
      operation: it.operation,
      payload: it.payload,
      ...(multi && { uniqueBatchItemId: randomBytes(8) }),
    }))
    const msg = encodeTtlv(
      buildRequestMessage({
        header: {
          protocolVersion: version,
          batchCount: items.length,
          ...(this.#o.authentication !== undefined && { authentication: this.#o.authentication }),
        },
        items: reqItems,
      }),
    )
    const n = this.#o.servers.length
    let last: unknown
    for (let k = 0; k < n; k++) {
      const i = (this.#preferred + k) % n
      // a pooled connection may have been closed by the server meanwhile: one fresh retry
      for (let attempt = 0; attempt < 2; attempt++) {
        let conn: KmipConnection
        try {
          conn = await this.#acquire(i)
        } catch (e) {
          last = e
          break
        }
        try {
          const raw = await conn.send(msg, this.#o.timeoutMs ?? 10_000)
          this.#release(i, conn)
          this.#preferred = i
          return matchResponse(reqItems, raw, this.#o.maxMessageBytes)
        } catch (e) {
          conn.close()
          last = e
          if (e instanceof KmipError && e.code === 'ERR_KMIP_CLOSED' && attempt === 0) continue
          if (
            e instanceof KmipError &&
            (e.code === 'ERR_KMIP_TIMEOUT' || e.code === 'ERR_KMIP_CLOSED')
          )
            break
          throw e
        }
      }
    }
    throw new KmipError(
      'ERR_KMIP_ALL_SERVERS_FAILED',
      `no KMS server of ${n} answered: ${(last as Error)?.message}`,
      {
        cause: last,
      },
    )
  }

  /** Sends one operation; throws ERR_KMIP_RESULT unless it succeeded; returns the payload. */
  async call(operation: number, payload: TtlvItem, version?: ProtocolVersion): Promise<TtlvItem> {
    const [r] = await this.send([{ operation, payload }], version)
    return payloadOf(r!)
  }

  /** Closes every pooled connection. */
  close(): void {
    this.#closed = true
    for (const list of this.#idle.values()) for (const c of list.splice(0)) c.close()
  }
}

/** The payload of a successful batch item, or ERR_KMIP_RESULT carrying the server's reason. */
export function payloadOf(r: ResponseBatchItem): TtlvItem {
  if (r.resultStatus !== ResultStatus.Success) {
    throw new KmipError(
      'ERR_KMIP_RESULT',
      `KMS answered ${r.resultStatus === ResultStatus.OperationFailed ? 'Operation Failed' : `status ${r.resultStatus}`}` +
        `${r.resultReason !== undefined ? ` (reason 0x${r.resultReason.toString(16)})` : ''}: ${r.resultMessage ?? ''}`,
      r.resultReason !== undefined ? { resultReason: r.resultReason } : {},
    )
  }
  return r.payload ?? structure(Tag.ResponsePayload, [])
}

function same(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a !== undefined && b !== undefined && Buffer.from(a).equals(Buffer.from(b))
}

function matchResponse(
  req: readonly RequestBatchItem[],
  raw: Uint8Array,
  max?: number,
): ResponseBatchItem[] {
  // the response may use tags newer than ours: decode leniently, the message parser checks shape
  const resp = parseResponseMessage(
    decodeTtlv(raw, { strict: false, ...(max !== undefined && { maxMessageBytes: max }) }),
  )
  if (req.length === 1) {
    // an error for an unparsable request may come back without the batch item details
    if (resp.items.length !== 1)
      throw new KmipError('ERR_KMIP_RESPONSE', `expected 1 batch item, got ${resp.items.length}`)
    return [resp.items[0]!]
  }
  // a whole-message failure (e.g. Invalid Message) comes back as one item without an ID
  const whole =
    resp.items.length === 1 && resp.items[0]!.uniqueBatchItemId === undefined
      ? resp.items[0]
      : undefined
  return req.map((q) => {
    const r = resp.items.find((x) => same(x.uniqueBatchItemId, q.uniqueBatchItemId)) ?? whole
    if (r === undefined)
      throw new KmipError(
        'ERR_KMIP_RESPONSE',
        'a batch item was not answered (Unique Batch Item ID missing)',
      )
    return r
  })
}
