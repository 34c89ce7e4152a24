import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PeerCertificate } from 'node:tls'
import { Secret } from '@ward/core'
import { AdminOps, isRemoteOp, type RemoteOp } from '../../src/agent/protocol.js'
import { initHost } from '../../src/agent/data-dir.js'
import { parseTpmSpec } from '../../src/tpm/host-tpm.js'
import { parseHostPort, formatHostPort } from '../../src/remote/address.js'
import { createCsr } from '../../src/remote/csr.js'
import { joinCenter } from '../../src/remote/join.js'
import {
  REMOTE_DIR,
  RemoteFiles,
  loadRemoteCredentials,
  readJoinState,
} from '../../src/remote/join-state.js'
import { notTheCenter } from '../../src/remote/listener.js'

const tmp = (): string => mkdtempSync(join(tmpdir(), 'ward-host-remote-'))

test('the remote operations are status, keys.*, datastore.*, vm.* and crypto.*, except the console-only ones', () => {
  const consoleOnly = new Set(['vm.dump.memory', 'crypto.key.export'])
  const remote = Object.keys(AdminOps).filter(isRemoteOp)
  const expected = Object.keys(AdminOps).filter(
    (o) => (o === 'status' || /^(keys|datastore|vm|crypto)\./.test(o)) && !consoleOnly.has(o),
  )
  assert.deepEqual(remote, expected)
  for (const o of Object.keys(AdminOps).filter((o) => !isRemoteOp(o)))
    assert.ok(/^(settings|security)\./.test(o) || consoleOnly.has(o), o)
  assert.equal(isRemoteOp('settings.encryption.recovery.list'), false)
  assert.equal(isRemoteOp('security.keypersistence.disable'), false)
  assert.equal(isRemoteOp('crypto.key.export'), false)
  assert.equal(isRemoteOp('crypto.enable'), true)
  assert.equal(isRemoteOp('no.such.op'), false)
  assert.equal(isRemoteOp('__proto__'), false)
  // the type follows the table
  const ok: RemoteOp = 'keys.add'
  // @ts-expect-error: not a remote row
  const notOk: RemoteOp = 'settings.encryption.recovery.rotate'
  assert.ok(ok && notOk)
})

test('parseHostPort and formatHostPort', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:9443', 'x'), { host: '127.0.0.1', port: 9443 })
  assert.deepEqual(parseHostPort('[::1]:1', 'x'), { host: '::1', port: 1 })
  assert.deepEqual(parseHostPort('esx1.example', 'x'), { host: 'esx1.example', port: 8443 })
  assert.deepEqual(parseHostPort('h:0', 'x', true), { host: 'h', port: 0 })
  for (const bad of ['h:0', 'h:65536', '[zz]:1', '::1:80', 'a b:1', '', ':80', 'h:-1'])
    assert.throws(() => parseHostPort(bad, '--listen'), { code: 'ERR_HOST_BAD_ARGUMENT' }, bad)
  assert.equal(formatHostPort('::1', 8443), '[::1]:8443')
  assert.equal(formatHostPort('h', 1), 'h:1')
})

test('createCsr: OpenSSL verifies the request and reads its subject and P-256 key', () => {
  const d = tmp()
  try {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    writeFileSync(join(d, 'r.csr'), createCsr(privateKey, publicKey, 'esx-one.example'))
    const out = execFileSync(
      'openssl',
      ['req', '-in', join(d, 'r.csr'), '-verify', '-noout', '-text'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    )
    assert.match(out, /Subject: CN\s?=\s?esx-one\.example/)
    assert.match(out, /prime256v1|P-256/)
    // a long name is cut to the 64 characters a CN may hold
    writeFileSync(join(d, 'l.csr'), createCsr(privateKey, publicKey, 'x'.repeat(300)))
    execFileSync('openssl', ['req', '-in', join(d, 'l.csr'), '-verify', '-noout'], {
      stdio: 'ignore',
    })
  } finally {
    rmSync(d, { recursive: true, force: true })
  }
})

test('notTheCenter: only a certificate with OU ward-center and EKU clientAuth is the center', () => {
  const peer = (ou: string | string[] | undefined, eku?: string[]): PeerCertificate =>
    ({ subject: { OU: ou, CN: 'x' }, ext_key_usage: eku }) as unknown as PeerCertificate
  assert.equal(notTheCenter(peer('ward-center', ['1.3.6.1.5.5.7.3.2'])), undefined)
  assert.equal(notTheCenter(peer(['x', 'ward-center'], ['1.3.6.1.5.5.7.3.2'])), undefined)
  assert.match(notTheCenter(peer('ward-host', ['1.3.6.1.5.5.7.3.2'])) ?? '', /not the center/)
  assert.match(notTheCenter(peer(undefined, ['1.3.6.1.5.5.7.3.2'])) ?? '', /not the center/)
  assert.match(notTheCenter(peer('ward-center', ['1.3.6.1.5.5.7.3.1'])) ?? '', /clientAuth/)
  assert.match(notTheCenter(peer('ward-center')) ?? '', /clientAuth/)
})

test('joinCenter refuses a non-https center, an unreachable one, a second join; damaged join files are refused', async () => {
  const d = tmp()
  const D = join(d, 'host')
  initHost(D, parseTpmSpec('none'))
  const token = new Secret(Buffer.from('t0ken'))
  const base = {
    dataDir: D,
    token,
    name: 'h',
    listen: '127.0.0.1:8443',
    address: '127.0.0.1:8443',
    caPem: '',
    timeoutMs: 5000,
  }
  const closed = createServer()
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r))
  const port = (closed.address() as AddressInfo).port
  await new Promise<void>((r) => closed.close(() => r()))
  try {
    await assert.rejects(joinCenter({ ...base, center: 'http://127.0.0.1:1' }), {
      code: 'ERR_HOST_BAD_ARGUMENT',
    })
    await assert.rejects(joinCenter({ ...base, center: 'https://u:p@127.0.0.1:1' }), {
      code: 'ERR_HOST_BAD_ARGUMENT',
    })
    await assert.rejects(joinCenter({ ...base, center: 'not a url' }), {
      code: 'ERR_HOST_BAD_ARGUMENT',
    })
    await assert.rejects(
      joinCenter({ ...base, center: `https://127.0.0.1:${port}`, address: '0.0.0.0:0' }),
      { code: 'ERR_HOST_BAD_ARGUMENT' },
    )
    await assert.rejects(joinCenter({ ...base, center: `https://127.0.0.1:${port}` }), {
      code: 'ERR_HOST_JOIN_UNREACHABLE',
    })
    assert.equal(readJoinState(D), undefined)
    assert.equal(loadRemoteCredentials(D), undefined)
    mkdirSync(join(D, REMOTE_DIR), { recursive: true })
    writeFileSync(join(D, REMOTE_DIR, RemoteFiles.state), '{"version":1}')
    assert.throws(() => readJoinState(D), { code: 'ERR_HOST_REMOTE_FILES' })
    writeFileSync(
      join(D, REMOTE_DIR, RemoteFiles.state),
      JSON.stringify({
        version: 1,
        center: 'https://c',
        hostId: 'h',
        listen: 'a:1',
        address: 'a:1',
      }),
    )
    await assert.rejects(joinCenter({ ...base, center: 'https://127.0.0.1:1' }), {
      code: 'ERR_HOST_ALREADY_JOINED',
    })
    assert.throws(() => loadRemoteCredentials(D), { code: 'ERR_HOST_REMOTE_FILES' })
  } finally {
    rmSync(d, { recursive: true, force: true })
  }
})
