import { createServer, connect, type Server, type Socket } from 'node:net'
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
} from 'node:fs'
import { dirname, join } from 'node:path'
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
 * access). Logs carry the operation and outcome, never parameters. The socket is bound in a fresh
 * 0700 folder, made 0600 there and only then renamed into place, so it is never reachable with
 * a wider mode (and no process-wide umask is changed around an await). Closing the server
 * removes it.
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
  // as long as `path`'s own name (sun_path holds 107 bytes): ".sXXXXXX/a" vs "agent.sock"
  const staging = mkdtempSync(join(dirname(path), '.s'))
  const tmp = join(staging, 'a')
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(tmp, () => {
        server.off('error', reject)
        resolve()
      })
    })
    chmodSync(tmp, 0o600)
    renameSync(tmp, path)
  } catch (e) {
    server.close()
    throw e
  } finally {
    rmSync(staging, { recursive: true, force: true })
  }
  const ino = statSync(path).ino
  server.once('close', () => {
    try {
      if (statSync(path).ino === ino) unlinkSync(path)
    } catch {
      // already gone
    }
  })
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
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object')
    const r = v as Record<string, unknown>
    if (typeof r.op !== 'string' || !Number.isSafeInteger(r.id)) throw new Error('missing id or op')
    if (
      r.params !== undefined &&
      (typeof r.params !== 'object' || r.params === null || Array.isArray(r.params))
    )
      throw new Error('bad params')
    if (Object.keys(r).some((k) => k !== 'id' && k !== 'op' && k !== 'params'))
      throw new Error('unknown field')
    req = { id: r.id as number, op: r.op, params: (r.params ?? {}) as Record<string, unknown> }
  } catch {
    return {
      id: 0,
      ok: false,
      error: {
        code: 'ERR_HOST_PROTOCOL',
        message:
          'malformed request: send one JSON object {id, op, params} per line (params an object)',
      },
    }
  }
  try {
    const result = await agent.handleRequest(req.op, req.params ?? {})
    return { id: req.id, ok: true, result }
  } catch (e) {
    const code = isCodedError(e) ? e.code : 'ERR_HOST_INTERNAL'
    log.warn({ op: req.op.slice(0, 64), code }, 'admin request failed')
    return {
      id: req.id,
      ok: false,
      error: { code, message: isCodedError(e) ? e.message : 'internal error (see the agent log)' },
    }
  }
}
