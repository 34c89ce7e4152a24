/**
 * Issue 10, finding 9: `ward kms client revoke NAME|SERIAL` through the CLI against a running
 * server: the revoked client's open connection is closed, its new handshakes are refused, other
 * clients keep working, the revocation survives a restart and is audited (no secrets); an
 * unknown name is a coded error; certificates issued before serials were recorded are revoked
 * by name and date.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from 'node:tls'
import { after, before, describe, test } from 'node:test'
import { Operation } from '@ward/kmip'
import { initKms, startKmsServer } from '../../src/index.js'
import type { ClientTls } from '../../src/testing.js'
import { startFixture, createAes } from '../helpers.js'
import type { Fixture } from '../helpers.js'
import { repoRoot } from './pg.js'

const create = createAes()

function ward(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(repoRoot, 'packages/cli/bin/ward.js'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')))
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    }),
  )
}

/** A fresh handshake with `t` and one request: 'served' or 'refused'. */
const handshake = (port: number, t: ClientTls): Promise<'refused' | 'served'> =>
  new Promise((resolve) => {
    const sock = connect({
      host: '127.0.0.1',
      port,
      ca: t.ca,
      cert: t.cert,
      key: t.key,
      servername: 'localhost',
    })
    // The server checks the deny list once the handshake is done: try one (Query) request.
    sock.on('secureConnect', () =>
      sock.write(Buffer.from('42007801000000004200770100000000', 'hex')),
    )
    sock.on('data', () => {
      sock.destroy()
      resolve('served')
    })
    sock.on('error', () => resolve('refused'))
    sock.on('close', () => resolve('refused'))
  })

interface Revoked {
  name?: string
  serials: string[]
  known: boolean
  alreadyRevoked: boolean
  version: number
  server: { pid: number; applied: boolean } | null
}

