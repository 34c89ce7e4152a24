/**
 * `serveCenter` over real TLS: HTTPS only, with the data dir's server certificate; the typed
 * client trusts the center's CA and nothing else; login, a call with the session, logout.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { request } from 'node:http'
import { CenterClient } from '../../src/client.js'
import { serveCenter } from '../../src/center.js'
import { createLogger } from '@ward/core'
import { ADMIN, ADMIN_PASSWORD, startTestCenter } from '../helpers.js'

test('ward center serve: HTTPS with the CA of the data dir; the client logs in, calls, logs out', async () => {
  const t = await startTestCenter()
  await t.center.close() // the data dir is free for the server
  const s = await serveCenter({
    dataDir: t.dataDir,
    listen: '127.0.0.1:0',
    logger: createLogger('center', { level: 'silent' }),
  })
  try {
    assert.match(s.url, /^https:\/\/127\.0\.0\.1:\d+$/)
    const ca = readFileSync(join(t.dataDir, 'pki', 'ca.crt'), 'utf8')
    const sid = await new CenterClient({
      url: s.url,
      ca,
      basic: { user: ADMIN, password: ADMIN_PASSWORD },
    }).call('session.create', {})
    const c = new CenterClient({ url: s.url, ca, sessionId: sid })
    const dc = await c.call('datacenter.create', { body: { name: 'tls-dc' } })
    assert.deepEqual(await c.call('datacenter.get', { params: { datacenter: dc } }), {
      datacenter: dc,
      name: 'tls-dc',
    })
    await assert.rejects(
      c.call('datacenter.get', { params: { datacenter: 'datacenter-99999' } }),
      (e: Error & { apiCode?: string; status?: number }) =>
        e.apiCode === 'ERR_CENTER_NOT_FOUND' && e.status === 404,
    )
    await c.call('session.delete', {})
    await assert.rejects(
      c.call('session.get', {}),
      (e: Error & { apiCode?: string }) => e.apiCode === 'ERR_CENTER_UNAUTHENTICATED',
    )
    // without the center's CA the handshake fails: no trust on first use
    await assert.rejects(new CenterClient({ url: s.url }).call('openapi.get', {}), {
      code: 'ERR_CENTER_API',
    })
    // plain HTTP on the HTTPS port gets no API answer
    const port = Number(new URL(s.url).port)
    const plain = await new Promise<number | string>((resolve) => {
      const r = request({ host: '127.0.0.1', port, path: '/api/openapi.json' }, (res) =>
        resolve(res.statusCode ?? 0),
      )
      r.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'))
      r.end()
    })
    assert.notEqual(plain, 200)
  } finally {
    await s.close()
    await t.close().catch(() => undefined)
  }
})
