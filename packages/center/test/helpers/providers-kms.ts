/**
 * Real KMIP peers for the key provider tests: `ward kms serve` processes (a cluster of two on one
 * PostgreSQL: copies of one data dir, so both hold the same keys) and `pykmip-server`
 * (started as packages/kms/test/interop/pykmip.test.ts does). The test acts as the KMS administrator where a trust set-up needs
 * one: it adds the center's self-signed certificate to the KMS's trusted client CAs and signs
 * the center's CSR with the KMS's CA.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { appendFileSync, cpSync, existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { WARD_BIN } from './hosts-harness.js'

x509.cryptoProvider.set(webcrypto as never)

export interface KmsProcess {
  readonly dir: string
  readonly port: number
  readonly child: ChildProcess
  stop(): Promise<void>
}

function run(args: readonly string[]): string {
  const r = spawnSync(process.execPath, [WARD_BIN, ...args], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`ward ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

/** `ward kms init` into `dir`. */
export function initKmsDir(dir: string): void {
  run(['kms', 'init', '--data-dir', dir])
}

/** A copy of an initialized data dir (same master key, CA, server certificate). */
export function copyKmsDir(from: string, to: string): void {
  cpSync(from, to, { recursive: true })
}

/** `ward kms client add NAME`: its certificate and key (PEM). */
export function kmsClient(dir: string, name: string): { certPem: string; keyPem: string } {
  const out = join(dir, 'clients', name)
  run(['kms', 'client', 'add', name, '--data-dir', dir, '--out', out])
  return {
    certPem: readFileSync(join(out, `${name}.crt`), 'utf8'),
    keyPem: readFileSync(join(out, `${name}.key`), 'utf8'),
  }
}

export const kmsCa = (dir: string): string => readFileSync(join(dir, 'ca.pem'), 'utf8')
export const kmsServerCert = (dir: string): string => readFileSync(join(dir, 'server.crt'), 'utf8')

/** The KMS administrator trusts a client certificate (added to the KMS's client CAs). */
export function trustClientCert(dir: string, certPem: string): void {
  appendFileSync(join(dir, 'ca.pem'), `\n${certPem.trim()}\n`)
}

async function kmsCaKey(dir: string): Promise<webcrypto.CryptoKey> {
  const pem = readFileSync(join(dir, 'ca.key'), 'utf8')
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64')
  // ward kms's CA is RSA 2048 (packages/kms/src/pki/pki.ts)
  return webcrypto.subtle.importKey(
    'pkcs8',
    der,
    { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    false,
    ['sign'],
  )
}

/**
 * The KMS's CA signs a certificate for `publicKey` (from a CSR or a fresh key pair), clientAuth,
 * valid from `notBefore` to `notAfter`.
 */
export async function signWithKmsCa(
  dir: string,
  o: { csrPem?: string; cn?: string; notBefore?: Date; notAfter?: Date },
): Promise<{ certPem: string; keyPem?: string }> {
  const caCert = new x509.X509Certificate(
    kmsCa(dir).match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/)![0],
  )
  const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const
  let publicKey: webcrypto.CryptoKey | x509.PublicKey
  let subject: string
  let keyPem: string | undefined
  if (o.csrPem !== undefined) {
    const csr = new x509.Pkcs10CertificateRequest(o.csrPem)
    publicKey = csr.publicKey
    subject = csr.subject
  } else {
    const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair
    publicKey = keys.publicKey
    subject = `CN=${o.cn ?? 'uploaded'}`
    const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey))
    keyPem = `-----BEGIN PRIVATE KEY-----\n${der
      .toString('base64')
      .replace(/(.{64})/g, '$1\n')
      .trimEnd()}\n-----END PRIVATE KEY-----\n`
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: Date.now().toString(16) + '01',
    subject,
    issuer: caCert.subject,
    notBefore: o.notBefore ?? new Date(Date.now() - 3600_000),
    notAfter: o.notAfter ?? new Date(Date.now() + 365 * 86400_000),
    signingAlgorithm: alg,
    publicKey: publicKey as never,
    signingKey: await kmsCaKey(dir),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
    ],
  })
  return { certPem: cert.toString('pem'), ...(keyPem !== undefined ? { keyPem } : {}) }
}

/** `ward kms serve` on `dir` (and `db`), resolved once it listens. */
export async function serveKms(dir: string, db?: string): Promise<KmsProcess> {
  const runtime = join(dir, 'server.json')
  rmSync(runtime, { force: true })
  const child = spawn(
    process.execPath,
    [
      WARD_BIN,
      'kms',
      'serve',
      '--data-dir',
      dir,
      '--listen',
      '127.0.0.1:0',
      ...(db !== undefined ? ['--db', db] : []),
    ],
    { stdio: ['ignore', 'ignore', 'ignore'] },
  )
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      child.once('exit', () => resolve())
      child.kill('SIGTERM')
    })
  for (let i = 0; i < 600; i++) {
    if (existsSync(runtime)) {
      try {
        const r = JSON.parse(readFileSync(runtime, 'utf8')) as { pid: number; port: number }
        if (r.pid === child.pid) return { dir, port: r.port, child, stop }
      } catch {
        /* being written */
      }
    }
    if (child.exitCode !== null) break
    await new Promise((r) => setTimeout(r, 50))
  }
  child.kill('SIGKILL')
  throw new Error(`ward kms serve on ${dir} did not start`)
}

export { startPykmipServer } from '@ward/kmip/testing'
