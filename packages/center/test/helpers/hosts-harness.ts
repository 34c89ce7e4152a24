/*
 * Test helpers for the center ↔ host link: a real `ward host` (its own swtpm), joined through a
 * small in-test HTTPS join endpoint that calls signHostCsr (the real center route replaces it when
 * it lands), and raw TLS sockets for the refusal cases.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer as createHttps, type Server as HttpsServer } from 'node:https'
import { createServer as createNet, type AddressInfo } from 'node:net'
import { connect, type TLSSocket } from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { CenterPki } from '../../src/pki/center-pki.js'
import { signHostCsr } from '../../src/pki/sign-csr.js'

/** Repository root, from packages/center/dist/test/helpers/. */
export const ROOT = fileURLToPath(new URL('../../../../../', import.meta.url))
export const WARD_BIN = join(ROOT, 'packages/cli/bin/ward.js')

export function tempDir(prefix = 'ward-center-hosts-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

export interface RunResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Run the real `ward` CLI to completion. */
export function ward(args: readonly string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [WARD_BIN, ...args])
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    p.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

export interface Serving {
  readonly proc: ChildProcess
  output(): string
  stop(): Promise<number | null>
}

/** Start `ward host serve` and wait for "agent ready" (or its exit: then it rejects). */
export async function serveHost(args: readonly string[]): Promise<Serving> {
  const proc = spawn(process.execPath, [WARD_BIN, 'host', 'serve', ...args])
  let out = ''
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()))
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((r) => proc.once('close', (code) => r(code)))
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (out.includes('"agent ready"')) resolve()
    }
    proc.stdout.on('data', check)
    void exited.then((c) => reject(new Error(`ward host serve exited (${c}):\n${out}`)))
  })
  return {
    proc,
    output: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
      return exited
    },
  }
}

/** A TCP port free at the time of asking. */
export async function freePort(): Promise<number> {
  const s = createNet()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const { port } = s.address() as AddressInfo
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

export interface JoinEndpoint {
  readonly url: string
  /** Bodies of the join requests received (the token included: tests check where it went). */
  readonly requests: { token: string; name: string; address: string }[]
  close(): Promise<void>
}

/**
 * A stand-in for the center's join route (`POST /api/ward/host/join`) on the center's HTTPS
 * certificate: a request with `token` gets a certificate for `hostId` from signHostCsr, once.
 */
export async function joinEndpoint(
  pki: CenterPki,
  token: string,
  hostId: string,
): Promise<JoinEndpoint> {
  const requests: JoinEndpoint['requests'] = []
  let used = false
  const server: HttpsServer = createHttps(
    { key: pki.server.keyPem, cert: pki.server.certPem },
    (req, res) => {
      let body = ''
      req.setEncoding('utf8')
      req.on('data', (d: string) => (body += d))
      req.on('end', () => {
        const answer = (status: number, v: unknown): void => {
          res.writeHead(status, { 'content-type': 'application/json' })
          res.end(JSON.stringify(v))
        }
        if (req.method !== 'POST' || req.url !== '/api/ward/host/join')
          return answer(404, { error_type: 'NOT_FOUND', code: 'ERR_TEST_NOT_FOUND' })
        const b = JSON.parse(body) as { token: string; name: string; address: string; csr: string }
        requests.push({ token: b.token, name: b.name, address: b.address })
        if (b.token !== token || used)
          return answer(401, { error_type: 'UNAUTHENTICATED', code: 'ERR_TEST_JOIN_TOKEN' })
        used = true
        signHostCsr(pki, b.csr, { hostId, name: b.name, address: b.address }).then(
          (c) => answer(200, { hostId, certificate: c.certPem, caCertificate: pki.caCertPem }),
          (e: { code?: string }) => answer(400, { error_type: 'INVALID_ARGUMENT', code: e.code }),
        )
      })
    },
  )
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return {
    url: `https://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}

/** Write a 0600 file. */
export function secretFile(path: string, data: string | Uint8Array): string {
  writeFileSync(path, data, { mode: 0o600 })
  return path
}

export interface RawResult {
  /** Did the TLS handshake finish from the client's side? */
  readonly secure: boolean
  /** What the host sent before closing. */
  readonly received: string
  /** The socket error, if any (a TLS alert, a reset). */
  readonly error: string | undefined
}

/**
 * A raw TLS connection to a host's listener: send `payload` once the handshake is done (TLS 1.3:
 * the server checks the client certificate after the client sees its Finished), then collect
 * whatever comes back until the host closes (or `waitMs`).
 */
export function rawTls(
  port: number,
  creds: { key?: string; cert?: string; ca: string },
  payload: string | Buffer,
  waitMs = 15_000,
): Promise<RawResult & { closed: boolean }> {
  return new Promise((resolve) => {
    let received = ''
    let secure = false
    let error: string | undefined
    const s: TLSSocket = connect({
      host: '127.0.0.1',
      port,
      ca: creds.ca,
      ...(creds.key !== undefined ? { key: creds.key, cert: creds.cert } : {}),
      checkServerIdentity: () => undefined,
      minVersion: 'TLSv1.3',
    })
    const timer = setTimeout(() => {
      s.destroy()
      resolve({ secure, received, error, closed: false })
    }, waitMs)
    s.on('secureConnect', () => {
      secure = true
      s.write(payload)
    })
    s.on('data', (d: Buffer) => (received += d.toString('utf8')))
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message))
    s.on('close', () => {
      clearTimeout(timer)
      resolve({ secure, received, error, closed: true })
    })
  })
}
