/**
 * `ward kms serve`: binary TTLV over TLS 1.2/1.3 with mandatory client certificates (KMIP 1.4
 * §8 / TLS profile), identity = the client certificate's subject CN (verified against our CA).
 * Frames are bounded before buffering; per-connection idle timeout; messages on one connection
 * are answered in order; a malformed message gets an Invalid Message response or a clean close.
 *
 * Hostile peers (issue 10): connections are capped in total and per source address before the
 * handshake; a handshake that fails or times out is closed; a started frame, even its 8-byte
 * header, must arrive within the frame deadline; request bytes held over all connections stay
 * within one budget (budget.ts); a reply the client does not read holds up only its connection;
 * a revoked client certificate is refused, and its open connections closed, as soon as
 * revoked.json changes. Log lines a peer can trigger are rate-limited (log-limit.ts).
 */
import { randomUUID } from 'node:crypto'
import { readFileSync, rmSync } from 'node:fs'
import { createServer as createNetServer } from 'node:net'
import type { Socket } from 'node:net'
import { createServer } from 'node:tls'
import type { TLSSocket } from 'node:tls'
import { createLogger, readSecretFile, writeFileAtomic } from '@ward/core'
import { FrameReader } from '@ward/kmip'
import type { Logger } from '@ward/core'
import { openDataDir, runningServer } from '../admin/data-dir.js'
import { Barrier } from '../barrier/barrier.js'
import { KmsError } from '../errors.js'
import { openPostgresStore } from '../storage/postgres.js'
import { openSqliteStore } from '../storage/sqlite.js'
import type { Store } from '../storage/store.js'
import { operations } from '../operations/registry.js'
import { createRuntime } from './runtime.js'
import { openAudit } from './audit.js'
import { addressKey } from './address-key.js'
import { RequestBudget } from './budget.js'
import type { BudgetWaiter } from './budget.js'
import { BusyPoll } from './busy-poll.js'
import { handleMessage } from './dispatch.js'
import { PerIdentityRate, limitedLog } from './log-limit.js'
import { watchRevocations } from './revocation-watch.js'
import type { Revocations } from '../admin/revocation.js'

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
  /** Idle connection timeout in ms (default 120 s). */
  readonly idleTimeoutMs?: number
  /**
   * A frame, from its first byte (the 8-byte header included), must have arrived within this
   * many ms plus 1 s per MiB of its declared length (default 10 s), else the connection is
   * closed; the same time is given to a reply to leave the server's buffers.
   */
  readonly readTimeoutMs?: number
  /** Time to finish the TLS handshake (default 10 s); a connection that has not is closed. */
  readonly handshakeTimeoutMs?: number
  /** Most TCP connections open at once, handshaking ones included (default 1024). */
  readonly maxConnections?: number
  /** Most TCP connections open at once from one source address (default 64). */
  readonly maxConnectionsPerAddress?: number
  /**
   * Budget for buffered request bytes over all connections (default 64 MiB; see RequestBudget).
   * Must leave room for one largest message: at least 4/3 of maxMessageBytes.
   */
  readonly maxBufferedBytes?: number
  /** Most streaming Encrypt/Decrypt contexts one identity may hold (default 64; 1,024 in all). */
  readonly maxStreamsPerClient?: number
  /**
   * After each reply, poll the sockets for this many µs instead of sleeping (see BusyPoll;
   * default 200, 0 = off): lower latency for request/response clients at the cost of CPU.
   */
  readonly busyPollUs?: number
}

/** What `KmsServer.stats()` reports (counters since start, gauges now). */
export interface KmsServerStats {
  /** TCP connections open (handshaking or served). */
  readonly connections: number
  /** Connections with a verified client certificate. */
  readonly clients: number
  /** Request bytes reserved in the budget now, the most ever, and the budget. */
  readonly bufferedBytes: number
  readonly peakBufferedBytes: number
  readonly maxBufferedBytes: number
  /** Frames waiting for room in the budget now, and in total. */
  readonly framesWaiting: number
  readonly memoryWaits: number
  /** Reply bytes a client has not read yet (waiting in the socket's buffer). */
  readonly pendingReplyBytes: number
  /** Connections refused: over --max-connections, over --max-connections-per-address, revoked certificate. */
  readonly refused: {
    readonly total: number
    readonly perAddress: number
    readonly revoked: number
  }
  /** Handshakes that failed or timed out (each closed). */
  readonly handshakeFailures: number
  /** Connections closed because their frame or reply was too slow. */
  readonly slowClosed: number
  /** The revoked.json version in force. */
  readonly revocationsVersion: number
}

