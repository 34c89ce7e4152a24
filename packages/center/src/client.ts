/**
 * The typed client of the center's REST API, checked against the operation table at compile
 * time: `call('datacenter.create', { body: { name } })` takes exactly the operation's params,
 * query and body and resolves to its response type. HTTPS with the center's CA (or plain HTTP to
 * a test server); a session id or an API token authenticates.
 */
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { CenterError } from './errors.js'
import { operations, type OperationId, type Operations } from './api/operations.js'
import { SESSION_HEADER } from './api/server.js'
import type { AnyOp, InputOf, OutputOf } from './api/spec.js'

type Defined<T> = { [K in keyof T as T[K] extends undefined ? never : K]: T[K] }
/** What a caller passes: the operation's params, query and body that it has (query optional). */
export type CallInput<K extends OperationId> = Omit<Defined<InputOf<Operations[K]>>, 'query'> &
  Partial<Pick<Defined<InputOf<Operations[K]>>, 'query' & keyof Defined<InputOf<Operations[K]>>>>

export interface ClientOptions {
  readonly url: string
  /** The center's CA certificate (PEM): the only CA trusted for HTTPS. */
  readonly ca?: string
  readonly sessionId?: string
  readonly token?: string
  /** Basic auth for session.create. */
  readonly basic?: { readonly user: string; readonly password: string }
  readonly timeoutMs?: number
}

/** An error answer of the API: its code, status and message, as the center sent them. */
export class ApiError extends CenterError {
  readonly status: number
  readonly apiCode: string
  constructor(status: number, apiCode: string, message: string) {
    super('ERR_CENTER_API', `${message} (${apiCode}, HTTP ${status})`, { status, apiCode })
    this.status = status
    this.apiCode = apiCode
  }
}

export class CenterClient {
  readonly #o: ClientOptions
  constructor(o: ClientOptions) {
    this.#o = o
  }

  async call<K extends OperationId>(id: K, input: CallInput<K>): Promise<OutputOf<Operations[K]>> {
    const op = operations[id] as AnyOp
    const i = input as {
      params?: Record<string, string>
      query?: Record<string, string>
      body?: unknown
    }
    const path = op.url.replace(/:([A-Za-z_]+)/g, (_, k: string) =>
      encodeURIComponent(i.params?.[k] ?? ''),
    )
    const q = new URLSearchParams(i.query ?? {}).toString()
    const url = new URL(`${path}${q === '' ? '' : `?${q}`}`, this.#o.url)
    const headers: Record<string, string> = { accept: 'application/json' }
    if (this.#o.sessionId !== undefined) headers[SESSION_HEADER] = this.#o.sessionId
    else if (this.#o.token !== undefined) headers['authorization'] = `Bearer ${this.#o.token}`
    else if (this.#o.basic !== undefined)
      headers['authorization'] =
        `Basic ${Buffer.from(`${this.#o.basic.user}:${this.#o.basic.password}`).toString('base64')}`
    const payload = i.body !== undefined ? Buffer.from(JSON.stringify(i.body)) : undefined
    if (payload !== undefined) headers['content-type'] = 'application/json'
    const { status, body } = await this.#send(url, op.method, headers, payload)
    const json = body.length === 0 ? null : (JSON.parse(body.toString('utf8')) as unknown)
    if (status >= 400) {
      const e = json as { code?: string; messages?: { default_message?: string }[] } | null
      throw new ApiError(
        status,
        e?.code ?? 'unknown',
        e?.messages?.[0]?.default_message ?? `HTTP ${status}`,
      )
    }
    return json as OutputOf<Operations[K]>
  }

  #send(
    url: URL,
    method: string,
    headers: Record<string, string>,
    payload: Buffer | undefined,
  ): Promise<{ status: number; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(
        url,
        {
          method,
          headers,
          ...(this.#o.ca !== undefined ? { ca: this.#o.ca } : {}),
          timeout: this.#o.timeoutMs ?? 30_000,
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }))
          res.on('error', reject)
        },
      )
      req.on('timeout', () =>
        req.destroy(
          new CenterError(
            'ERR_CENTER_API',
            `${url.origin} did not answer in time; is ward center serve running?`,
          ),
        ),
      )
      req.on('error', (e) =>
        reject(
          e instanceof CenterError
            ? e
            : new CenterError(
                'ERR_CENTER_API',
                `cannot reach ${url.origin}: ${(e as NodeJS.ErrnoException).code ?? e.message}; check --center and that ward center serve runs`,
                {},
                { cause: e },
              ),
        ),
      )
      req.end(payload)
    })
  }
}
