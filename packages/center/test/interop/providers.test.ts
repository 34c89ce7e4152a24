/**
 * Standard key providers against real KMIP servers over real TLS: a cluster of two `ward kms
 * serve` processes on one PostgreSQL (copies of one data dir: both hold the same keys), and
 * `pykmip-server`. Each trust set-up end to end (a KEK created with vCenter's x- tags and
 * fetched), status colours (stopped server, near-expiry and expired certificates, an untrusted
 * KMS), failover, the key status reasons, key garbage collection, and the canary: no client
 * private key and no KEK byte in any log line, audit row or error.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { KmipClient, State } from '@ward/kmip'
import { startTestCenter, type TestCenter } from '../helpers.js'
import { createTestDb, type TestDb } from '../pg.js'
import {
  copyKmsDir,
  initKmsDir,
  kmsCa,
  kmsClient,
  kmsServerCert,
  serveKms,
  signWithKmsCa,
  startPykmipServer,
  trustClientCert,
  type KmsProcess,
} from '../helpers/providers-kms.js'
import { selfSignedClient } from '../../src/providers/certs.js'
import type { StandardRuntime } from '../../src/providers/registry.js'

const P = '/api/vcenter/crypto-manager/kms/providers'

interface Status {
  overall_status: string
  servers: {
    name: string
    status: string
    connection_status: string
    client_trust_server: boolean
    server_trust_client: boolean
    cert_info: { seconds_before_expire: number } | null
  }[]
  client_cert_info: { seconds_before_expire: number } | null
}

describe('standard key providers: a ward kms cluster of two on PostgreSQL', () => {
  const root = mkdtempSync(join(tmpdir(), 'ward-center-providers-'))
  const dirA = join(root, 'kms-a')
  const dirB = join(root, 'kms-b')
  let t: TestCenter
  let admin: string
  let db: TestDb
  let a: KmsProcess
  let b: KmsProcess
  /** Private keys the test knows (uploaded): none may appear anywhere. */
  const canaries: string[] = []
  const kekBytes: Buffer[] = []
  let uploaded: { certPem: string; keyPem: string }

  const req = async (method: string, url: string, body?: unknown, auth = admin) => {
    const r = await t.request(method, url, { auth, ...(body !== undefined ? { body } : {}) })
    return r
  }
  const ok = async (method: string, url: string, body?: unknown) => {
    const r = await req(method, url, body)
    assert.ok(r.status < 300, `${method} ${url}: ${r.status} ${JSON.stringify(r.json)}`)
    return r.json as Record<string, unknown>
  }
  const rt = async (id: string) => (await t.center.keyProviders.get(id)) as StandardRuntime
  const status = async (id: string) => (await ok('GET', `${P}/${id}/status`)) as unknown as Status
  const keyOf = (pem: string) => pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '')

  before(async () => {
    t = await startTestCenter()
    admin = await t.login()
    db = await createTestDb()
    initKmsDir(dirA)
    for (const p of [
      'p-ca',
      'p-self',
      'p-csr',
      'p-pin',
      'p-near',
      'p-expired',
      'p-untrusted',
      'p-dead',
      'p-half',
    ])
      await ok('POST', P, { provider: p })
    // (a) the center trusts the KMS: its CA, or its server certificate (pinned)
    for (const p of ['p-ca', 'p-self', 'p-csr', 'p-near', 'p-expired', 'p-dead', 'p-half'])
      await ok('PUT', `${P}/${p}/peer-certs/trusted`, { certificates: [kmsCa(dirA)] })
    // or the KMS server certificate itself, though its CA issued it: pinned by fingerprint
    await ok('PUT', `${P}/p-pin/peer-certs/trusted`, { certificates: [kmsServerCert(dirA)] })
    // two server certificates cannot both be pinned: refused (upload their CA)
    const two = await req('PUT', `${P}/p-self/peer-certs/trusted`, {
      certificates: [kmsServerCert(dirA), (await selfSignedClient('another-kms', 30)).certPem],
    })
    assert.equal(two.status, 400)
    assert.equal((two.json as { code: string }).code, 'ERR_CENTER_PROVIDER_CERT')
    const stranger = await selfSignedClient('not-the-kms', 30)
    await ok('PUT', `${P}/p-untrusted/peer-certs/trusted`, { certificates: [stranger.certPem] })
    // (d) an uploaded client certificate and key (issued by the KMS: ward kms client add)
    uploaded = kmsClient(dirA, 'ward-center')
    canaries.push(keyOf(uploaded.keyPem))
    for (const p of ['p-ca', 'p-pin', 'p-untrusted', 'p-dead'])
      await ok('PUT', `${P}/${p}/client-cert`, {
        certificate: uploaded.certPem,
        private_key: uploaded.keyPem,
      })
    // (b) a self-signed client certificate, which the KMS administrator then trusts
    const self = (await ok('POST', `${P}/p-self/client-cert/self-signed`, {})) as {
      certificate: string
    }
    assert.doesNotMatch(JSON.stringify(self), /PRIVATE KEY/)
    trustClientCert(dirA, self.certificate)
    const near = (await ok('POST', `${P}/p-near/client-cert/self-signed`, {
      validity_days: 10,
    })) as { certificate: string }
    trustClientCert(dirA, near.certificate)
    // (c) a CSR the KMS signs; a certificate for another key is refused
    const { csr } = (await ok('POST', `${P}/p-csr/client-cert/csr`)) as { csr: string }
    assert.match(csr, /BEGIN CERTIFICATE REQUEST/)
    const wrong = await req('PUT', `${P}/p-csr/client-cert`, { certificate: uploaded.certPem })
    assert.equal(wrong.status, 400)
    assert.equal((wrong.json as { code: string }).code, 'ERR_CENTER_PROVIDER_CERT')
    const signed = await signWithKmsCa(dirA, { csrPem: csr })
    await ok('PUT', `${P}/p-csr/client-cert`, { certificate: signed.certPem })
    // an expired client certificate, signed by the KMS's CA
    const expired = await signWithKmsCa(dirA, {
      cn: 'expired',
      notBefore: new Date(Date.now() - 10 * 86400_000),
      notAfter: new Date(Date.now() - 86400_000),
    })
    canaries.push(keyOf(expired.keyPem!))
    await ok('PUT', `${P}/p-expired/client-cert`, {
      certificate: expired.certPem,
      private_key: expired.keyPem,
    })
    // a key that is not the certificate's is refused
    const mismatch = await req('PUT', `${P}/p-half/client-cert`, {
      certificate: uploaded.certPem,
      private_key: expired.keyPem,
    })
    assert.equal(mismatch.status, 400)
    copyKmsDir(dirA, dirB)
    ;[a, b] = await Promise.all([serveKms(dirA, db.url), serveKms(dirB, db.url)])
    const servers = [
      { name: 'kms-a', address: '127.0.0.1', port: a.port },
      { name: 'kms-b', address: '127.0.0.1', port: b.port },
    ]
    for (const p of [
      'p-ca',
      'p-self',
      'p-csr',
      'p-pin',
      'p-near',
      'p-expired',
      'p-untrusted',
      'p-half',
    ])
      await ok('PATCH', `${P}/${p}`, { servers })
    await ok('PATCH', `${P}/p-dead`, { servers: [{ name: 'gone', address: '127.0.0.1', port: 1 }] })
  })

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    await t?.close()
    await db?.drop()
    rmSync(root, { recursive: true, force: true })
  })

  for (const [p, setUp] of [
    ['p-ca', 'KMS CA + uploaded certificate and key'],
    ['p-self', 'KMS CA + self-signed client certificate'],
    ['p-csr', 'KMS CA + CSR signed by the KMS'],
    ['p-pin', 'KMS server certificate issued by its CA, pinned + uploaded certificate and key'],
  ] as const)
    test(`trust set-up ${setUp}: a KEK created, tagged as vCenter does, and fetched`, async () => {
      const r = await rt(p)
      const { kekId } = await r.newKek({ label: p })
      const key = await r.fetchKek(kekId)
      assert.equal(key.length, 32)
      kekBytes.push(key.use((k) => Buffer.from(k)))
      key.dispose()
      assert.equal(await r.keyState(kekId), 'KeyStateAvailable')
      const row = await t.center.store.db
        .selectFrom('center_keys')
        .selectAll()
        .where('provider', '=', p)
        .where('kek_id', '=', kekId)
        .executeTakeFirstOrThrow()
      assert.equal(row.state, 'active')
      if (p === 'p-ca') {
        // the x- attributes, read back by the same identity
        const c = new KmipClient({
          servers: [{ host: '127.0.0.1', port: b.port }],
          tls: { caPem: kmsCa(dirA), certPem: uploaded.certPem, keyPem: uploaded.keyPem },
        })
        try {
          const attrs = await c.getAttributes(kekId, ['x-Vendor', 'x-Product', 'State'])
          const v = Object.fromEntries(attrs.map((x) => [x.name, x.value.value]))
          assert.equal(v['x-Vendor'], 'Ward')
          assert.equal(v['x-Product'], 'Ward center')
          assert.equal(v['State'], State.Active)
        } finally {
          c.close()
        }
      }
      const st = await status(p)
      assert.equal(st.overall_status, 'green', JSON.stringify(st))
      for (const s of st.servers) {
        assert.equal(s.client_trust_server, true)
        assert.equal(s.server_trust_client, true)
        assert.ok(s.cert_info!.seconds_before_expire > 86400)
      }
    })

  test('status colours: near-expiry yellow, expired red, untrusted KMS red, incomplete gray', async () => {
    const near = await status('p-near')
    assert.equal(near.overall_status, 'yellow', JSON.stringify(near))
    assert.ok(near.client_cert_info!.seconds_before_expire < 11 * 86400)
    assert.ok(near.servers.every((s) => s.server_trust_client && s.client_trust_server))
    const expired = await status('p-expired')
    assert.equal(expired.overall_status, 'red')
    assert.ok(expired.servers.every((s) => !s.server_trust_client && s.client_trust_server))
    assert.ok(expired.client_cert_info!.seconds_before_expire < 0)
    const untrusted = await status('p-untrusted')
    assert.equal(untrusted.overall_status, 'red')
    assert.ok(untrusted.servers.every((s) => !s.client_trust_server && s.server_trust_client))
    const half = await status('p-half')
    assert.equal(half.overall_status, 'gray')
    const dead = await status('p-dead')
    assert.equal(dead.overall_status, 'red')
    assert.match(dead.servers[0]!.connection_status, /^not connected/)
    // an untrusted KMS is never used for keys
    await assert.rejects((await rt('p-untrusted')).newKek({}), /ERR_CENTER_KMS_UNREACHABLE|no KMS/)
  })

  test('key status: the seed reasons and the VMs, disks and hosts using a key', async () => {
    const r = await rt('p-ca')
    const { kekId } = await r.newKek({ label: 'status' })
    const { kekId: revoked } = await r.newKek({ label: 'revoked' })
    const c = new KmipClient({
      servers: [{ host: '127.0.0.1', port: a.port }],
      tls: { caPem: kmsCa(dirA), certPem: uploaded.certPem, keyPem: uploaded.keyPem },
    })
    await c.revoke(revoked)
    c.close()
    const d = t.center.store.db
    const dc = (await ok('POST', '/api/vcenter/datacenter', {
      name: 'dc-keys',
    })) as unknown as string
    await d
      .insertInto('hosts')
      .values({
        id: 'host-700001',
        datacenter: dc,
        cluster: null,
        name: 'hk',
        address: '127.0.0.1:1',
        connection_state: 'connected',
        crypto_state: 'safe',
        tpm_present: 0,
        key_persistence: 0,
        recovery_key_backed_up: 0,
        cert_fingerprint: null,
        created_at: Date.now(),
      })
      .execute()
    await d
      .insertInto('vms')
      .values({
        id: 'vm-700002',
        datacenter: dc,
        host: 'host-700001',
        datastore: null,
        name: 'vk',
        power_state: 'POWERED_OFF',
        crypto_state: 'unlocked',
        key_provider: 'p-ca',
        kek_id: kekId,
        created_at: Date.now(),
      })
      .execute()
    await d
      .insertInto('disks')
      .values({
        id: 'disk-700003',
        vm: 'vm-700002',
        name: 'd0',
        capacity: 1 << 20,
        encrypted: 1,
        key_provider: 'p-ca',
        kek_id: kekId,
        created_at: Date.now(),
      })
      .execute()
    const rows = (await ok('POST', '/api/ward/keys/status', {
      keys: [
        { provider: 'p-ca', key_id: kekId },
        { provider: 'p-ca', key_id: revoked },
        { provider: 'p-ca', key_id: 'no-such-key' },
        { provider: 'p-dead', key_id: kekId },
        { provider: 'p-half', key_id: kekId },
        { provider: 'p-unknown', key_id: kekId },
      ],
    })) as unknown as { reason: string; vms: string[]; disks: string[]; hosts: string[] }[]
    assert.deepEqual(
      rows.map((x) => x.reason),
      [
        'KeyStateAvailable',
        'KeyStateNotActiveOrEnabled',
        'KeyStateMissingInKMS',
        'KeyStateClusterUnreachable',
        'KeyStateClusterInvalid',
        'KeyStateClusterInvalid',
      ],
    )
    assert.deepEqual(rows[0]!.vms, ['vm-700002'])
    assert.deepEqual(rows[0]!.disks, ['disk-700003'])
    assert.deepEqual(rows[0]!.hosts, ['host-700001'])
  })

  test('garbage collection: unused keys listed, refused without ManageKeys, destroyed after the grace period, audited', async () => {
    const r = await rt('p-ca')
    const { kekId: unused } = await r.newKek({ label: 'gc' })
    // keys only a host (its host key) or a cluster (its host key policy) uses are in use too
    const { kekId: hostKey } = await r.newKek({ label: 'gc-host-key' })
    const { kekId: wantedKey } = await r.newKek({ label: 'gc-host-key-wanted' })
    const { kekId: policyKey } = await r.newKek({ label: 'gc-cluster-policy' })
    const dcId = (await ok('POST', '/api/vcenter/datacenter', {
      name: 'dc-gc',
    })) as unknown as string
    const cl = (await ok('POST', '/api/vcenter/cluster', {
      name: 'cl-gc',
      datacenter: dcId,
    })) as unknown as string
    const ref = (keyId: string): string => JSON.stringify({ providerId: 'p-ca', keyId })
    await t.center.store.db
      .updateTable('hosts')
      .set({ host_key: ref(hostKey), crypto_key_wanted: ref(wantedKey) })
      .where('id', '=', 'host-700001')
      .execute()
    await t.center.store.db
      .updateTable('clusters')
      .set({ crypto_policy: ref(policyKey) })
      .where('id', '=', cl)
      .execute()
    const inUse = [hostKey, wantedKey, policyKey]
    await ok('PUT', '/api/ward/keys/gc/settings', { grace_seconds: 3600 })
    const list = (await ok('GET', '/api/ward/keys/gc')) as unknown as {
      keys: { key_id: string; provider: string }[]
    }
    assert.ok(list.keys.some((k) => k.key_id === unused && k.provider === 'p-ca'))
    for (const k of inUse) assert.ok(!list.keys.some((x) => x.key_id === k), `${k} is in use`)
    // a key a VM uses is never listed
    const used = (
      await t.center.store.db
        .selectFrom('vms')
        .select('kek_id')
        .where('id', '=', 'vm-700002')
        .executeTakeFirst()
    )?.kek_id
    if (used) assert.ok(!list.keys.some((k) => k.key_id === used))
    // ReadOnly may list but not destroy
    await ok('POST', '/api/ward/users', { name: 'reader', password: 'reader-password' })
    await ok('PUT', '/api/ward/permissions', {
      object: 'root',
      principal: 'reader',
      role: 'ReadOnly',
      propagate: true,
    })
    const reader = await t.login('reader', 'reader-password')
    const refused = await req('POST', '/api/ward/keys/gc', undefined, reader)
    assert.equal(refused.status, 403)
    assert.equal((refused.json as { code: string }).code, 'ERR_CENTER_PERMISSION_DENIED')
    // within the grace period: nothing destroyed
    const early = (await ok('POST', '/api/ward/keys/gc')) as unknown as {
      destroyed: unknown[]
      waiting: number
    }
    assert.equal(early.destroyed.length, 0)
    assert.ok(early.waiting >= 1)
    assert.equal(await r.keyState(unused), 'KeyStateAvailable')
    await ok('PUT', '/api/ward/keys/gc/settings', { grace_seconds: 0 })
    const run = (await ok('POST', '/api/ward/keys/gc')) as unknown as {
      destroyed: { key_id: string }[]
      failed: unknown[]
    }
    assert.deepEqual(run.failed, [])
    assert.ok(run.destroyed.some((k) => k.key_id === unused))
    assert.ok(!run.destroyed.some((k) => k.key_id === used))
    for (const k of inUse) {
      assert.ok(!run.destroyed.some((x) => x.key_id === k))
      assert.equal(await r.keyState(k), 'KeyStateAvailable')
    }
    assert.notEqual(await r.keyState(unused), 'KeyStateAvailable')
    await new Promise((res) => setTimeout(res, 50))
    const audit = await t.center.store.db
      .selectFrom('audit')
      .selectAll()
      .where('route', '=', 'key-gc: Revoke+Destroy')
      .where('object', '=', `p-ca/${unused}`)
      .execute()
    assert.equal(audit.length, 1)
    assert.equal(audit[0]!.principal, 'admin')
  })

  test('failover: one ward kms of the two stopped, the next Create and Get still work', async () => {
    const r = await rt('p-ca')
    const { kekId: before1 } = await r.newKek({ label: 'before' })
    await a.stop()
    const { kekId: after1 } = await r.newKek({ label: 'after' })
    for (const id of [before1, after1]) {
      const k = await r.fetchKek(id)
      assert.equal(k.length, 32)
      kekBytes.push(k.use((x) => Buffer.from(x)))
      k.dispose()
    }
    const st = await status('p-ca')
    assert.equal(st.overall_status, 'red')
    assert.equal(st.servers[0]!.status, 'red')
    assert.match(st.servers[0]!.connection_status, /^not connected/)
    assert.equal(st.servers[1]!.status, 'green')
  })

  test('canary: no client private key and no KEK byte in any log line, audit row or answer', async () => {
    const audit = JSON.stringify(await t.center.store.db.selectFrom('audit').selectAll().execute())
    const provs = JSON.stringify(
      await t.center.store.db.selectFrom('key_providers').select(['id', 'spec']).execute(),
    )
    const listed = JSON.stringify((await req('GET', P)).json)
    const haystack = [t.logs.join('\n'), audit, provs, listed].join('\n')
    assert.ok(kekBytes.length >= 3)
    for (const c of canaries) {
      assert.ok(!haystack.includes(c.slice(20, 80)), 'a client private key leaked')
    }
    for (const k of kekBytes) {
      assert.ok(!haystack.includes(k.toString('hex')), 'a KEK leaked (hex)')
      assert.ok(!haystack.includes(k.toString('base64')), 'a KEK leaked (base64)')
    }
    assert.doesNotMatch(haystack, /PRIVATE KEY/)
  })
})