describe('ward kms client revoke', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-kms-revoke-'))
  let f: Fixture
  let closed = false
  before(async () => {
    await initKms(dir)
    f = await startFixture({ dataDir: dir })
  })
  after(async () => {
    if (!closed) await f.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test('revoking a connected client closes its connection and refuses its handshakes; others keep working', async () => {
    const alice = await f.client('alice')
    const bob = await f.client('bob')
    await alice.call(Operation.Create, create)
    await bob.call(Operation.Create, create)
    const aliceClosed = new Promise<string>((resolve) => {
      // The client rejects pending requests with 'connection closed' once the server closes.
      const probe = (): void => {
        alice.call(Operation.Create, create).then(
          () => setTimeout(probe, 50),
          (e: Error) => resolve(e.message),
        )
      }
      probe()
    })
    const r = await ward(['kms', 'client', 'revoke', 'alice', '--data-dir', dir, '--json'])
    assert.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout) as Revoked
    assert.equal(out.name, 'alice')
    assert.equal(out.serials.length, 1)
    assert.equal(out.alreadyRevoked, false)
    assert.deepEqual(out.server, { pid: process.pid, applied: true })
    // The open connection is closed (at once: the CLI waited for the server to apply it).
    assert.equal(
      await Promise.race([
        aliceClosed,
        new Promise((r) => setTimeout(() => r('still open after 2 s'), 2000)),
      ]),
      'connection closed',
    )
    assert.equal(await handshake(f.server.port, await f.tls('alice')), 'refused')
    assert.equal(await handshake(f.server.port, await f.tls('bob')), 'served')
    await bob.call(Operation.Create, create)
    assert.ok(f.server.stats().refused.revoked >= 1)

    // Audited: who, what, which serial; never key material.
    const audit = readFileSync(join(dir, 'audit.log'), 'utf8')
    const lines = audit
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    const revoke = lines.find((l) => l['operation'] === 'client-revoke')
    assert.ok(revoke !== undefined)
    assert.equal(revoke['client'], 'alice')
    assert.equal(revoke['serial'], out.serials[0])
    assert.equal(revoke['status'], 'success')
    assert.match(String(revoke['identity']), /^local:/)
    const closed = lines.find((l) => l['operation'] === 'connection-close')
    assert.equal(closed?.['client'], 'alice')
    assert.equal(closed?.['reason'], 'CertificateRevoked')
    const key = readFileSync(join(dir, 'clients', 'alice', 'alice.key'), 'utf8')
    const body = key.split('\n')[1]!
    assert.ok(!audit.includes(body), 'no private key in the audit log')

    // Again: nothing changes, still exit 0.
    const again = JSON.parse(
      (await ward(['kms', 'client', 'revoke', 'alice', '--data-dir', dir, '--json'])).stdout,
    ) as Revoked
    assert.equal(again.alreadyRevoked, true)
    assert.equal(again.version, out.version)
  })

  test('an unknown name is a coded error; a serial (any spelling) revokes one certificate', async () => {
    const r = await ward(['kms', 'client', 'revoke', 'nobody', '--data-dir', dir, '--json'])
    assert.equal(r.code, 2)
    assert.equal(
      (JSON.parse(r.stdout) as { error: { code: string } }).error.code,
      'ERR_KMS_UNKNOWN_CLIENT',
    )

    const carol = await f.tls('carol')
    assert.equal(await handshake(f.server.port, carol), 'served')
    const list = JSON.parse(
      (await ward(['kms', 'client', 'list', '--data-dir', dir, '--json'])).stdout,
    ) as { name: string; serial: string; revokedAt?: string }[]
    const serial = list.find((c) => c.name === 'carol')!.serial
    // OpenSSL's spelling: upper case, colon-separated.
    const spelled = serial
      .toUpperCase()
      .padStart(serial.length + (serial.length % 2), '0')
      .match(/../g)!
      .join(':')
    const r2 = await ward(['kms', 'client', 'revoke', spelled, '--data-dir', dir, '--json'])
    assert.equal(r2.code, 0, r2.stderr)
    const out = JSON.parse(r2.stdout) as Revoked
    assert.equal(out.name, 'carol')
    assert.deepEqual(out.serials, [serial])
    assert.equal(await handshake(f.server.port, carol), 'refused')
    const after = JSON.parse(
      (await ward(['kms', 'client', 'list', '--data-dir', dir, '--json'])).stdout,
    ) as { name: string; revokedAt?: string }[]
    assert.deepEqual(
      after
        .filter((c) => c.revokedAt !== undefined)
        .map((c) => c.name)
        .sort(),
      ['alice', 'carol'],
    )
    const text = await ward(['kms', 'client', 'list', '--data-dir', dir])
    assert.match(text.stdout, /carol\s+[0-9a-f]+\s+\S+\s+\S+\s+\d{4}-/)
  })

  test('a certificate issued before serials were recorded is revoked by name and date; a new one for the name works', async () => {
    const old = await f.tls('dave')
    // Make dave look like a client of an older data dir: no serial in clients.json.
    const reg = join(dir, 'clients.json')
    const clients = JSON.parse(readFileSync(reg, 'utf8')) as { name: string; serial?: string }[]
    for (const c of clients) if (c.name === 'dave') delete c.serial
    writeFileSync(reg, JSON.stringify(clients))
    const r = await ward(['kms', 'client', 'revoke', 'dave', '--data-dir', dir, '--json'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal((JSON.parse(r.stdout) as { legacyCertificates: number }).legacyCertificates, 1)
    assert.equal(await handshake(f.server.port, old), 'refused')
    // A certificate issued after the revocation (same name) is not covered (X.509 dates are
    // whole seconds: one issued in the same second as the old one would be).
    await new Promise((r) => setTimeout(r, 1100))
    const issued = await ward([
      'kms',
      'client',
      'add',
      'dave',
      '--data-dir',
      dir,
      '--out',
      join(dir, 'clients', 'dave2'),
    ])
    assert.equal(issued.code, 0, issued.stderr)
    const fresh: ClientTls = {
      ca: readFileSync(join(dir, 'ca.pem')),
      cert: readFileSync(join(dir, 'clients', 'dave2', 'dave.crt')),
      key: readFileSync(join(dir, 'clients', 'dave2', 'dave.key')),
    }
    assert.equal(await handshake(f.server.port, fresh), 'served')
  })

  test('a concurrent revoke is refused (not lost); a damaged revoked.json keeps the last good list and stops a start', async () => {
    const lock = join(dir, 'revoked.json.lock')
    writeFileSync(lock, '')
    const busy = await ward(['kms', 'client', 'revoke', 'bob', '--data-dir', dir, '--json'])
    assert.equal(busy.code, 2)
    assert.match(busy.stdout, /ERR_KMS_BUSY/)
    rmSync(lock)
    assert.equal(await handshake(f.server.port, await f.tls('bob')), 'served')

    const file = join(dir, 'revoked.json')
    const good = readFileSync(file, 'utf8')
    writeFileSync(file, '{"version": 9, "serials": ')
    for (let i = 0; i < 100 && !f.logLines.some((l) => l.includes('cannot be read')); i++)
      await new Promise((r) => setTimeout(r, 50))
    assert.ok(f.logLines.some((l) => l.includes('previous deny list stays in force')))
    assert.equal(await handshake(f.server.port, await f.tls('alice')), 'refused')
    // A second server (PostgreSQL, so the one-server-per-SQLite-dir guard does not answer
    // first) reads the deny list before anything else, and stops there.
    await assert.rejects(
      startKmsServer({ dataDir: dir, listen: '127.0.0.1:0', db: 'postgres://unused.invalid/x' }),
      (e: unknown) => (e as { code?: string }).code === 'ERR_KMS_REVOCATIONS',
    )
    writeFileSync(file, good)
  })

  test('revocations survive a restart', async () => {
    await f.close()
    closed = true
    const g = await startFixture({ dataDir: dir })
    try {
      assert.equal(await handshake(g.server.port, await g.tls('alice')), 'refused')
      assert.equal(await handshake(g.server.port, await g.tls('carol')), 'refused')
      assert.equal(await handshake(g.server.port, await g.tls('bob')), 'served')
      assert.equal(g.server.stats().revocationsVersion, 3)
    } finally {
      await g.server.close()
    }
  })
})
