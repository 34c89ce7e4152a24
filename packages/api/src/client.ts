/**
 * The typed client of the center's REST API, generated from its OpenAPI document
 * (src/generated.ts): `call('datacenter.create', { body: { name } })` takes exactly the
 * operation's path parameters, query and body and resolves to its response type. HTTPS with the
 * center's CA (or plain HTTP to a test server); a session id or an API token authenticates.
 */
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { ApiClientError } from './errors.js'
import { operations, type Operations } from './generated.js'

/** An operation id of the document (`vm.get`, `session.create`, ...). */
export type OperationId = keyof Operations

type Has<O, K extends string> = K extends keyof O ? Pick<O, K> : unknown
/** What a caller passes: the operation's params and body (if it has them), its query optionally. */
export type CallInput<K extends OperationId> = Has<Operations[K], 'params'> &
  Has<Operations[K], 'body'> &
  Partial<Has<Operations[K], 'query'>>
/** What an operation answers (null for 204). */
export type CallOutput<K extends OperationId> = Operations[K]['response']

/** The header vSphere's REST API carries the session id in. */
export const SESSION_HEADER = 'vmware-api-session-id'

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
export class ApiError extends ApiClientError {
  readonly status: number
  readonly apiCode: string
  constructor(status: number, apiCode: string, message: string) {
    super('ERR_CENTER_API', `${message} (${apiCode}, HTTP ${status})`, { status, apiCode })
    this.status = status
    this.apiCode = apiCode
  }
}

/** Largest answer the client reads (the center's largest lists stay far below). */
export const MAX_RESPONSE_BYTES = 64 * 1024 * 1024

export class CenterClient {
  readonly #o: ClientOptions
  constructor(o: ClientOptions) {
    this.#o = o
  }

  async call<K extends OperationId>(id: K, input: CallInput<K>): Promise<CallOutput<K>> {
    const op = (operations as Readonly<Record<string, { method: string; path: string }>>)[id]!
    const i = input as {
      params?: Record<string, string>
      query?: Record<string, string | number | boolean>
      body?: unknown
    }
    const path = op.path.replace(/\{([A-Za-z_]+)\}/g, (_, k: string) =>
      encodeURIComponent(i.params?.[k] ?? ''),
    )
    const q = new URLSearchParams(
      Object.entries(i.query ?? {}).map(([k, v]): [string, string] => [k, String(v)]),
    ).toString()
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
    let json: unknown = null
    if (body.length > 0)
      try {
        json = JSON.parse(body.toString('utf8')) as unknown
      } catch (e) {
        throw new ApiClientError(
          'ERR_CENTER_API',
          `${url.origin} answered HTTP ${status} with a body that is not JSON; is it a ward center?`,
          { status },
          { cause: e },
        )
      }
    if (status >= 400) {
      const e = json as { code?: string; messages?: { default_message?: string }[] } | null
      throw new ApiError(
        status,
        e?.code ?? 'unknown',
        e?.messages?.[0]?.default_message ?? `HTTP ${status}`,
      )
    }
    return json as CallOutput<K>
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
          let size = 0
          res.on('data', (c: Buffer) => {
            size += c.length
            if (size > MAX_RESPONSE_BYTES) {
              req.destroy(
                new ApiClientError(
                  'ERR_CENTER_API',
                  `${url.origin} sent more than ${MAX_RESPONSE_BYTES} bytes; is it a ward center?`,
                ),
              )
              return
            }
            chunks.push(c)
          })
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }))
          res.on('error', reject)
        },
      )
      req.on('timeout', () =>
        req.destroy(
          new ApiClientError(
            'ERR_CENTER_API',
            `${url.origin} did not answer in time; is ward center serve running?`,
          ),
        ),
      )
      req.on('error', (e) =>
        reject(
          e instanceof ApiClientError
            ? e
            : new ApiClientError(
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
