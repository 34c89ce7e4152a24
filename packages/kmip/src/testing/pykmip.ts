import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { KmipError } from '../errors.js'

const run = promisify(execFile)

/** A running pykmip-server (Debian python3-pykmip 0.10) on loopback with mutual TLS. */
export interface PykmipServer {
  readonly host: string
  readonly port: number
  /** CA that signed the server and client certificates. */
  readonly caPem: string
  /** Client certificate (EKU clientAuth, CN = client identity) and key. */
  readonly clientCertPem: string
  readonly clientKeyPem: string
  /** State directory (certs, server.conf, SQLite db, server.log). */
  readonly dir: string
  /** Stops the server's whole process group and removes `dir` if it was created here. */
  stop(): Promise<void>
}

/** Options for {@link startPykmipServer}. */
export interface PykmipOptions {
  /** State directory; default a fresh temp dir (removed on stop). */
  readonly dir?: string
  /** Client certificate CN (the KMIP identity). */
  readonly clientCn?: string
  /** PyKMIP logging level; DEBUG logs every message as hex. */
  readonly logLevel?: 'INFO' | 'DEBUG'
  /** How long to wait for the server to accept connections (ms). */
  readonly startTimeoutMs?: number
}

async function openssl(cwd: string, args: string[]): Promise<void> {
  await run('openssl', args, { cwd })
}

/**
 * Writes ca.{crt,key}, server.{crt,key} (CN localhost, SAN localhost/127.0.0.1) and client.{crt,key}
 * (EKU clientAuth) into `dir` with the openssl CLI, as PyKMIP needs them. For tests only.
 */
export async function makeTestCertificates(dir: string, clientCn: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await openssl(dir, [
    'req',
    '-x509',
    '-new',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-sha256',
    '-days',
    '30',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-subj',
    '/CN=Ward PyKMIP Test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ])
  const sign = async (name: string, cn: string, ext: string): Promise<void> => {
    await openssl(dir, [
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-sha256',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${cn}`,
    ])
    await writeFile(join(dir, `${name}.ext`), ext, { mode: 0o600 })
    await openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '30',
      '-sha256',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    ])
  }
  await sign(
    'server',
    'localhost',
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n' +
      'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n',
  )
  await sign(
    'client',
    clientCn,
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n' +
      'extendedKeyUsage=clientAuth\n',
  )
}

/** A free loopback port (bind to 0, read it, release it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true)
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms)
    child.once('exit', () => {
      clearTimeout(t)
      resolve(true)
    })
  })
}

/**
 * Starts Debian's pykmip-server with /usr/bin/python3 in its own process group, on a free
 * loopback port, with fresh certificates (what shared/peers/pykmip/start-server.sh does).
 * Every path is explicit so nothing lands in PyKMIP's defaults (/etc/pykmip, /var/log/pykmip).
 */
export async function startPykmipServer(options: PykmipOptions = {}): Promise<PykmipServer> {
  const own = options.dir === undefined
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'ward-pykmip-')))
  const certs = join(dir, 'certs')
  await makeTestCertificates(certs, options.clientCn ?? 'ward-kmip-test-client')
  await mkdir(join(dir, 'policies'), { recursive: true })
  const port = await freePort()
  const conf = [
    '[server]',
    'hostname=127.0.0.1',
    `port=${port}`,
    `certificate_path=${join(certs, 'server.crt')}`,
    `key_path=${join(certs, 'server.key')}`,
    `ca_path=${join(certs, 'ca.crt')}`,
    'auth_suite=TLS1.2',
    `policy_path=${join(dir, 'policies')}`,
    'enable_tls_client_auth=True',
    `logging_level=${options.logLevel ?? 'INFO'}`,
    `database_path=${join(dir, 'pykmip.db')}`,
    '',
  ].join('\n')
  await writeFile(join(dir, 'server.conf'), conf)
  const log = join(dir, 'server.log')
  await writeFile(log, '')
  const child = spawn(
    '/usr/bin/python3',
    [
      '-W',
      'ignore::DeprecationWarning',
      '/usr/bin/pykmip-server',
      '-f',
      join(dir, 'server.conf'),
      '-l',
      log,
    ],
    { detached: true, stdio: 'ignore' },
  )
  let spawnError: Error | undefined
  child.once('error', (e) => {
    spawnError = e
  })
  const stop = async (): Promise<void> => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGTERM')
      } catch {
        // already gone
      }
      // PyKMIP's accept loop can take up to 10 s to notice SIGTERM; the temp DB needs no clean shutdown
      if (!(await exited(child, 1500))) {
        try {
          process.kill(-child.pid, 'SIGKILL')
        } catch {
          // already gone
        }
        await exited(child, 5000)
      }
    }
    if (own) await rm(dir, { recursive: true, force: true })
  }
  const deadline = Date.now() + (options.startTimeoutMs ?? 20_000)
  for (;;) {
    if (spawnError !== undefined || child.exitCode !== null) {
      const text = await readFile(log, 'utf8').catch(() => '')
      await stop()
      throw new KmipError(
        'ERR_KMIP_PEER',
        `pykmip-server did not start (${spawnError?.message ?? `exit ${child.exitCode}`}): ${text.slice(-500)}`,
      )
    }
    if (await canConnect(port)) break
    if (Date.now() > deadline) {
      await stop()
      throw new KmipError(
        'ERR_KMIP_PEER',
        `pykmip-server did not accept connections on ${port} in time (log ${log})`,
      )
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  const [caPem, clientCertPem, clientKeyPem] = await Promise.all(
    ['ca.crt', 'client.crt', 'client.key'].map((f) => readFile(join(certs, f), 'utf8')),
  )
  return {
    host: '127.0.0.1',
    port,
    caPem: caPem!,
    clientCertPem: clientCertPem!,
    clientKeyPem: clientKeyPem!,
    dir,
    stop,
  }
}
