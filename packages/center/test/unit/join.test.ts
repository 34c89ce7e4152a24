/**
 * The join flow with the center's real CA (initCenter made pki/): a one-time, expiring token
 * from POST /api/vcenter/host/join-token; POST /api/ward/host/join with it and a CSR answers
 * the host's certificate, signed by the CA, and the CA certificate; the host is a row of the
 * inventory. A used, expired or unknown token is refused the same way; a bad CSR uses no token.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { X509Certificate, webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { startTestCenter } from '../helpers.js'
import { makeFixture, snapshot } from '../samples.js'

x509.cryptoProvider.set(webcrypto as never)

async function ecCsr(): Promise<string> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as never
  return (
    await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=host',
      keys,
      signingAlgorithm: alg,
    })
  ).toString('pem')
}

test('a host joins with a one-time token and a CSR: certificate under the CA, inventory row', async () => {
  const t = await startTestCenter()
  try {
    const f = await makeFixture(t)
    const tok = await t.request('POST', '/api/vcenter/host/join-token', {
      auth: f.admin,
      body: { datacenter: f.dc, cluster: f.cluster, ttl_seconds: 600 },
    })
    assert.equal(tok.status, 201)
    const { token } = tok.json as { token: string }
    const stored = await t.center.store.db.selectFrom('join_tokens').selectAll().execute()
    assert.ok(!JSON.stringify(stored).includes(token), 'kept as an HMAC')

    const before = await snapshot(t)
    const bad = await t.request('POST', '/api/ward/host/join', {
      body: {
        token,
        name: 'esx1',
        address: '127.0.0.1:8444',
        csr: `-----BEGIN CERTIFICATE REQUEST-----\n${'A'.repeat(100)}\n-----END CERTIFICATE REQUEST-----\n`,
      },
    })
    assert.equal(bad.status, 400)
    assert.equal((bad.json as { code: string }).code, 'ERR_CENTER_CSR_INVALID')
    const after = JSON.parse(await snapshot(t)) as Record<string, unknown>
    const prior = JSON.parse(before) as Record<string, unknown>
    assert.deepEqual(
      { ...after, counters: 0 },
      { ...prior, counters: 0 },
      'a refused join adds no host and keeps the token',
    )

    const r = await t.request('POST', '/api/ward/host/join', {
      body: { token, name: 'esx1', address: '127.0.0.1:8444', csr: await ecCsr() },
    })
    assert.equal(r.status, 201, JSON.stringify(r.json))
    const j = r.json as { hostId: string; certificate: string; caCertificate: string }
    assert.match(j.hostId, /^host-\d+$/)
    const cert = new X509Certificate(j.certificate)
    const ca = new X509Certificate(j.caCertificate)
    assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey))
    assert.match(cert.subject, new RegExp(`CN=${j.hostId}`))
    const host = (await t.request('GET', `/api/vcenter/host/${j.hostId}`, { auth: f.admin }))
      .json as Record<string, unknown>
    assert.equal(host['cluster'], f.cluster)
    assert.equal(host['name'], 'esx1')
    assert.equal(host['crypto_state'], 'incapable')
    assert.equal(host['connection_state'], 'connected')

    const again = await t.request('POST', '/api/ward/host/join', {
      body: { token, name: 'esx2', address: '127.0.0.1:8445', csr: await ecCsr() },
    })
    assert.equal(again.status, 401)
    assert.equal((again.json as { code: string }).code, 'ERR_CENTER_JOIN_TOKEN')
    const unknown = await t.request('POST', '/api/ward/host/join', {
      body: {
        token: `wardjoin_${'z'.repeat(43)}`,
        name: 'esx3',
        address: '127.0.0.1:8446',
        csr: await ecCsr(),
      },
    })
    assert.deepEqual(
      (unknown.json as { messages: unknown }).messages,
      (again.json as { messages: unknown }).messages,
    )
    // the host set up its admin ops' identity: the fingerprint of its certificate is recorded
    const row = await t.center.store.db
      .selectFrom('hosts')
      .select('cert_fingerprint')
      .where('id', '=', j.hostId)
      .executeTakeFirstOrThrow()
    assert.match(row.cert_fingerprint ?? '', /^sha256:[0-9a-f]{64}$/)
  } finally {
    await t.close()
  }
})

test('an expired join token is refused', async () => {
  const t = await startTestCenter()
  try {
    const f = await makeFixture(t)
    const { token } = (
      await t.request('POST', '/api/vcenter/host/join-token', {
        auth: f.admin,
        body: { datacenter: f.dc },
      })
    ).json as { token: string }
    await t.center.store.db
      .updateTable('join_tokens')
      .set({ expires_at: Date.now() - 1 })
      .execute()
    const r = await t.request('POST', '/api/ward/host/join', {
      body: { token, name: 'late', address: 'esx.example.org:8444', csr: await ecCsr() },
    })
    assert.equal(r.status, 401)
    assert.equal(
      (
        await t.center.store.db
          .selectFrom('hosts')
          .select('id')
          .where('name', '=', 'late')
          .execute()
      ).length,
      0,
    )
  } finally {
    await t.close()
  }
})