export interface KmsServer {
  readonly port: number
  readonly host: string
  readonly backend: 'sqlite' | 'postgres'
  stats(): KmsServerStats
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
    throw new KmsError('ERR_KMS_LISTEN', `--listen must be HOST:PORT (got ${s})`)
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
  )
}

/** A limit option: a whole number in [min, max], or the default. */
function limit(
  name: string,
  v: number | undefined,
  dflt: number,
  min: number,
  max: number,
): number {
  const n = v ?? dflt
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new KmsError(
      'ERR_KMS_BAD_LIMIT',
      `${name} must be a whole number in ${min}-${max} (got ${n})`,
    )
  return n
}

/** One authenticated connection. */
interface Peer {
  readonly conn: number
  readonly identity: string
  readonly serial: string | undefined
  readonly notBefore: string | undefined
}

/** Start the KMIP server on `listen` with the data dir's master key, CA and server certificate. */
export async function startKmsServer(opts: KmsServerOptions): Promise<KmsServer> {
  const maxMessage = limit('maxMessageBytes', opts.maxMessageBytes, 16 << 20, 1024, 1 << 30)
  const idleMs = limit('idleTimeoutMs', opts.idleTimeoutMs, 120_000, 1, 86_400_000)
  const readMs = limit('readTimeoutMs', opts.readTimeoutMs, 10_000, 1, 3_600_000)
  const handshakeMs = limit('handshakeTimeoutMs', opts.handshakeTimeoutMs, 10_000, 1, 3_600_000)
  const maxConns = limit('maxConnections', opts.maxConnections, 1024, 1, 1 << 20)
  const maxPerAddr = limit(
    'maxConnectionsPerAddress',
    opts.maxConnectionsPerAddress,
    64,
    1,
    1 << 20,
  )
  const budget = new RequestBudget(
    limit('maxBufferedBytes', opts.maxBufferedBytes, 64 << 20, 4096, 2 ** 40),
  )
  if (budget.largeLimit < maxMessage)
    throw new KmsError(
      'ERR_KMS_BAD_LIMIT',
      `the request memory budget (${budget.limit} bytes) must hold one largest message (${maxMessage} bytes) in its three quarters open to large frames: raise --max-buffered-mib to at least ${Math.ceil((maxMessage * 4) / 3 / (1 << 20))}`,
    )
  const poll = new BusyPoll(opts.busyPollUs ?? 200)
  const maxStreams = limit('maxStreamsPerClient', opts.maxStreamsPerClient, 64, 1, 1 << 20)
  const logger = opts.logger ?? createLogger('kms')
  // The data dir is the owner's alone (else refused) and its files are 0600 (admin/data-dir.ts).
  const p = openDataDir(opts.dataDir, (changed) =>
    logger.warn({ files: changed }, 'data dir files were readable by others; set them to 0600'),
  )
  if (opts.db === undefined) refuseSecondServer(opts.dataDir, p.runtime)
  const limited = limitedLog(logger)
  // Messages being handled right now, over all connections (the store's sync strategy uses it).
  let inflight = 0
  const sockets = new Map<TLSSocket, Peer>()
  // Every TCP connection (handshaking or served), for the caps and close().
  const raws = new Set<Socket>()
  const perAddress = new Map<string, number>()
  const counts = {
    refusedTotal: 0,
    refusedPerAddress: 0,
    refusedRevoked: 0,
    handshakeFailures: 0,
    slowClosed: 0,
  }
  let pendingReply = 0
  let runtime: { pid: number; host: string; port: number; backend: string } | undefined = undefined
  const writeRuntime = (revocations: number): void => {
    if (runtime === undefined) return
    // Atomic (temp file + rename, 0600) so `ward kms status` and `client revoke` never read a
    // half-written file.
    writeFileAtomic(p.runtime, JSON.stringify({ ...runtime, revocations }))
  }
  const audit = openAudit(p.audit, logger, { linesToLogger: opts.auditToLogger !== false })
  let revocations: ReturnType<typeof watchRevocations>
  try {
    revocations = watchRevocations(p.revoked, logger, onRevocations)
  } catch (e) {
    await audit.close()
    throw e
  }
  function onRevocations(r: Revocations): void {
    let closed = 0
    for (const [sock, peer] of sockets)
      if (r.denies(peer.serial, peer.identity, peer.notBefore)) {
        audit.record({
          identity: peer.identity,
          operation: 'connection-close',
          status: 'success',
          reason: 'CertificateRevoked',
          requestId: randomUUID(),
          durationMs: 0,
          client: peer.identity,
          serial: peer.serial,
        })
        sock.destroy()
        closed++
      }
    logger[closed > 0 ? 'warn' : 'info'](
      { version: r.version, closed },
      'revoked.json applied; connections of revoked certificates closed',
    )
    writeRuntime(r.version)
  }
  let store: Store
  try {
    store =
      opts.db !== undefined
        ? await openPostgresStore(opts.db)
        : await openSqliteStore(p.db, {
            othersWaiting: () => inflight > 1,
            // With several connections open, another client's request may be waiting to be read
            // in this turn: the commit waits for the turn's end so that it can share the fsync.
            alone: () => inflight <= 1 && sockets.size <= 1,
          })
  } catch (e) {
    revocations.stop()
    await audit.close()
    throw e
  }
  // This server's streams, locks, random pool and ids (runtime.ts; nothing is shared between servers).
  const state = createRuntime({
    operations,
    maxStreamsPerClient: maxStreams,
    ...(store.exclusive !== undefined ? { lockAcross: store.exclusive } : {}),
  })
  const barrier = new Barrier(readSecretFile(p.masterKey, { length: 32 }), state.random.bytes)
  const deps = {
    store,
    barrier,
    runtime: state,
    logger,
    audit,
    maxResponseBytes: maxMessage,
    logRate: new PerIdentityRate(100, 10_000),
  }
  // A frame (or a reply) of n bytes must pass within readMs plus 1 s per MiB.
  // `n` is the frame's announced length, or -1 while its 8-byte header is incomplete: the
  // timeout is then the plain read timeout (never below it, never negative).
  const deadline = (n: number): number => readMs + Math.floor(Math.max(n, 0) / (1 << 20)) * 1000
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
    handshakeTimeout: handshakeMs,
  })
  serverKey.dispose()
  // TCP is accepted here and handed to the TLS server once the caps allow it (a refused
  // connection never costs a handshake). maxConnections drops the excess before any JS runs.
  const front = createNetServer()
  front.maxConnections = maxConns
  front.on('drop', (d) => {
    counts.refusedTotal++
    limited(
      'cap-total',
      'warn',
      { limit: maxConns, remoteAddress: d?.remoteAddress },
      `connection refused: ${maxConns} connections are open (ward kms serve --max-connections)`,
    )
  })
  front.on('connection', (raw: Socket) => {
    const addr = raw.remoteAddress
    if (addr === undefined) {
      raw.destroy()
      return
    }
    const key = addressKey(addr)
    const n = (perAddress.get(key) ?? 0) + 1
    if (n > maxPerAddr) {
      counts.refusedPerAddress++
      limited(
        'cap-address',
        'warn',
        { limit: maxPerAddr, remoteAddress: key },
        `connection refused: ${maxPerAddr} connections are open from ${key} (ward kms serve --max-connections-per-address)`,
      )
      raw.destroy()
      return
    }
    perAddress.set(key, n)
    raws.add(raw)
    raw.once('close', () => {
      raws.delete(raw)
      const m = (perAddress.get(key) ?? 1) - 1
      if (m > 0) perAddress.set(key, m)
      else perAddress.delete(key)
    })
    server.emit('connection', raw)
  })
  let connSeq = 0
  server.on('secureConnection', (sock: TLSSocket) => {
    const conn = ++connSeq
    const cert = sock.getPeerCertificate()
    const cn = cert.subject?.CN
    const identity = Array.isArray(cn) ? undefined : cn
    if (!sock.authorized || identity === undefined || identity === '') {
      limited('no-cn', 'warn', { conn }, 'client certificate without a usable subject CN; closing')
      sock.destroy()
      return
    }
    const peer: Peer = { conn, identity, serial: cert.serialNumber, notBefore: cert.valid_from }
    if (revocations.current().denies(peer.serial, identity, peer.notBefore)) {
      counts.refusedRevoked++
      limited(
        'revoked',
        'warn',
        { conn, identity, serial: peer.serial },
        'revoked client certificate (ward kms client revoke); connection closed',
      )
      sock.destroy()
      return
    }
    sockets.set(sock, peer)
    // Request/response on one connection: send each reply at once (no Nagle delay).
    sock.setNoDelay(true)
    sock.on('close', () => sockets.delete(sock))
    sock.on('error', (e) => {
      // Errors Node only reports (a renegotiation over its limit, say) must close too.
      logger.debug({ conn, err: e }, 'connection error')
      sock.destroy()
    })
    serve(sock, identity, conn)
  })
  // Every handshake error or timeout closes its connection (Node only reports a timeout).
  server.on('tlsClientError', (e, sock) => {
    counts.handshakeFailures++
    sock.destroy()
    limited('handshake', 'info', { err: e }, 'TLS handshake refused; connection closed')
  })

  function serve(sock: TLSSocket, identity: string, conn: number): void {
    // Bytes this connection holds in the budget.
    let held = 0
    let waiter: BudgetWaiter | undefined
    let busy = false
    let closed = false
    let frameTimer: NodeJS.Timeout | undefined
    let frameStart = 0
    // Framing is @ward/kmip's FrameReader; the server checks each header and reserves the frame in
    // the budget before anything is buffered for it.
    let refusedLength = 0
    const frames = new FrameReader(maxMessage, {
      length: (head) => {
        const len = ((head[4]! << 24) >>> 0) + (head[5]! << 16) + (head[6]! << 8) + head[7]!
        // SECURITY: the length is checked, and reserved, before anything is buffered for it.
        if (head[0] !== 0x42 || head[3] !== 0x01 || len > maxMessage - 8) {
          refusedLength = len
          throw new KmsError('ERR_KMS_INVALID_MESSAGE', 'oversized or non-TTLV frame')
        }
        return 8 + len
      },
      admit: (n) => {
        if (budget.tryTake(n)) held += n
        else {
          // Over the budget: stop reading; the reader holds the bytes until the budget grants
          // this frame.
          sock.pause()
          waiter = budget.wait(n, () => {
            waiter = undefined
            held += n
            received(frames.resume())
            if (!sock.destroyed && queue.length <= 32) sock.resume()
          })
          return false
        }
        // A large frame gets 1 s per MiB more than the timer armed at its first byte.
        if (frameTimer !== undefined && n >= 1 << 20) {
          clearTimeout(frameTimer)
          frameTimer = setTimeout(
            () => slow('frame'),
            Math.max(0, deadline(n) - (performance.now() - frameStart)),
          )
        }
        return true
      },
    })
    sock.setTimeout(idleMs, () => {
      logger.debug({ conn }, 'idle timeout')
      sock.destroy()
    })
    const slow = (what: string): void => {
      counts.slowClosed++
      limited('slow', 'info', { conn, identity }, `${what} too slow; connection closed`)
      sock.destroy()
    }
    const release = (n: number): void => {
      held -= n
      budget.release(n)
    }
    // A reply the client does not read stays in the socket: wait for it to drain (bounded by
    // the reply deadline) before the next message, so a connection holds at most one.
    const drained = (n: number): Promise<void> =>
      new Promise((resolve) => {
        pendingReply += n
        const t = setTimeout(() => slow('reading the reply'), deadline(n))
        const done = (): void => {
          clearTimeout(t)
          pendingReply -= n
          sock.off('drain', done)
          sock.off('close', done)
          resolve()
        }
        sock.on('drain', done)
        sock.on('close', done)
      })
    const queue: Uint8Array[] = []
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
        if (!sock.destroyed) {
          const flushed = sock.write(res)
          poll.touch()
          if (!flushed) await drained(res.length)
        }
        // After a close everything was released at once.
        if (!closed) release(msg.length)
      }
      busy = false
      if (queue.length === 0 && !sock.destroyed && waiter === undefined && sock.isPaused())
        sock.resume()
    }
    /** Queues the completed frames and re-arms the frame deadline. */
    const received = (msgs: readonly Uint8Array[]): void => {
      if (msgs.length > 0 && frameTimer !== undefined) {
        clearTimeout(frameTimer)
        frameTimer = undefined
      }
      queue.push(...msgs)
      // A started frame (even a partial 8-byte header) must be complete within its deadline;
      // a frame waiting for the budget is not timed (the wait is not the client's doing).
      if (frames.buffered > 0 && !frames.held) {
        if (frameTimer === undefined) {
          frameStart = performance.now()
          frameTimer = setTimeout(() => slow('frame'), deadline(frames.pending ?? -1))
        }
      } else if (frameTimer !== undefined) {
        clearTimeout(frameTimer)
        frameTimer = undefined
      }
      // Backpressure: stop reading while too many messages wait.
      if (queue.length > 32) sock.pause()
      void pump()
    }
    sock.on('data', (d: Buffer) => {
      let msgs: Uint8Array[]
      try {
        msgs = frames.push(d)
      } catch {
        limited(
          'frame',
          'info',
          { conn, len: refusedLength },
          'oversized or non-TTLV frame; closing connection',
        )
        sock.destroy()
        return
      }
      received(msgs)
    })
    sock.on('close', () => {
      closed = true
      clearTimeout(frameTimer)
      if (waiter !== undefined) budget.cancel(waiter)
      waiter = undefined
      const h = held
      held = 0
      frames.clear()
      queue.length = 0
      if (h > 0) budget.release(h)
    })
  }

  const { host, port } = parseListen(opts.listen)
  try {
    await new Promise<void>((resolve, reject) => {
      front.once('error', reject)
      front.listen(port, host, () => {
        front.off('error', reject)
        resolve()
      })
    })
  } catch (e) {
    revocations.stop()
    await store.close()
    await audit.close()
    barrier.dispose()
    state.close()
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL')
      throw new KmsError(
        'ERR_KMS_LISTEN',
        code === 'EADDRINUSE'
          ? `${host}:${port} is already in use (another ward kms serve or service?); choose another port with --listen HOST:PORT`
          : code === 'EACCES'
            ? `not allowed to listen on ${host}:${port} (ports below 1024 need privileges); choose another with --listen HOST:PORT`
            : `${host} is not an address of this machine; choose one with --listen HOST:PORT (0.0.0.0 for all)`,
      )
    throw e
  }
  const addr = front.address()
  const actualPort = typeof addr === 'object' && addr !== null ? addr.port : port
  runtime = { pid: process.pid, host, port: actualPort, backend: store.backend }
  writeRuntime(revocations.current().version)
  logger.info(
    {
      host,
      port: actualPort,
      backend: store.backend,
      maxConnections: maxConns,
      maxConnectionsPerAddress: maxPerAddr,
      maxBufferedBytes: budget.limit,
    },
    'ward kms listening',
  )
  return {
    port: actualPort,
    host,
    backend: store.backend,
    stats: () => ({
      connections: raws.size,
      clients: sockets.size,
      bufferedBytes: budget.used,
      peakBufferedBytes: budget.peak,
      maxBufferedBytes: budget.limit,
      framesWaiting: budget.waiting,
      memoryWaits: budget.waits,
      pendingReplyBytes: pendingReply,
      refused: {
        total: counts.refusedTotal,
        perAddress: counts.refusedPerAddress,
        revoked: counts.refusedRevoked,
      },
      handshakeFailures: counts.handshakeFailures,
      slowClosed: counts.slowClosed,
      revocationsVersion: revocations.current().version,
    }),
    async close() {
      revocations.stop()
      await new Promise<void>((resolve) => {
        front.close(() => resolve())
        for (const s of raws) s.destroy()
        for (const s of sockets.keys()) s.destroy()
      })
      await store.close()
      await audit.close()
      barrier.dispose()
      state.close()
      rmSync(p.runtime, { force: true })
    },
  }
}