describe('standard key provider against pykmip-server', () => {
  test('CA + uploaded certificate and key: a KEK created (untagged: no AddAttribute), fetched, available; its 30-day certificates are yellow', async () => {
    const srv = await startPykmipServer({ clientCn: 'ward-center' })
    const t = await startTestCenter()
    try {
      const admin = await t.login()
      const call = async (method: string, url: string, body?: unknown) => {
        const r = await t.request(method, url, {
          auth: admin,
          ...(body !== undefined ? { body } : {}),
        })
        assert.ok(r.status < 300, `${url}: ${r.status} ${JSON.stringify(r.json)}`)
        return r.json
      }
      await call('POST', P, {
        provider: 'py',
        servers: [{ name: 'pykmip', address: '127.0.0.1', port: srv.port }],
      })
      await call('PUT', `${P}/py/peer-certs/trusted`, { certificates: [srv.caPem] })
      await call('PUT', `${P}/py/client-cert`, {
        certificate: srv.clientCertPem,
        private_key: srv.clientKeyPem,
      })
      await call('PUT', `${P}/py/default`, {})
      const r = (await t.center.keyProviders.defaultFor()) as StandardRuntime
      assert.equal(r.id, 'py')
      const { kekId } = await r.newKek({ label: 'py' })
      const k = await r.fetchKek(kekId)
      assert.equal(k.length, 32)
      k.dispose()
      assert.equal(await r.keyState(kekId), 'KeyStateAvailable')
      const st = (await call('GET', `${P}/py/status`)) as Status
      assert.equal(st.overall_status, 'yellow', JSON.stringify(st))
      assert.ok(st.servers[0]!.client_trust_server && st.servers[0]!.server_trust_client)
      const logs = t.logs.join('\n')
      assert.match(logs, /did not take the x- attributes/)
      assert.ok(!logs.includes(keyBody(srv.clientKeyPem)))
    } finally {
      await t.close()
      await srv.stop()
    }
  })
})

const keyBody = (pem: string) =>
  pem
    .replace(/-----[^-]+-----/g, '')
    .replace(/\s+/g, '')
    .slice(20, 80)
