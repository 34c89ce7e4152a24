/**
 * `ward kms serve`: binary TTLV over TLS 1.2/1.3 with mandatory client certificates (KMIP 1.4
 * §8 / TLS profile), identity = the client certificate's subject CN (verified against our CA).
 * Frames are bounded before buffering; per-connection idle timeout; messages on one connection
 * are answered in order; a malformed message gets an Invalid Message response or a clean close.
 */
import { readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:tls'
import type { TLSSocket } from 'node:tls'
import { createLogger, readSecretFile, writeFileAtomic } from '@ward/core'
import type { Logger } from '@ward/core'
import { openDataDir, runningServer } from '../admin/data-dir.js'
import { Barrier } from '../barrier/barrier.js'
import { KmsError } from '../errors.js'
import { openPostgresStore } from '../storage/postgres.js'
import { openSqliteStore } from '../storage/sqlite.js'
import type { Store } from '../storage/store.js'
import { openAudit } from './audit.js'
import { BusyPoll } from './busy-poll.js'
import { handleMessage } from './dispatch.js'

export interface KmsServerOptions {
  readonly dataDir: string
  /** 'host:port'; port 0 picks a free port. Default 127.0.0.1:5696. */
  readonly listen?: string
  /** postgres://… to use PostgreSQL instead of SQLite in the data dir. */
  readonly db?: string
  readonly logger?: Logger
  /** Also write audit lines to the logger (default true). The file audit.log is always written. */
  readonly auditToLogger?: boolean
  /** Largest accepted message (default 16 MiB); larger length prefixes close the connection. */
  readonly maxMessageBytes?: number
  /** Idle connection timeout in ms (default 120 s) and time to finish a started frame (30 s). */
  readonly idleTimeoutMs?: number
  readonly readTimeoutMs?: number
  /**
   * After each reply, poll the sockets for this many µs instead of sleeping (see BusyPoll;
   * default 200, 0 = off): lower latency for request/response clients at the cost of CPU.
   */
  readonly busyPollUs?: number
}

export interface KmsServer {
  readonly port: number
  readonly host: string
  readonly backend: 'sqlite' | 'postgres'
  close(): Promise<void>
}

/**
 * Modern defaults plus the TLS 1.2 CBC-SHA256 suites PyKMIP's TLS1.2 suite and older KMIP
 * clients offer (KMIP 1.4 §3.1.2 "TLS v1.2 Authentication Suite").
 */
const CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES256-SHA384',
  'ECDHE-RSA-AES128-SHA256',
  'DHE-RSA-AES256-SHA256',
  'DHE-RSA-AES128-SHA256',
  'AES256-SHA256',
  'AES128-SHA256',
].join(':')

function parseListen(s: string | undefined): { host: string; port: number } {
  if (s === undefined) return { host: '127.0.0.1', port: 5696 }
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(s)
  if (m === null || Number(m[3]) > 65535)
    throw new KmsError('ERR_KMS_LISTEN', `--listen must be HOST:PORT (got ${s})`, 'InvalidField')
  return { host: m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2]!), port: Number(m[3]) }
}

/**
 * One server per SQLite data dir: the store caches rows and locks objects in this process, so a
 * second writer would read stale rows. (PostgreSQL servers may share a database.)
 */
function refuseSecondServer(dataDir: string, runtime: string): void {
  const other = runningServer(runtime)
  if (other === undefined) return // no server.json, a torn one, or a server that died
  throw new KmsError(
    'ERR_KMS_RUNNING',
    `another ward kms serve (pid ${other.pid}) is serving ${dataDir}; stop it first (if no server runs, remove ${runtime})`,
    'GeneralFailure',
  )
}

