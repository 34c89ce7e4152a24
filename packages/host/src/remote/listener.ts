import { createServer, type Server, type TLSSocket } from 'node:tls'
import type { PeerCertificate } from 'node:tls'
import type { Logger } from '@ward/core'
import type { HostAgent } from '../agent/agent.js'
import { serveConnection } from '../agent/server.js'
import { HostError } from '../errors.js'
import { parseHostPort } from './address.js'
import { CENTER_CLIENT_OU } from './identity.js'
import type { RemoteCredentials } from './join-state.js'

/** Limits of the mutual-TLS listener. */
export const RemoteLimits = {
  /** A TLS handshake must finish within this. */
  handshakeMs: 10_000,
  /** A connection with no traffic for this long is closed (the center's pool reconnects). */
  idleMs: 120_000,
} as const

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'

export interface RemoteListenerOptions {
  readonly handshakeMs?: number
  readonly idleMs?: number
  /** Override the `listen` of the join (tests: port 0). */
  readonly listen?: string
}

/** Why a verified peer is not the center, or undefined when it is the center's client certificate. */
export function notTheCenter(peer: PeerCertificate): string | undefined {
  const ou = peer.subject?.OU
  const ous = Array.isArray(ou) ? ou : ou === undefined ? [] : [ou]
  if (!ous.includes(CENTER_CLIENT_OU)) return 'not the center (a host or other certificate)'
  const eku = (peer as PeerCertificate & { ext_key_usage?: string[] }).ext_key_usage
  if (!eku?.includes(CLIENT_AUTH)) return 'no clientAuth extended key usage'
  return undefined
}

/**
 * The joined host's mutual-TLS listener for the center: TLS 1.3 only; a client certificate is
 * required, must chain to the center's CA (stored by `ward host join`) and must be the center's
 * client certificate (OU ward-center, EKU clientAuth): a host certificate of the same CA is
 * closed before any request is read. Over it runs the admin socket's framing and dispatch, with
 * only the `{ remote: true }` operations of the table. Handshake and idle timeouts.
 */
export async function listenRemote(
  agent: HostAgent,
  creds: RemoteCredentials,
  log: Logger,
  options: RemoteListenerOptions = {},
): Promise<Server> {
  const { host, port } = parseHostPort(options.listen ?? creds.state.listen, 'listen', true)
  const idleMs = options.idleMs ?? RemoteLimits.idleMs
  const server = createServer({
    key: creds.keyPem,
    cert: creds.certPem,
    ca: creds.caPem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3',
    handshakeTimeout: options.handshakeMs ?? RemoteLimits.handshakeMs,
  })
  // closing the listener (ward host serve stopping) ends its connections too: a center that
  // polls the host keeps one open, and would otherwise keep the process from exiting
  const open = new Set<TLSSocket>()
  const closeServer = server.close.bind(server)
  server.close = ((cb?: (err?: Error) => void) => {
    closeServer(cb)
    for (const s of open) s.destroy()
    return server
  }) as typeof server.close
  server.on('secureConnection', (socket: TLSSocket) => {
    open.add(socket)
    socket.once('close', () => open.delete(socket))
    const why = notTheCenter(socket.getPeerCertificate())
    if (why !== undefined) {
      log.warn({ remote: socket.remoteAddress, reason: why }, 'remote connection refused')
      socket.destroy()
      return
    }
    socket.setTimeout(idleMs, () => socket.destroy())
    serveConnection(agent, socket, log, { remote: true })
  })
  server.on('tlsClientError', (e: NodeJS.ErrnoException, socket: TLSSocket) => {
    log.warn({ remote: socket.remoteAddress, code: e.code ?? 'error' }, 'remote handshake refused')
    // with a listener on this event node:tls leaves the socket open (a handshake timeout too)
    socket.destroy()
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        new HostError(
          'ERR_HOST_REMOTE_LISTEN',
          `cannot listen for the center on ${host}:${port} (${e.code ?? e.message}): free the port or join with another --listen`,
        ),
      ),
    )
    server.listen(port, host, () => resolve())
  })
  return server
}
