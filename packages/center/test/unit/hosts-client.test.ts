import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer as createNet, type AddressInfo } from 'node:net'
import { createServer, type TLSSocket } from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Secret } from '@ward/core'
import { createCsr } from '@ward/host'
import { initCenterPki, type CenterPki } from '../../src/pki/center-pki.js'
import { signHostCsr } from '../../src/pki/sign-csr.js'
import { HostClient, pushKey } from '../../src/hosts/client.js'

/** A stand-in host listener (the host's certificate from signHostCsr and `createCsr`). */
async function fakeHost(
  pki: CenterPki,
  hostId: string,
  onLine: (line: string, socket: TLSSocket) => void,
): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const cert = await signHostCsr(pki, createCsr(privateKey, publicKey, 'fake'), {
    hostId,
    name: 'fake',
    address: '127.0.0.1:1',
  })
  let n = 0
  const server = createServer(
    {
      key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
      cert: cert.certPem,
      ca: pki.caCertPem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
    },
    (s) => {
      n++
      let buf = ''
      s.setEncoding('utf8')
      s.on('error', () => s.destroy())
      s.on('data', (d: string) => {
        buf += d
        let nl: number
        while ((nl = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, nl), s)
          buf = buf.slice(nl + 1)
        }
      })
    },
  )
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => n,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r())
      }),
  }
}

test('HostClient: pooled connection, typed answers, the host error code kept, pushKey sends keys.add with the key in base64', async () => {
  const d = mkdtempSync(join(tmpdir(), 'ward-hosts-client-'))
  const pki = await initCenterPki(d)
  const seen: unknown[] = []
  const host = await fakeHost(pki, 'h1', (line, s) => {
    const r = JSON.parse(line) as { id: number; op: string; params: Record<string, unknown> }
    seen.push(r)
    if (r.op === 'keys.add')
      s.write(
        `${JSON.stringify({ id: r.id, ok: true, result: { providerId: 'p', kekId: 'k', persisted: false } })}\n`,
      )
    else if (r.op === 'vm.decrypt') {
      seen.push({ askedProgress: (r as { progress?: boolean }).progress === true })
      for (const done of [0, 512, 1024])
        s.write(`${JSON.stringify({ id: r.id, progress: { done, total: 1024 } })}\n`)
      s.write(`${JSON.stringify({ id: r.id + 1, progress: { done: 1, total: 1 } })}\n`) // another request's: ignored
      s.write(
        `${JSON.stringify({ id: r.id, ok: true, result: { name: 'v', evictedKey: true } })}\n`,
      )
    } else if (r.op === 'status') {
      s.write(`${JSON.stringify({ id: r.id, progress: { done: 1, total: 2 } })}\n`) // ignored
      s.write(`${JSON.stringify({ id: r.id, ok: true, result: { hostId: 'x' } })}\n`)
    } else
      s.write(
        `${JSON.stringify({ id: r.id, ok: false, error: { code: 'ERR_HOST_VM_NOT_FOUND', message: 'no VM' } })}\n`,
      )
  })
  const client = new HostClient({ hostId: 'h1', address: `127.0.0.1:${host.port}`, pki })
  try {
    assert.deepEqual(await client.call('status'), { hostId: 'x' })
    const key = Buffer.alloc(32, 7)
    assert.deepEqual(
      await pushKey(client, { providerId: 'p', kekId: 'k', key: new Secret(new Uint8Array(key)) }),
      {
        providerId: 'p',
        kekId: 'k',
        persisted: false,
      },
    )
    await assert.rejects(
      client.call('vm.describe', { name: 'v' }),
      (e: Error & { code?: string; details?: Record<string, unknown> }) => {
        assert.equal(e.code, 'ERR_CENTER_HOST_REFUSED')
        assert.equal(e.details?.hostCode, 'ERR_HOST_VM_NOT_FOUND')
        return true
      },
    )
    assert.deepEqual(await client.call('status'), { hostId: 'x' })
    const progress: { done: number; total: number }[] = []
    const dec = await client.call(
      'vm.decrypt',
      { name: 'v' },
      { onProgress: (p) => progress.push(p) },
    )
    assert.deepEqual(dec, { name: 'v', evictedKey: true })
    assert.deepEqual(progress, [
      { done: 0, total: 1024 },
      { done: 512, total: 1024 },
      { done: 1024, total: 1024 },
    ])
    assert.deepEqual(seen.at(-1), { askedProgress: true })
    assert.equal(host.connections(), 1, 'one pooled connection for sequential calls')
    assert.deepEqual((seen[1] as { params: unknown }).params, {
      providerId: 'p',
      kekId: 'k',
      key: key.toString('base64'),
    })
  } finally {
    client.close()
    await host.close()
    rmSync(d, { recursive: true, force: true })
  }
})

test('HostClient errors: unreachable, wrong host id, no answer in time, malformed and oversized answers', async () => {
  const d = mkdtempSync(join(tmpdir(), 'ward-hosts-client-'))
  const pki = await initCenterPki(d)
  const closed = createNet()
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r))
  const freePort = (closed.address() as AddressInfo).port
  await new Promise<void>((r) => closed.close(() => r()))
  let mode: 'silent' | 'garbage' | 'huge' | 'other-id' = 'silent'
  const host = await fakeHost(pki, 'h1', (_line, s) => {
    if (mode === 'garbage') s.write('this is not json\n')
    else if (mode === 'other-id') s.write(`${JSON.stringify({ id: 999, ok: true, result: {} })}\n`)
    else if (mode === 'huge') s.write(Buffer.alloc(2 << 20, 0x61))
  })
  const at = `127.0.0.1:${host.port}`
  try {
    const down = new HostClient({ hostId: 'h1', address: `127.0.0.1:${freePort}`, pki })
    await assert.rejects(down.call('status'), { code: 'ERR_CENTER_HOST_UNREACHABLE' })
    const wrong = new HostClient({ hostId: 'h2', address: at, pki })
    await assert.rejects(wrong.call('status'), { code: 'ERR_CENTER_HOST_IDENTITY' })
    const slow = new HostClient({ hostId: 'h1', address: at, pki, callMs: 300 })
    await assert.rejects(slow.call('status'), { code: 'ERR_CENTER_HOST_TIMEOUT' })
    mode = 'garbage'
    await assert.rejects(slow.call('status'), { code: 'ERR_CENTER_HOST_PROTOCOL' })
    mode = 'other-id'
    await assert.rejects(slow.call('status'), { code: 'ERR_CENTER_HOST_PROTOCOL' })
    mode = 'huge'
    await assert.rejects(slow.call('status'), { code: 'ERR_CENTER_HOST_PROTOCOL' })
    slow.close()
    await assert.rejects(slow.call('status'), { code: 'ERR_CENTER_HOST_UNREACHABLE' })
    assert.throws(() => new HostClient({ hostId: 'h1', address: 'no port:x', pki }), {
      code: 'ERR_CENTER_HOST_ID',
    })
  } finally {
    await host.close()
    rmSync(d, { recursive: true, force: true })
  }
})