/** Start the KMIP server on `listen` with the data dir's master key, CA and server certificate. */
export async function startKmsServer(opts: KmsServerOptions): Promise<KmsServer> {
  const logger = opts.logger ?? createLogger('kms')
  // The data dir is the owner's alone (else refused) and its files are 0600 (admin/data-dir.ts).
  const p = openDataDir(opts.dataDir, (changed) =>
    logger.warn({ files: changed }, 'data dir files were readable by others; set them to 0600'),
  )
  if (opts.db === undefined) refuseSecondServer(opts.dataDir, p.runtime)
  // Messages being handled right now, over all connections (the store's sync strategy uses it).
  let inflight = 0
  const sockets = new Set<TLSSocket>()
  const barrier = new Barrier(readSecretFile(p.masterKey, { length: 32 }))
  const store: Store =
    opts.db !== undefined
      ? await openPostgresStore(opts.db)
      : await openSqliteStore(p.db, {
          othersWaiting: () => inflight > 1,
          // With several connections open, another client's request may be waiting to be read in
          // this turn: the commit waits for the turn's end so that it can share the fsync.
          alone: () => inflight <= 1 && sockets.size <= 1,
        })
  const audit = openAudit(p.audit, logger, { linesToLogger: opts.auditToLogger !== false })
  const deps = { store, barrier, logger, audit }
  const maxMessage = opts.maxMessageBytes ?? 16 << 20
  const idleMs = opts.idleTimeoutMs ?? 120_000
  const readMs = opts.readTimeoutMs ?? 30_000
  const poll = new BusyPoll(opts.busyPollUs ?? 200)
  const serverKey = readSecretFile(p.serverKey)
  const server = createServer({
    key: serverKey.use((b) => Buffer.from(b)),
    cert: readFileSync(p.serverCert),
    ca: readFileSync(p.caCert),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
    ciphers: CIPHERS,
    honorCipherOrder: true,
    handshakeTimeout: 10_000,
  })
  serverKey.dispose()
  let connSeq = 0
  server.on('secureConnection', (sock: TLSSocket) => {
    const conn = ++connSeq
    const cert = sock.getPeerCertificate()
    const cn = cert.subject?.CN
    const identity = Array.isArray(cn) ? undefined : cn
    if (!sock.authorized || identity === undefined || identity === '') {
      logger.warn({ conn }, 'client certificate without a usable subject CN; closing')
      sock.destroy()
      return
    }
    sockets.add(sock)
    // Request/response on one connection: send each reply at once (no Nagle delay).
    sock.setNoDelay(true)
    sock.on('close', () => sockets.delete(sock))
    sock.on('error', (e) => logger.debug({ conn, err: e }, 'connection error'))
    serve(sock, identity, conn)
  })
  server.on('tlsClientError', (e) => logger.info({ err: e }, 'TLS handshake refused'))

  function serve(sock: TLSSocket, identity: string, conn: number): void {
    let chunks: Buffer[] = []
    let have = 0
    let need = -1
    let busy = false
    let readTimer: NodeJS.Timeout | undefined
    sock.setTimeout(idleMs, () => {
      logger.debug({ conn }, 'idle timeout')
      sock.destroy()
    })
    const queue: Buffer[] = []
    const pump = async (): Promise<void> => {
      if (busy) return
      busy = true
      while (queue.length > 0 && !sock.destroyed) {
        const msg = queue.shift()!
        inflight++
        let res: Uint8Array
        try {
          res = await handleMessage(deps, identity, msg)
        } finally {
          inflight--
        }
        if (!sock.destroyed) sock.write(res)
        poll.touch()
      }
      busy = false
      if (queue.length === 0 && !sock.destroyed && sock.isPaused()) sock.resume()
    }
    sock.on('data', (d: Buffer) => {
      chunks.push(d)
      have += d.length
      while (true) {
        if (need < 0) {
          if (have < 8) break
          const head = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
          chunks = [head]
          // SECURITY: the length is checked before anything is buffered for it.
          const len = head.readUInt32BE(4)
          if (head[0] !== 0x42 || head[3] !== 0x01 || len > maxMessage - 8) {
            logger.info({ conn, len }, 'oversized or non-TTLV frame; closing connection')
            sock.destroy()
            return
          }
          need = 8 + len
        }
        if (have < need) {
          // A frame is incomplete: it must be finished within readMs (one timer, armed once).
          readTimer ??= setTimeout(() => sock.destroy(), readMs)
          break
        }
        const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
        queue.push(all.subarray(0, need))
        const rest = all.subarray(need)
        chunks = rest.length > 0 ? [rest] : []
        have = rest.length
        need = -1
        if (readTimer !== undefined) {
          clearTimeout(readTimer)
          readTimer = undefined
        }
      }
      // Backpressure: stop reading while too many messages wait.
      if (queue.length > 32) sock.pause()
      void pump()
    })
    sock.on('close', () => clearTimeout(readTimer))
  }

  const { host, port } = parseListen(opts.listen)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const addr = server.address()
  const actualPort = typeof addr === 'object' && addr !== null ? addr.port : port
  // Atomic (temp file + rename, 0600) so `ward kms status` never reads a half-written file.
  writeFileAtomic(
    p.runtime,
    JSON.stringify({ pid: process.pid, host, port: actualPort, backend: store.backend }),
  )
  logger.info({ host, port: actualPort, backend: store.backend }, 'ward kms listening')
  return {
    port: actualPort,
    host,
    backend: store.backend,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const s of sockets) s.destroy()
      })
      await store.close()
      await audit.close()
      barrier.dispose()
      rmSync(p.runtime, { force: true })
    },
  }
}
