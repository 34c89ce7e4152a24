/**
 * deliverKek end to end: a KEK created on a real `ward kms`, fetched by the center and pushed over
 * mutual TLS into the key cache of a real `ward host serve` (its own swtpm) joined with the
 * center's CA. The host is given no KMS credential; the KEK's bytes appear in no log line.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startSwtpm, type RunningSwtpm } from '@ward/host/testing'
import { HostClient } from '../../src/hosts/client.js'
import { PkiFiles, loadCenterPki, type CenterPki } from '../../src/pki/center-pki.js'
import type { StandardRuntime } from '../../src/providers/registry.js'
import { startTestCenter, type TestCenter } from '../helpers.js'
import {
  freePort,
  joinEndpoint,
  secretFile,
  serveHost,
  tempDir,
  ward,
  type JoinEndpoint,
  type Serving,
} from '../helpers/hosts-harness.js'
import {
  initKmsDir,
  kmsCa,
  kmsClient,
  serveKms,
  type KmsProcess,
} from '../helpers/providers-kms.js'

const TOKEN = `join-token-${randomBytes(12).toString('hex')}`
const HOST_ID = 'host-1'
const P = '/api/vcenter/crypto-manager/kms/providers'

describe('deliverKek: ward kms → center → ward host key cache (mutual TLS, swtpm)', () => {
  const { dir, cleanup } = tempDir('ward-center-deliver-')
  const D = join(dir, 'host')
  let t: TestCenter
  let pki: CenterPki
  let tpm: RunningSwtpm
  let endpoint: JoinEndpoint
  let agent: Serving
  let kms: KmsProcess
  let client: HostClient
  let port: number

  before(async () => {
    t = await startTestCenter()
    pki = await loadCenterPki(t.dataDir)
    tpm = await startSwtpm({ dir: join(dir, 'tpm'), allowUnmanufactured: true })
    endpoint = await joinEndpoint(pki, TOKEN, HOST_ID)
    const init = await ward(['host', 'init', '--data-dir', D, '--tpm', tpm.spec])
    assert.equal(init.code, 0, init.stderr)
    port = await freePort()
    const j = await ward([
      'host',
      'join',
      '--data-dir',
      D,
      '--center',
      endpoint.url,
      '--token-file',
      secretFile(join(dir, 'token'), TOKEN),
      '--ca-file',
      join(pki.dir, PkiFiles.caCert),
      '--listen',
      `127.0.0.1:${port}`,
      '--name',
      'esx-deliver',
    ])
    assert.equal(j.code, 0, j.stderr)
    agent = await serveHost(['--data-dir', D, '--simulate-firmware', '--secure-boot=on'])
    client = new HostClient({ hostId: HOST_ID, address: `127.0.0.1:${port}`, pki })
    for (const args of [
      ['host', 'settings', 'encryption', 'set', '--mode=TPM'],
      ['host', 'security', 'keypersistence', 'enable'],
    ]) {
      const r = await ward([...args, '--data-dir', D])
      assert.equal(r.code, 0, r.stderr)
    }
    // the host in the center's inventory (the join route's row, inserted here)
    const admin = await t.login()
    const dc = (
      await t.request('POST', '/api/vcenter/datacenter', { auth: admin, body: { name: 'dc' } })
    ).json as string
    await t.center.store.db
      .insertInto('hosts')
      .values({
        id: HOST_ID,
        datacenter: dc,
        cluster: null,
        name: 'esx-deliver',
        address: `127.0.0.1:${port}`,
        connection_state: 'connected',
        crypto_state: 'safe',
        tpm_present: 1,
        key_persistence: 1,
        recovery_key_backed_up: 0,
        cert_fingerprint: null,
        created_at: Date.now(),
      })
      .execute()
    const kmsDir = join(dir, 'kms')
    initKmsDir(kmsDir)
    const cc = kmsClient(kmsDir, 'center')
    kms = await serveKms(kmsDir)
    const call = async (method: string, url: string, body: unknown) => {
      const r = await t.request(method, url, { auth: admin, body })
      assert.ok(r.status < 300, `${url}: ${r.status} ${JSON.stringify(r.json)}`)
    }
    await call('POST', P, {
      provider: 'kp',
      servers: [{ name: 'k', address: '127.0.0.1', port: kms.port }],
    })
    await call('PUT', `${P}/kp/peer-certs/trusted`, { certificates: [kmsCa(kmsDir)] })
    await call('PUT', `${P}/kp/client-cert`, { certificate: cc.certPem, private_key: cc.keyPem })
  })

  after(async () => {
    client?.close()
    await agent?.stop()
    await endpoint?.close()
    await tpm?.stop()
    await kms?.stop()
    await t?.close()
    cleanup()
  })

  it('the KEK lands in the host key cache; its bytes are in no log', async () => {
    const rt = (await t.center.keyProviders.get('kp')) as StandardRuntime
    const { kekId } = await rt.newKek({ label: 'deliver' })
    assert.deepEqual(await client.call('keys.has', { providerId: 'kp', kekId }), { inCache: false })
    // a VM on the host uses it: key status says the host's cache lacks it
    const dc = (
      await t.center.store.db.selectFrom('hosts').select('datacenter').executeTakeFirstOrThrow()
    ).datacenter
    await t.center.store.db
      .insertInto('vms')
      .values({
        id: 'vm-1',
        datacenter: dc,
        host: HOST_ID,
        datastore: null,
        name: 'v',
        power_state: 'POWERED_OFF',
        crypto_state: 'unlocked',
        key_provider: 'kp',
        kek_id: kekId,
        created_at: Date.now(),
      })
      .execute()
    const admin = await t.login()
    const reason = async () =>
      (
        (
          await t.request('POST', '/api/ward/keys/status', {
            auth: admin,
            body: { keys: [{ provider: 'kp', key_id: kekId }] },
          })
        ).json as { reason: string; hosts: string[] }[]
      )[0]!
    assert.deepEqual(await reason().then((r) => [r.reason, r.hosts]), [
      'KeyStateMissingInCache',
      [HOST_ID],
    ])
    await rt.deliverKek(kekId, { hostId: HOST_ID })
    assert.deepEqual(await client.call('keys.has', { providerId: 'kp', kekId }), { inCache: true })
    assert.equal((await reason()).reason, 'KeyStateAvailable')
    const k = await rt.fetchKek(kekId)
    const forms = k.use((b) => [Buffer.from(b).toString('hex'), Buffer.from(b).toString('base64')])
    k.dispose()
    const logs = [t.logs.join('\n'), agent.output()].join('\n')
    for (const f of forms) assert.ok(!logs.includes(f), 'a KEK leaked into a log')
    assert.doesNotMatch(agent.output(), /PRIVATE KEY/)
  })
})
