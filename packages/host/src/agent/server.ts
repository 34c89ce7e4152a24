import { createServer, connect, type Server, type Socket } from 'node:net'
import { chmodSync, unlinkSync, existsSync } from 'node:fs'
import type { Logger } from '@ward/core'
import { isCodedError } from '@ward/core'
import { HostError } from '../errors.js'
import type { HostAgent } from './agent.js'

/** Longest request line accepted on the admin socket. */
export const MAX_LINE = 64 << 10

/** Admin protocol: one JSON object per line each way. */
export interface AgentRequest {
  readonly id: number
  readonly op: string
  readonly params?: Record<string, unknown>
}
export type AgentResponse =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | {
      readonly id: number
      readonly ok: false
      readonly error: { readonly code: string; readonly message: string }
    }

function probe(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path)
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

/**
 * Serve the admin socket (mode 0600 in the 0700 data folder: root-only, like esxcli's local
 * access). Logs carry the operation and outcome, never parameters.
 */
export async function listenAdminSocket(
  agent: HostAgent,
  path: string,
  log: Logger,
): Promise<Server> {
  if (existsSync(path)) {
    if (await probe(path))
      throw new HostError(
        'ERR_HOST_AGENT_RUNNING',
        `an agent is already running on ${path}; stop it first`,
      )
    unlinkSync(path)
  }
  const server = createServer((socket) => serveConnection(agent, socket, log))
  const old = process.umask(0o177)
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(path, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } finally {
    process.umask(old)
  }
  chmodSync(path, 0o600)
  return server
}

function serveConnection(agent: HostAgent, socket: Socket, log: Logger): void {
  let buf = ''
  let chain: Promise<void> = Promise.resolve()
  socket.setEncoding('utf8')
  socket.on('error', () => socket.destroy())
  socket.on('data', (chunk: string) => {
    buf += chunk
    if (buf.length > MAX_LINE && !buf.includes('\n')) {
      socket.end(
        `${JSON.stringify({ id: 0, ok: false, error: { code: 'ERR_HOST_PROTOCOL', message: `request line longer than ${MAX_LINE} bytes` } })}\n`,
      )
      buf = ''
      return
    }
    let nl: number
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      chain = chain.then(async () => {
        const res = await answer(agent, line, log)
        if (!socket.destroyed) socket.write(`${JSON.stringify(res)}\n`)
      })
    }
  })
}

async function answer(agent: HostAgent, line: string, log: Logger): Promise<AgentResponse> {
  let req: AgentRequest
  try {
    const v: unknown = JSON.parse(line)
    if (typeof v !== 'object' || v === null) throw new Error('not an object')
    const r = v as Record<string, unknown>
    if (typeof r.op !== 'string' || !Number.isSafeInteger(r.id)) throw new Error('missing id or op')
    if (r.params !== undefined && (typeof r.params !== 'object' || r.params === null))
      throw new Error('bad params')
    req = { id: r.id as number, op: r.op, params: (r.params ?? {}) as Record<string, unknown> }
  } catch {
    return {
      id: 0,
      ok: false,
      error: {
        code: 'ERR_HOST_PROTOCOL',
        message: 'malformed request: send one JSON object {id, op, params} per line',
      },
    }
  }
  try {
    const result = await agent.handle(req.op, req.params ?? {})
    return { id: req.id, ok: true, result }
  } catch (e) {
    const code = isCodedError(e) ? e.code : 'ERR_HOST_INTERNAL'
    log.warn({ op: req.op, code }, 'admin request failed')
    return {
      id: req.id,
      ok: false,
      error: { code, message: isCodedError(e) ? e.message : 'internal error (see the agent log)' },
    }
  }
}
