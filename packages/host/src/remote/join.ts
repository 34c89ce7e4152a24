import { X509Certificate, createHash, createPublicKey, generateKeyPairSync } from 'node:crypto'
import { mkdirSync, chmodSync } from 'node:fs'
import { request } from 'node:https'
import { join } from 'node:path'
import { Secret, writeSecretFile } from '@ward/core'
import { readHostFile } from '../agent/data-dir.js'
import { HostError } from '../errors.js'
import { writeFileAtomic } from '../util/files.js'
import { parseHostPort } from './address.js'
import { createCsr } from './csr.js'
import { HOST_ID_RE, HOST_OU } from './identity.js'
import { REMOTE_DIR, RemoteFiles, readJoinState, type JoinState } from './join-state.js'

/** The center's join route (public: the one-time token authenticates the request). */
export const JOIN_PATH = '/api/ward/host/join'
/** Largest join answer read (two certificates and an id). */
const MAX_ANSWER = 256 << 10

export interface JoinOptions {
  readonly dataDir: string
  /** The center's base URL: `https://HOST[:PORT]`. */
  readonly center: string
  /** The one-time join token (`ward host add` on the center). */
  readonly token: Secret
  /** The host's name in the center's inventory. */
  readonly name: string
  /** Where `ward host serve` will listen for the center (HOST:PORT). */
  readonly listen: string
  /** The address the center will call (HOST:PORT); its host part goes into the certificate. */
  readonly address: string
  /** The CA the center's HTTPS certificate must chain to (the center's `D/pki/ca.crt`). */
  readonly caPem: string
  readonly timeoutMs?: number
}

export interface JoinResult extends JoinState {
  /** `sha256:<hex>` of the host's new certificate (DER). */
  readonly certificateSha256: string
  /** `sha256:<hex>` of the center's CA certificate, as `ward center init` prints it. */
  readonly caSha256: string
}

/**
 * Join a center: make the host's key pair (the private key stays in `D/remote/host.key`, 0600),
 * send a CSR with the token over HTTPS (the center verified against `caPem`), check the
 * certificate it answers (for this key, issued by the CA it answers, CN the host id, OU
 * ward-host), store certificate and CA, and last `remote.json`: from then `ward host serve` runs
 * the mutual-TLS listener. The token is never logged, printed or stored.
 */
export async function joinCenter(o: JoinOptions): Promise<JoinResult> {
  readHostFile(o.dataDir)
  if (readJoinState(o.dataDir))
    throw new HostError(
      'ERR_HOST_ALREADY_JOINED',
      `this host already joined a center (${join(o.dataDir, REMOTE_DIR)}); to join another, stop the agent, remove that folder, and join again`,
    )
  let url: URL
  try {
    url = new URL(JOIN_PATH, o.center)
  } catch {
    url = new URL('http://invalid')
  }
  if (url.protocol !== 'https:' || url.username !== '' || url.password !== '')
    throw new HostError(
      'ERR_HOST_BAD_ARGUMENT',
      '--center must be the https:// URL of the center (no user or password in it)',
    )
  parseHostPort(o.listen, '--listen', true)
  parseHostPort(o.address, '--address')
  const dir = join(o.dataDir, REMOTE_DIR)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  chmodSync(dir, 0o700)
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const keyPem = Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' }))
  writeSecretFile(join(dir, RemoteFiles.key), Secret.take(keyPem), { overwrite: true })
  const csr = createCsr(privateKey, publicKey, o.name)
  const answer = await post(url, o, csr)
  const { hostId, certificate, caCertificate } = answer
  let fingerprint: string
  let caFingerprint: string
  try {
    const cert = new X509Certificate(certificate)
    const ca = new X509Certificate(caCertificate)
    if (!ca.ca) throw new Error('caCertificate is not a CA')
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))
      throw new Error('the certificate is not issued by caCertificate')
    const spki = (k: ReturnType<typeof createPublicKey>): Buffer =>
      k.export({ type: 'spki', format: 'der' })
    if (!spki(cert.publicKey).equals(spki(publicKey)))
      throw new Error("the certificate is not for this host's key")
    const subject = cert.subject.split('\n')
    if (!subject.includes(`CN=${hostId}`) || !subject.includes(`OU=${HOST_OU}`))
      throw new Error(`the certificate does not name host ${hostId}`)
    fingerprint = sha256(cert.raw)
    caFingerprint = sha256(ca.raw)
  } catch (e) {
    throw new HostError(
      'ERR_HOST_JOIN_RESPONSE',
      `the center's answer does not hold a usable certificate (${(e as Error).message}); nothing was stored: check the center's version and join again with a new token`,
      {},
      { cause: e },
    )
  }
  writeFileAtomic(join(dir, RemoteFiles.cert), certificate, 0o644)
  writeFileAtomic(join(dir, RemoteFiles.ca), caCertificate, 0o644)
  const state: JoinState = {
    version: 1,
    center: url.origin,
    hostId,
    listen: o.listen,
    address: o.address,
  }
  writeFileAtomic(join(dir, RemoteFiles.state), `${JSON.stringify(state, null, 2)}\n`, 0o600)
  return { ...state, certificateSha256: fingerprint, caSha256: caFingerprint }
}

