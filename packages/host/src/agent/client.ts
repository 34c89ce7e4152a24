import { connect } from 'node:net'
import { join } from 'node:path'
import { HostError, isHostErrorCode } from '../errors.js'
import { SOCKET_FILE } from './data-dir.js'
import type { AdminOp, AdminParams, AdminResult } from './protocol.js'
import type { OpProgress } from './schema.js'
import { MAX_LINE, type AgentProgress, type AgentResponse } from './server.js'

/** An error the agent answered with, re-thrown in the client with the same code. */
export class AgentError extends HostError {}

/** Operations whose parameters are all optional: `call(op)` may leave them out. */
export type OptionalParamsOp = {
  [O in AdminOp]: Record<string, never> extends AdminParams<O> ? O : never
}[AdminOp]

/** How a call is made, beside its operation and parameters. */
export interface CallOptions {
  /**
   * Ask for progress: called with each progress message of an operation that streams progress
   * (`{ progress: true }` in protocol.ts) before the call resolves; never for other operations.
   */
  readonly onProgress?: (p: OpProgress) => void
}

/** A typed client of the running agent's admin socket: the operations and types of `AdminOps`. */
export interface AgentClient {
  readonly dataDir: string
  /** `call('keys.list')` resolves to the cached keys' ids. */
  call<O extends OptionalParamsOp>(
    op: O,
    params?: AdminParams<O>,
    options?: CallOptions,
  ): Promise<AdminResult<O>>
  /** `call('keys.has', { providerId, kekId })` resolves to `{ inCache: boolean }`. */
  call<O extends AdminOp>(
    op: O,
    params: AdminParams<O>,
    options?: CallOptions,
  ): Promise<AdminResult<O>>
}

/** The typed client of the agent serving `dataDir` (one connection per call). */
export function agentClient(dataDir: string): AgentClient {
  return {
    dataDir,
    async call<O extends AdminOp>(
      op: O,
      params?: AdminParams<O>,
      options?: CallOptions,
    ): Promise<AdminResult<O>> {
      // the agent answers each operation with its row's result type (protocol.ts)
      return (await callAgent(dataDir, op, params ?? {}, options)) as AdminResult<O>
    },
  }
}

/**
 * Send one raw admin request (any op, any params: tests and tools) to the running agent of
 * `dataDir` and return its result untyped; `agentClient` is the typed form. Explains what to do
 * when no agent runs. With `onProgress` the request asks for progress (`progress: true`) and each
 * progress message before the answer goes to it.
 */
export function callAgent(
  dataDir: string,
  op: string,
  params: Record<string, unknown> = {},
  options: CallOptions = {},
): Promise<unknown> {
  const path = join(dataDir, SOCKET_FILE)
  const onProgress = options.onProgress
  return new Promise((resolve, reject) => {
    const s = connect(path)
    let buf = ''
    s.setEncoding('utf8')
    s.once('connect', () =>
      s.write(
        `${JSON.stringify(onProgress ? { id: 1, op, params, progress: true } : { id: 1, op, params })}\n`,
      ),
    )
    s.on('error', (e: NodeJS.ErrnoException) => {
      reject(
        e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
          ? new HostError(
              'ERR_HOST_AGENT_NOT_RUNNING',
              `no host agent is running for ${dataDir}: start it with 'ward host serve --data-dir ${dataDir}'`,
            )
          : e.code === 'EACCES'
            ? new HostError(
                'ERR_HOST_AGENT_ACCESS',
                `permission denied on ${path}: the admin socket is root-only (run as the agent's user)`,
              )
            : new HostError(
                'ERR_HOST_AGENT_NOT_RUNNING',
                `cannot reach the host agent at ${path} (${e.code ?? e.message})`,
              ),
      )
    })
    s.on('data', (d: string) => {
      buf += d
      if (buf.length > 16 * MAX_LINE) {
        s.destroy()
        return reject(new HostError('ERR_HOST_PROTOCOL', 'agent response too large'))
      }
      let nl: number
      let res: AgentResponse | AgentProgress | undefined
      // progress messages first (when asked for), then the one answer
      for (;;) {
        nl = buf.indexOf('\n')
        if (nl < 0) return
        try {
          res = JSON.parse(buf.slice(0, nl)) as AgentResponse | AgentProgress
        } catch {
          s.destroy()
          return reject(new HostError('ERR_HOST_PROTOCOL', 'malformed agent response'))
        }
        buf = buf.slice(nl + 1)
        if (!('progress' in res)) break
        const p = res.progress as Partial<OpProgress> | null
        if (
          typeof p !== 'object' ||
          p === null ||
          !Number.isSafeInteger(p.done) ||
          !Number.isSafeInteger(p.total)
        ) {
          s.destroy()
          return reject(new HostError('ERR_HOST_PROTOCOL', 'malformed progress message'))
        }
        onProgress?.({ done: p.done!, total: p.total! })
      }
      s.end()
      if (res.ok) resolve(res.result)
      else
        reject(
          new AgentError(
            isHostErrorCode(res.error.code) ? res.error.code : 'ERR_HOST_AGENT',
            res.error.message,
            { agentCode: res.error.code },
          ),
        )
    })
    s.on('close', () =>
      reject(
        new HostError('ERR_HOST_PROTOCOL', 'the agent closed the connection without answering'),
      ),
    )
  })
}
