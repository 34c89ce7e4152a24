import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { connect as connectTcp } from 'node:net'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { Secret } from '@ward/core'
import { readJoinState, RemoteFiles, REMOTE_DIR } from '@ward/host'
import { startSwtpm, type RunningSwtpm } from '@ward/host/testing'
import { initCenterPki, PkiFiles, type CenterPki } from '../../src/pki/center-pki.js'
import { signHostCsr } from '../../src/pki/sign-csr.js'
import { HostClient, pushKey } from '../../src/hosts/client.js'
import {
  freePort,
  joinEndpoint,
  rawTls,
  secretFile,
  serveHost,
  tempDir,
  ward,
  type JoinEndpoint,
  type Serving,
} from '../helpers/hosts-harness.js'

x509.cryptoProvider.set(webcrypto as never)

// Canaries: planted in this run, they must appear in no log line or CLI output.
const TOKEN = `join-token-canary-${randomBytes(12).toString('hex')}`
const KEY = randomBytes(32)
const KEY_FORMS = [KEY.toString('base64'), KEY.toString('hex')]
const HOST_ID = 'host-1'

describe('center ↔ host over mutual TLS (real ward host serve, swtpm)', () => {
  const { dir, cleanup } = tempDir()
  const D = join(dir, 'host')
  let pki: CenterPki
  let other: CenterPki
  let tpm: RunningSwtpm
  let endpoint: JoinEndpoint
  let agent: Serving
  let port: number
  let client: HostClient
  const outputs: string[] = []
  const on = (): string[] => ['--data-dir', D, '--simulate-firmware', '--secure-boot=on']

  before(async () => {
    pki = await initCenterPki(join(dir, 'center'))
    other = await initCenterPki(join(dir, 'other-center'))
    tpm = await startSwtpm({ dir: join(dir, 'tpm'), allowUnmanufactured: true })
    endpoint = await joinEndpoint(pki, TOKEN, HOST_ID)
    const init = await ward(['host', 'init', '--data-dir', D, '--tpm', tpm.spec])
    assert.equal(init.code, 0, init.stderr)
    port = await freePort()
  })

  after(async () => {
    client?.close()
    await agent?.stop()
    await endpoint?.close()
    await tpm?.stop()
    cleanup()
  })

  const join_ = (tokenFile: string) =>
    ward([
      'host',
      'join',
      '--data-dir',
      D,
      '--center',
      endpoint.url,
      '--token-file',
      tokenFile,
      '--ca-file',
      join(pki.dir, PkiFiles.caCert),
      '--listen',
      `127.0.0.1:${port}`,
      '--name',
      'esx-one',
      '--json',
    ])

  it('join: a wrong token is refused and nothing is stored; the right one stores key, certificate and CA', async () => {
    const bad = await join_(secretFile(join(dir, 'bad-token'), 'not-the-token\n'))
    outputs.push(bad.stdout, bad.stderr)
    assert.notEqual(bad.code, 0)
    assert.match(bad.stderr, /ERR_HOST_JOIN_REFUSED/)
    assert.equal(readJoinState(D), undefined)
    // a CA that is not the center's: the center itself is refused
    const wrongCa = await ward([
      'host',
      'join',
      '--data-dir',
      D,
      '--center',
      endpoint.url,
      '--token-file',
      secretFile(join(dir, 'token0'), TOKEN),
      '--ca-file',
      join(other.dir, PkiFiles.caCert),
      '--listen',
      `127.0.0.1:${port}`,
    ])
    outputs.push(wrongCa.stdout, wrongCa.stderr)
    assert.match(wrongCa.stderr, /ERR_HOST_JOIN_UNREACHABLE/)
    assert.equal(endpoint.requests.length, 1, 'nothing was sent to an unverified center')

    const r = await join_(secretFile(join(dir, 'token'), `${TOKEN}\n`))
    outputs.push(r.stdout, r.stderr)
    assert.equal(r.code, 0, r.stderr)
    const j = JSON.parse(r.stdout) as {
      hostId: string
      address: string
      listen: string
      caSha256: string
      certificateSha256: string
    }
    assert.equal(j.hostId, HOST_ID)
    assert.equal(j.caSha256, pki.caFingerprint)
    assert.match(j.certificateSha256, /^sha256:[0-9a-f]{64}$/)
    assert.equal(j.address, `127.0.0.1:${port}`)
    assert.deepEqual(endpoint.requests.at(-1), {
      token: TOKEN,
      name: 'esx-one',
      address: `127.0.0.1:${port}`,
    })
    const rd = join(D, REMOTE_DIR)
    assert.equal(statSync(join(rd, RemoteFiles.key)).mode & 0o777, 0o600)
    assert.equal(statSync(rd).mode & 0o777, 0o700)
    const cert = new x509.X509Certificate(readFileSync(join(rd, RemoteFiles.cert), 'utf8'))
    assert.deepEqual(cert.subjectName.getField('CN'), [HOST_ID])
    assert.equal(readFileSync(join(rd, RemoteFiles.ca), 'utf8'), pki.caCertPem)
    // the private key never left: no request carried it
    const keyPem = readFileSync(join(rd, RemoteFiles.key), 'utf8')
    const keyB64 = keyPem.split('\n').slice(1, -2).join('')
    assert.ok(!JSON.stringify(endpoint.requests).includes(keyB64.slice(0, 40)))
    // joining twice is refused
    const again = await join_(secretFile(join(dir, 'token2'), TOKEN))
    assert.match(again.stderr, /ERR_HOST_ALREADY_JOINED/)

    agent = await serveHost(on())
    assert.match(agent.output(), /listening for the center/)
    client = new HostClient({ hostId: HOST_ID, address: `127.0.0.1:${port}`, pki })
  })

  it('status and keys over mutual TLS; a pushed key lands in the cache and persists with key persistence on', async () => {
    const s = await client.call('status')
    assert.equal(typeof s.hostId, 'string')
    assert.equal(s.keyPersistence, false)
    // settings are local-only: the host admin turns on mode TPM and key persistence
    for (const args of [
      ['host', 'settings', 'encryption', 'set', '--mode=TPM'],
      ['host', 'security', 'keypersistence', 'enable'],
    ]) {
      const r = await ward([...args, '--data-dir', D])
      assert.equal(r.code, 0, r.stderr)
    }
    const pushed = await pushKey(client, {
      providerId: 'kms-a',
      kekId: 'kek-canary',
      key: new Secret(new Uint8Array(KEY)),
    })
    assert.deepEqual(pushed, { providerId: 'kms-a', kekId: 'kek-canary', persisted: true })
    assert.deepEqual(await client.call('keys.has', { providerId: 'kms-a', kekId: 'kek-canary' }), {
      inCache: true,
    })
    assert.deepEqual(await client.call('keys.list'), [{ providerId: 'kms-a', kekId: 'kek-canary' }])
    // the local admin socket sees the same cache
    const local = await ward(['crypto-util', 'keys', 'list', '--data-dir', D, '--json'])
    assert.deepEqual(JSON.parse(local.stdout), [{ providerId: 'kms-a', kekId: 'kek-canary' }])
    // reboot: the key comes back from the TPM-anchored key store; the pooled connection is gone
    outputs.push(agent.output())
    assert.equal(await agent.stop(), 0)
    agent = await serveHost(on())
    assert.deepEqual(await client.call('keys.has', { providerId: 'kms-a', kekId: 'kek-canary' }), {
      inCache: true,
    })
    assert.deepEqual(
      await client.call('keys.remove', { providerId: 'kms-a', kekId: 'kek-canary' }),
      {
        removed: true,
      },
    )
    assert.deepEqual(await client.call('keys.list'), [])
  })

  it('a non-remote operation is refused with a coded error naming it; an unknown one too', async () => {
    for (const op of [
      'settings.encryption.recovery.list',
      'settings.encryption.recovery.rotate',
      'security.keypersistence.disable',
      'settings.encryption.set',
      'crypto.key.export',
      'vm.dump.memory',
    ]) {
      await assert.rejects(
        client.callRaw(op, {}),
        (e: Error & { code?: string; details?: Record<string, unknown> }) => {
          assert.equal(e.code, 'ERR_CENTER_HOST_REFUSED')
          assert.equal(e.details?.hostCode, 'ERR_HOST_REMOTE_DENIED')
          assert.ok(e.message.includes(op), e.message)
          return true
        },
      )
    }
    // @ts-expect-error: the typed client takes only { remote: true } rows
    await assert.rejects(client.call('settings.encryption.recovery.list'))
    await assert.rejects(client.callRaw('no.such.op', {}), { code: 'ERR_CENTER_HOST_REFUSED' })
    await assert.rejects(
      client.call('vm.describe', { name: 'nope' }),
      (e: Error & { details?: Record<string, unknown> }) => {
        assert.equal(e.details?.hostCode, 'ERR_HOST_VM_NOT_FOUND')
        return true
      },
    )
    // the connection stays usable after refusals
    assert.equal(typeof (await client.call('status')).hostId, 'string')
  })

  it('refused at the handshake: no client certificate, one of another CA, a host certificate of the same CA', async () => {
    const hostCert = await (async () => {
      const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const
      const keys = (await webcrypto.subtle.generateKey(alg, true, [
        'sign',
        'verify',
      ])) as webcrypto.CryptoKeyPair
      const csr = await x509.Pkcs10CertificateRequestGenerator.create({
        name: 'CN=h2',
        keys: keys as never,
        signingAlgorithm: alg,
      })
      const c = await signHostCsr(pki, csr.toString('pem'), {
        hostId: 'host-2',
        name: 'h2',
        address: '127.0.0.1:1',
      })
      const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey))
      return {
        cert: c.certPem,
        key: `-----BEGIN PRIVATE KEY-----\n${der.toString('base64')}\n-----END PRIVATE KEY-----\n`,
      }
    })()
    const request = `${JSON.stringify({ id: 1, op: 'status', params: {} })}\n`
    const cases = {
      'no certificate': { ca: pki.caCertPem },
      'another CA': { ca: pki.caCertPem, key: other.client.keyPem, cert: other.client.certPem },
      'a host certificate': { ca: pki.caCertPem, key: hostCert.key, cert: hostCert.cert },
    }
    for (const [what, creds] of Object.entries(cases)) {
      const r = await rawTls(port, creds, request)
      assert.equal(r.closed, true, `${what}: the host closed the connection`)
      assert.equal(r.received, '', `${what}: no answer`)
    }
    // the agent's log lines arrive through a pipe: give them a moment
    for (const line of [/remote handshake refused/, /remote connection refused/]) {
      for (let i = 0; i < 100 && !line.test(agent.output()); i++) await sleep(100)
      assert.match(agent.output(), line)
    }
    // the typed client with such credentials fails the same way
    const intruder = new HostClient({
      hostId: HOST_ID,
      address: `127.0.0.1:${port}`,
      pki: { caCertPem: pki.caCertPem, client: { keyPem: hostCert.key, certPem: hostCert.cert } },
    })
    await assert.rejects(intruder.call('status'), { code: 'ERR_CENTER_HOST_UNREACHABLE' })
    intruder.close()
    // and the center refuses a listener that is not the host it expects
    const wrongId = new HostClient({ hostId: 'host-9', address: `127.0.0.1:${port}`, pki })
    await assert.rejects(wrongId.call('status'), { code: 'ERR_CENTER_HOST_IDENTITY' })
    wrongId.close()
    // a listener whose certificate is not of the center's CA is refused too
    const otherCa = new HostClient({ hostId: HOST_ID, address: `127.0.0.1:${port}`, pki: other })
    await assert.rejects(otherCa.call('status'), { code: 'ERR_CENTER_HOST_UNREACHABLE' })
    otherCa.close()
  })

  it('garbage, a malformed request, a huge frame: that connection is closed, the next call works', async () => {
    const creds = { ca: pki.caCertPem, key: pki.client.keyPem, cert: pki.client.certPem }
    for (const payload of [
      'garbage bytes\n',
      `${JSON.stringify({ id: 1, op: 'status', params: [] })}\n`,
      Buffer.concat([randomBytes(512), Buffer.from('\n')]),
      Buffer.alloc(1 << 20, 0x61),
    ]) {
      const r = await rawTls(port, creds, payload)
      assert.equal(r.closed, true, 'the host closed the connection')
      assert.match(r.received, /ERR_HOST_PROTOCOL/)
      assert.equal(typeof (await client.call('status')).hostId, 'string')
    }
    // a well-formed request on a raw connection is answered and the connection stays open
    const ok = await rawTls(
      port,
      creds,
      `${JSON.stringify({ id: 7, op: 'keys.list', params: {} })}\n`,
      1500,
    )
    assert.equal(ok.closed, false)
    assert.deepEqual(JSON.parse(ok.received), { id: 7, ok: true, result: [] })
  })

  it('a connection that never completes its handshake is closed (handshake timeout)', async () => {
    const t0 = Date.now()
    const closed = await new Promise<boolean>((resolve) => {
      const s = connectTcp(port, '127.0.0.1')
      const timer = setTimeout(() => {
        s.destroy()
        resolve(false)
      }, 60_000)
      s.on('error', () => undefined)
      s.on('close', () => {
        clearTimeout(timer)
        resolve(true)
      })
    })
    assert.equal(closed, true)
    assert.ok(Date.now() - t0 >= 5_000, 'not before the handshake timeout')
  })

  it('the join token and the pushed key appear in no log or output', async () => {
    outputs.push(agent.output())
    const all = outputs.join('\n')
    assert.ok(all.length > 0)
    assert.ok(!all.includes(TOKEN), 'the join token leaked')
    for (const k of KEY_FORMS) assert.ok(!all.includes(k), 'the pushed key leaked')
    // nor in any plain file of the host's data folder
    const walk = (d: string): string[] =>
      readdirSync(d, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? walk(join(d, e.name)) : e.isFile() ? [join(d, e.name)] : [],
      )
    for (const f of walk(D)) {
      const b = readFileSync(f)
      assert.ok(!b.includes(TOKEN), `${f} holds the token`)
      assert.ok(!b.includes(KEY), `${f} holds the key`)
    }
  })
})