const sha256 = (der: Buffer): string => `sha256:${createHash('sha256').update(der).digest('hex')}`

interface JoinAnswer {
  readonly hostId: string
  readonly certificate: string
  readonly caCertificate: string
}

function post(url: URL, o: JoinOptions, csr: string): Promise<JoinAnswer> {
  const body = o.token.use((t) =>
    Buffer.from(
      JSON.stringify({
        token: Buffer.from(t).toString('utf8'),
        name: o.name,
        address: o.address,
        csr,
      }),
    ),
  )
  return new Promise<JoinAnswer>((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        ca: o.caPem,
        minVersion: 'TLSv1.2',
        timeout: o.timeoutMs ?? 30_000,
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (d: Buffer) => {
          size += d.length
          if (size > MAX_ANSWER) {
            req.destroy()
            reject(new HostError('ERR_HOST_JOIN_RESPONSE', 'the center answered too much'))
          } else chunks.push(d)
        })
        res.on('error', reject)
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8')
          let v: unknown
          try {
            v = JSON.parse(text)
          } catch {
            v = undefined
          }
          const status = res.statusCode ?? 0
          if (status < 200 || status > 299) {
            const code =
              typeof v === 'object' &&
              v !== null &&
              typeof (v as { code?: unknown }).code === 'string'
                ? (v as { code: string }).code.slice(0, 64)
                : 'none'
            return reject(
              new HostError(
                'ERR_HOST_JOIN_REFUSED',
                `the center refused the join (HTTP ${status}, ${code}): the token may be wrong, used or expired; ask the center for a new one (ward host add)`,
                { status, centerCode: code },
              ),
            )
          }
          const a = v as Partial<JoinAnswer> | undefined
          if (
            typeof a !== 'object' ||
            a === null ||
            typeof a.hostId !== 'string' ||
            !HOST_ID_RE.test(a.hostId) ||
            typeof a.certificate !== 'string' ||
            typeof a.caCertificate !== 'string'
          )
            return reject(
              new HostError(
                'ERR_HOST_JOIN_RESPONSE',
                'the center answered without { hostId, certificate, caCertificate }: check that --center is a Ward center of the same version',
              ),
            )
          resolve(a as JoinAnswer)
        })
      },
    )
    req.on('timeout', () =>
      req.destroy(
        new HostError(
          'ERR_HOST_JOIN_UNREACHABLE',
          `the center at ${url.origin} did not answer in time`,
        ),
      ),
    )
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e instanceof HostError) return reject(e)
      reject(
        new HostError(
          'ERR_HOST_JOIN_UNREACHABLE',
          `cannot reach the center at ${url.origin} (${e.code ?? 'error'}): check --center, and that --ca-file is the center's CA certificate (its D/pki/ca.crt)`,
          { cause: e.code ?? 'error' },
        ),
      )
    })
    req.end(body, () => body.fill(0))
  })
}
