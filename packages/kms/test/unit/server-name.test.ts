/**
 * `ward kms init --server-name`: an IP address becomes an IP SAN (a client connecting by IP checks
 * IP SANs only), a name a DNS SAN; several values allowed. Checked with a real TLS client
 * (node:tls, the data dir's CA, the default checkServerIdentity). Before: the value went into a
 * DNS SAN, and a client connecting to 127.0.0.2 or ::1 failed with ERR_TLS_CERT_ALTNAME_INVALID.
 */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { repoRoot } from '../interop/pg.js'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { connect, createServer } from 'node:tls'
import type { AddressInfo } from 'node:net'
import { initKms } from '../../src/index.js'
import { serverSans } from '../../src/pki/pki.js'

/** Connects to `host` (servername `sni` when given) and resolves with the TLS outcome. */
async function handshake(dir: string, host: string, sni?: string): Promise<string> {
  const srv = createServer({
    cert: readFileSync(join(dir, 'server.crt')),
    key: readFileSync(join(dir, 'server.key')),
  })
  srv.on('secureConnection', (s) => s.end())
  await new Promise<void>((res) => srv.listen(0, host, res))
  const port = (srv.address() as AddressInfo).port
  try {
    return await new Promise<string>((res) => {
      const c = connect({
        host,
        port,
        ca: readFileSync(join(dir, 'ca.pem')),
        ...(sni ? { servername: sni } : {}),
      })
      c.on('secureConnect', () => {
        c.end()
        res('ok')
      })
      c.on('error', (e: NodeJS.ErrnoException) => res(e.code ?? e.message))
    })
  } finally {
    await new Promise<void>((res) => srv.close(() => res()))
  }
}

test('init --server-name: IP addresses become IP SANs, names DNS SANs; TLS by IP succeeds', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-kms-san-'))
  try {
    await initKms(dir, { serverNames: ['127.0.0.2', 'kms.example.test', '[::1]'] })
    const cert = new X509Certificate(readFileSync(join(dir, 'server.crt')))
    const san = cert.subjectAltName ?? ''
    assert.match(san, /IP Address:127\.0\.0\.2/)
    assert.doesNotMatch(san, /DNS:127\.0\.0\.2/)
    assert.match(san, /DNS:kms\.example\.test/)
    assert.match(san, /IP Address:0:0:0:0:0:0:0:1|IP Address:::1/i)
    assert.match(san, /IP Address:127\.0\.0\.1/)
    assert.match(cert.subject, /CN=127\.0\.0\.2/)

    assert.equal(await handshake(dir, '127.0.0.2'), 'ok')
    assert.equal(await handshake(dir, '::1'), 'ok')
    assert.equal(await handshake(dir, '127.0.0.1', 'kms.example.test'), 'ok')
    // and what is not in the certificate still fails (the check is real)
    assert.equal(await handshake(dir, '127.0.0.3'), 'ERR_TLS_CERT_ALTNAME_INVALID')
    assert.equal(
      await handshake(dir, '127.0.0.1', 'other.example.test'),
      'ERR_TLS_CERT_ALTNAME_INVALID',
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('init without --server-name: localhost, 127.0.0.1 and ::1', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-kms-san-'))
  try {
    await initKms(dir)
    const san = new X509Certificate(readFileSync(join(dir, 'server.crt'))).subjectAltName ?? ''
    assert.match(san, /DNS:localhost/)
    assert.equal(await handshake(dir, '127.0.0.1'), 'ok')
    assert.equal(await handshake(dir, '::1'), 'ok')
    assert.equal(await handshake(dir, '127.0.0.1', 'localhost'), 'ok')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('serverSans: v4/v6 are IP, names DNS, duplicates once; a bad name is a coded error', async () => {
  assert.deepEqual(serverSans(['Kms.Example', 'kms.example', '10.0.0.5', '2001:db8::1']), [
    { type: 'dns', value: 'Kms.Example' },
    { type: 'ip', value: '10.0.0.5' },
    { type: 'ip', value: '2001:db8::1' },
    { type: 'ip', value: '127.0.0.1' },
    { type: 'ip', value: '::1' },
  ])
  const dir = mkdtempSync(join(tmpdir(), 'ward-kms-san-'))
  try {
    await assert.rejects(initKms(join(dir, 'k'), { serverNames: ['bad name/x'] }), {
      code: 'ERR_KMS_BAD_SERVER_NAME',
    })
    assert.equal(existsSync(join(dir, 'k')), false, 'nothing half-made')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('ward kms init takes --server-name more than once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-kms-san-'))
  try {
    const d = join(dir, 'kms')
    execFileSync(process.execPath, [
      join(repoRoot, 'packages/cli/bin/ward.js'),
      'kms',
      'init',
      '--data-dir',
      d,
      '--server-name',
      'kms.example.test',
      '--server-name',
      '127.0.0.2',
    ])
    const san = new X509Certificate(readFileSync(join(d, 'server.crt'))).subjectAltName ?? ''
    assert.match(san, /DNS:kms\.example\.test/)
    assert.match(san, /IP Address:127\.0\.0\.2/)
    assert.equal(await handshake(d, '127.0.0.2'), 'ok')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
