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
import { AdminOps, isRemoteOp, streamsProgress } from './protocol.js'
import type { OpProgress } from './schema.js'

/** Longest request line accepted on the admin socket. */
export const MAX_LINE = 64 << 10

/** Fewest milliseconds between two progress messages of one request (the first and last go out). */
export const PROGRESS_INTERVAL_MS = 250

/**
 * Admin protocol: one JSON object per line each way. A request with `progress: true` for an
 * operation that streams progress (its row in protocol.ts) gets progress messages before its one
 * answer; any other request gets only the answer.
 */
export interface AgentRequest {
  readonly id: number
  readonly op: string
  readonly params?: Record<string, unknown>
  readonly progress?: boolean
}
/** A progress message: work done so far of request `id` (not an answer: more lines follow). */
export interface AgentProgress {
  readonly id: number
  readonly progress: OpProgress
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

/** How one connection is served. */
export interface ConnectionOptions {
  /**
   * The center's mutual-TLS connection (remote/listener.ts): only `{ remote: true }` operations
   * run (another is ERR_HOST_REMOTE_DENIED naming it), and a malformed request closes the
   * connection after its error answer.
   */
  readonly remote?: boolean
}

/** Serve the admin protocol (one JSON object per line each way) on one connection. */
export function serveConnection(
  agent: HostAgent,
  socket: Socket,
  log: Logger,
  options: ConnectionOptions = {},
): void {
  const remote = options.remote === true
  /** Remote only: a malformed or oversized request was answered and the connection is closing. */
  let stopped = false
  let buf = ''
  let chain: Promise<void> = Promise.resolve()
  socket.setEncoding('utf8')
  socket.on('error', () => socket.destroy())
  socket.on('data', (chunk: string) => {
    if (stopped) return
    buf += chunk
    if (buf.length > MAX_LINE && !buf.includes('\n')) {
      socket.end(
        `${JSON.stringify({ id: 0, ok: false, error: { code: 'ERR_HOST_PROTOCOL', message: `request line longer than ${MAX_LINE} bytes` } })}\n`,
      )
      buf = ''
      stopped = remote
      return
    }
    let nl: number
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      chain = chain.then(async () => {
        if (stopped) return
        const send = (m: AgentResponse | AgentProgress): void => {
          if (!socket.destroyed) socket.write(`${JSON.stringify(m)}\n`)
        }
        const res = await answer(agent, line, log, send, remote)
        if (socket.destroyed) return
        // a peer that sends a malformed line over the network is not a Ward center: stop
        if (remote && !res.ok && res.error.code === 'ERR_HOST_PROTOCOL') {
          stopped = true
          socket.end(`${JSON.stringify(res)}\n`)
        } else send(res)
      })
    }
  })
}

/**
 * Progress of request `id` sent through `send`, at most one message per PROGRESS_INTERVAL_MS
 * (the first one and the finished one always go out).
 */
function progressSender(id: number, send: (m: AgentProgress) => void): (p: OpProgress) => void {
  let last = 0
  return (p) => {
    const now = Date.now()
    if (last !== 0 && now - last < PROGRESS_INTERVAL_MS && p.done < p.total) return
    last = now
    send({ id, progress: { done: p.done, total: p.total } })
  }
}

async function answer(
  agent: HostAgent,
  line: string,
  log: Logger,
  send: (m: AgentProgress) => void,
  remote: boolean,
): Promise<AgentResponse> {
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
    if (r.progress !== undefined && typeof r.progress !== 'boolean') throw new Error('bad progress')
    if (Object.keys(r).some((k) => k !== 'id' && k !== 'op' && k !== 'params' && k !== 'progress'))
      throw new Error('unknown field')
    req = {
      id: r.id as number,
      op: r.op,
      params: (r.params ?? {}) as Record<string, unknown>,
      progress: r.progress === true,
    }
  } catch {
    return {
      id: 0,
      ok: false,
      error: {
        code: 'ERR_HOST_PROTOCOL',
        message:
          'malformed request: send one JSON object {id, op, params, progress?} per line (params an object, progress a boolean)',
      },
    }
  }
  if (remote && Object.hasOwn(AdminOps, req.op) && !isRemoteOp(req.op)) {
    log.warn({ op: req.op, code: 'ERR_HOST_REMOTE_DENIED' }, 'remote request refused')
    return {
      id: req.id,
      ok: false,
      error: {
        code: 'ERR_HOST_REMOTE_DENIED',
        message: `operation '${req.op}' is served on the host's admin socket only, not over the network (see the AdminOps table)`,
      },
    }
  }
  try {
    const result = await agent.handleRequest(
      req.op,
      req.params ?? {},
      req.progress === true && streamsProgress(req.op)
        ? { onProgress: progressSender(req.id, send) }
        : {},
    )
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
