/**
 * The leader's host monitor against a real joined host: `ward center serve` in this process
 * (SQLite: the leader), `ward host serve` with its own swtpm joined through the real join route.
 * The host's status lands in the hosts row (GET /api/vcenter/host); the recovery key alarm follows
 * `recovery list`; a host that goes away becomes notResponding with an alarm and an event, and
 * comes back connected with the alarm cleared; "enable host encryption mode" over mutual TLS puts
 * the host in safe.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { Secret, createLogger } from '@ward/core'
import { startSwtpm, type RunningSwtpm } from '@ward/host/testing'
import { initCenter, serveCenter } from '../../src/center.js'
import { CenterClient } from '../../src/client.js'
import { PKI_DIR, PkiFiles } from '../../src/pki/center-pki.js'
import { pushKey } from '../../src/hosts/client.js'
import {
  freePort,
  secretFile,
  serveHost,
  tempDir,
  ward,
  type Serving,
} from '../helpers/hosts-harness.js'

const PASSWORD = 'monitor test admin password'
const HOST_KEY = randomBytes(32)

/** Wait until `check` returns a value (not undefined), or fail after `ms`. */
async function until<T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await check()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(200)
  }
}

describe('host monitor: a real joined host (ward host serve, swtpm), polled by the leader', () => {
  const { dir, cleanup } = tempDir('ward-center-monitor-')
  const C = join(dir, 'center')
  const D = join(dir, 'host')
  let tpm: RunningSwtpm
  let center: Awaited<ReturnType<typeof serveCenter>>
  let api: CenterClient
  let agent: Serving | undefined
  let hostId: string
  let cluster: string
  const logs: string[] = []
  const hostArgs = (): string[] => ['--data-dir', D, '--simulate-firmware', '--secure-boot=on']

  before(async () => {
    await initCenter({ dataDir: C, admin: 'admin', password: Buffer.from(PASSWORD) })
    center = await serveCenter({
      dataDir: C,
      logger: createLogger('center', { destination: { write: (l: string) => void logs.push(l) } }),
      listen: '127.0.0.1:0',
      monitor: { pollMs: 300, hostCallMs: 3000 },
    })
    const ca = readFileSync(join(C, PKI_DIR, PkiFiles.caCert), 'utf8')
    const sid = await new CenterClient({
      url: center.url,
      ca,
      basic: { user: 'admin', password: PASSWORD },
    }).call('session.create', {})
    api = new CenterClient({ url: center.url, ca, sessionId: sid })
    tpm = await startSwtpm({ dir: join(dir, 'tpm'), allowUnmanufactured: true })
    const init = await ward(['host', 'init', '--data-dir', D, '--tpm', tpm.spec])
    assert.equal(init.code, 0, init.stderr)
  })

  after(async () => {
    // the host key pushed in this run appears in no log line
    for (const form of [HOST_KEY.toString('base64'), HOST_KEY.toString('hex')])
      assert.ok(!logs.join('').includes(form))
    await agent?.stop()
    await center?.close()
    await tpm?.stop()
    cleanup()
  })

  const hostRow = async () => (await api.call('host.list', {})).find((h) => h.host === hostId)

  it('a host joins through the real route; the leader polls its status into the hosts row', async () => {
    const dc = await api.call('datacenter.create', { body: { name: 'dc-mon' } })
    cluster = await api.call('cluster.create', { body: { name: 'c-mon', datacenter: dc } })
    const { token } = await api.call('host.joinToken', { body: { datacenter: dc, cluster } })
    const port = await freePort()
    const j = await ward([
      'host',
      'join',
      '--data-dir',
      D,
      '--center',
      center.url,
      '--token-file',
      secretFile(join(dir, 'token'), token),
      '--ca-file',
      join(C, PKI_DIR, PkiFiles.caCert),
      '--listen',
      `127.0.0.1:${port}`,
      '--name',
      'esx-mon',
      '--json',
    ])
    assert.equal(j.code, 0, j.stderr)
    hostId = (JSON.parse(j.stdout) as { hostId: string }).hostId
    agent = await serveHost(hostArgs())
    const h = await until('the first poll', 20_000, async () => {
      const r = await hostRow()
      return r?.last_seen !== null ? r : undefined
    })
    assert.equal(h!.connection_state, 'connected')
    assert.equal(h!.tpm_present, true)
    assert.equal(h!.secure_config_mode, 'NONE')
    assert.equal(h!.key_persistence, false)
    assert.equal(h!.crypto_state, 'incapable')
    // mode NONE has no recovery key: nothing to back up
    assert.equal(h!.recovery_key_backed_up, true)
  })

  it('mode TPM and key persistence on the host: the row follows; the recovery key alarm is raised until recovery list shows the key', async () => {
    for (const args of [
      ['host', 'settings', 'encryption', 'set', '--mode=TPM'],
      ['host', 'security', 'keypersistence', 'enable'],
    ]) {
      const r = await ward([...args, '--data-dir', D])
      assert.equal(r.code, 0, r.stderr)
    }
    const h = await until('mode TPM in the row', 20_000, async () => {
      const r = await hostRow()
      return r?.secure_config_mode === 'TPM' && r.key_persistence ? r : undefined
    })
    assert.equal(h.recovery_key_backed_up, false)
    const alarm = await until('the recovery key alarm', 20_000, async () =>
      (await api.call('alarm.list', { query: { object: hostId } })).find(
        (a) => a.definition === 'RecoveryKeyNotBackedUp' && a.status !== 'green',
      ),
    )
    assert.equal(alarm.status, 'yellow')
    assert.equal(alarm.name, 'TPM Encryption Recovery Key Backup')
    const listed = await ward([
      'host',
      'settings',
      'encryption',
      'recovery',
      'list',
      '--data-dir',
      D,
    ])
    assert.equal(listed.code, 0, listed.stderr)
    await until('the recovery key counted as backed up', 20_000, async () =>
      (await hostRow())?.recovery_key_backed_up === true ? true : undefined,
    )
    await until('the alarm cleared', 20_000, async () =>
      (await api.call('alarm.list', { query: { object: hostId } })).find(
        (a) => a.definition === 'RecoveryKeyNotBackedUp' && a.status === 'green',
      ),
    )
  })

  it('a host that goes away becomes notResponding, with an alarm and an event; back, it is connected and the alarm cleared', async () => {
    assert.equal(await agent!.stop(), 0)
    agent = undefined
    await until('notResponding', 30_000, async () =>
      (await hostRow())?.connection_state === 'notResponding' ? true : undefined,
    )
    const down = (await api.call('alarm.list', { query: { object: hostId } })).find(
      (a) => a.definition === 'HostDisconnected',
    )
    assert.equal(down?.status, 'red')
    assert.equal(down?.name, 'Host connection and power state')
    const evs = await api.call('event.list', { query: { object: hostId } })
    assert.ok(
      evs.some(
        (e) =>
          e.type === 'HostNotRespondingEvent' &&
          e.message === 'Host esx-mon in dc-mon is not responding',
      ),
      JSON.stringify(evs),
    )
    // the API still answers while the host is away
    assert.equal((await api.call('ha.status', {})).is_leader, true)
    agent = await serveHost(hostArgs())
    await until('connected again', 30_000, async () =>
      (await hostRow())?.connection_state === 'connected' ? true : undefined,
    )
    await until('the host alarm cleared', 20_000, async () =>
      (await api.call('alarm.list', { query: { object: hostId } })).find(
        (a) => a.definition === 'HostDisconnected' && a.status === 'green',
      ),
    )
    const back = await api.call('event.list', { query: { object: hostId } })
    assert.ok(back.some((e) => e.type === 'HostConnectedEvent'))
  })

  it('enable host encryption mode over mutual TLS: refused without the key in the cache, then the host is safe', async () => {
    await assert.rejects(
      api.call('host.encryptionMode', {
        params: { host: hostId },
        body: { provider_id: 'kms-a', key_id: 'host-key-1' },
      }),
      (e: Error & { apiCode?: string }) => e.apiCode === 'ERR_CENTER_HOST_KEY_MISSING',
    )
    assert.equal((await hostRow())?.crypto_state, 'incapable')
    await pushKey(await center.center.monitor.client(hostId), {
      providerId: 'kms-a',
      kekId: 'host-key-1',
      key: new Secret(new Uint8Array(HOST_KEY)),
    })
    const r = await api.call('host.encryptionMode', {
      params: { host: hostId },
      body: { provider_id: 'kms-a', key_id: 'host-key-1' },
    })
    assert.deepEqual(r, {
      host: hostId,
      crypto_state: 'safe',
      pending: false,
      host_key: { provider_id: 'kms-a', key_id: 'host-key-1' },
    })
    assert.equal((await hostRow())?.crypto_state, 'safe')
    // recorded as the host's key (key GC counts it as used)
    const stored = await center.center.store.db
      .selectFrom('hosts')
      .select('host_key')
      .where('id', '=', hostId)
      .executeTakeFirstOrThrow()
    assert.deepEqual(JSON.parse(stored.host_key ?? 'null'), {
      providerId: 'kms-a',
      keyId: 'host-key-1',
    })
    // the host itself says so (its local admin socket)
    const local = await ward(['host', 'crypto', 'status', '--data-dir', D, '--json'])
    assert.equal((JSON.parse(local.stdout) as { state: string }).state, 'safe')
    const evs = await api.call('event.list', { query: { object: hostId } })
    assert.ok(
      evs.some(
        (e) =>
          e.type === 'HostCryptoStateChangedEvent' &&
          e.message === 'The crypto state of host esx-mon changed from incapable to safe' &&
          e.user === 'admin',
      ),
      JSON.stringify(evs),
    )
  })

  it("enable host encryption mode with a native provider's key: the provider delivers it (its KDK pushed, the host derives the key), the host key changes", async () => {
    const provider = await api.call('nkp.create', { body: { provider: 'nkp-mon' } })
    const exp = await api.call('nkp.export', {
      params: { provider },
      body: { password: 'nkp backup password' },
    })
    await api.call('nkp.download', {
      params: { provider },
      body: { token: exp.location.download_token.token },
    })
    const r = await api.call('host.encryptionMode', {
      params: { host: hostId },
      body: { provider_id: provider, key_id: 'host-key-nkp' },
    })
    assert.deepEqual(r, {
      host: hostId,
      crypto_state: 'safe',
      pending: false,
      host_key: { provider_id: provider, key_id: 'host-key-nkp' },
    })
    const local = await ward(['host', 'crypto', 'status', '--data-dir', D, '--json'])
    const st = JSON.parse(local.stdout) as {
      state: string
      hostKey: { providerId: string; keyId: string }
    }
    assert.equal(st.state, 'safe')
    assert.equal(st.hostKey.providerId, provider)
    assert.equal(st.hostKey.keyId, 'host-key-nkp')
  })

  it('ward event list, ward alarm list and ward alarm ack over the API (--json)', async () => {
    const session = ['--session-file', join(dir, 'session.json')]
    const login = await ward([
      'login',
      '--center',
      center.url,
      '--user',
      'admin',
      '--password-file',
      secretFile(join(dir, 'admin.pw'), `${PASSWORD}\n`),
      '--ca',
      join(C, PKI_DIR, PkiFiles.caCert),
      ...session,
    ])
    assert.equal(login.code, 0, login.stderr)
    // a raised alarm to acknowledge: the host away again
    assert.equal(await agent!.stop(), 0)
    agent = undefined
    await until('the host alarm', 30_000, async () =>
      (await api.call('alarm.list', { query: { object: hostId } })).find(
        (a) => a.definition === 'HostDisconnected' && a.status === 'red',
      ),
    )
    const list = await ward(['alarm', 'list', '--object', hostId, '--json', ...session])
    assert.equal(list.code, 0, list.stderr)
    const as = JSON.parse(list.stdout) as { definition: string; status: string }[]
    assert.ok(as.some((a) => a.definition === 'HostDisconnected' && a.status === 'red'))
    const ack = await ward(['alarm', 'ack', 'HostDisconnected', hostId, '--json', ...session])
    assert.equal(ack.code, 0, ack.stderr)
    const acked = JSON.parse(ack.stdout) as { acknowledged: boolean; acknowledged_by: string }
    assert.equal(acked.acknowledged, true)
    assert.equal(acked.acknowledged_by, 'admin')
    const text = await ward(['alarm', 'list', ...session])
    assert.match(text.stdout, /HostDisconnected/)
    const evs = await ward([
      'event',
      'list',
      '--object',
      hostId,
      '--limit',
      '50',
      '--json',
      ...session,
    ])
    assert.equal(evs.code, 0, evs.stderr)
    const es = JSON.parse(evs.stdout) as { type: string }[]
    assert.ok(es.some((e) => e.type === 'AlarmAcknowledgedEvent'))
    assert.ok(es.length <= 50)
    // an unknown definition: refused with the API's coded error
    const bad = await ward(['alarm', 'ack', 'NoSuchAlarm', hostId, ...session])
    assert.notEqual(bad.code, 0)
    assert.match(bad.stderr, /ERR_CENTER_BAD_REQUEST|ERR_CENTER_API/)
  })

  it('a forceEnable cluster: the leader enables a host that is not safe with the policy key', async () => {
    agent = await serveHost(hostArgs())
    // disable encryption on the host and reboot it: pendingIncapable, then incapable
    const disabled = await (await center.center.monitor.client(hostId)).call('crypto.disable')
    assert.equal(disabled.state, 'pendingIncapable')
    assert.equal(await agent.stop(), 0)
    agent = await serveHost(hostArgs())
    await until('the row incapable after the reboot', 30_000, async () =>
      (await hostRow())?.crypto_state === 'incapable' ? true : undefined,
    )
    await assert.rejects(
      api.call('cluster.cryptoMode', { params: { cluster }, body: { crypto_mode: 'forceEnable' } }),
      (e: Error & { apiCode?: string }) => e.apiCode === 'ERR_CENTER_BAD_REQUEST',
    )
    // the key persisted on the host (key persistence on) since it was pushed
    const c = await api.call('cluster.cryptoMode', {
      params: { cluster },
      body: { crypto_mode: 'forceEnable', policy: { provider_id: 'kms-a', key_id: 'host-key-1' } },
    })
    assert.equal(c.crypto_mode, 'forceEnable')
    await until('the host enabled by the leader', 30_000, async () =>
      (await hostRow())?.crypto_state === 'safe' ? true : undefined,
    )
    const local = await ward(['host', 'crypto', 'status', '--data-dir', D, '--json'])
    const st = JSON.parse(local.stdout) as { state: string; hostKey: { keyId: string } }
    assert.equal(st.state, 'safe')
    assert.equal(st.hostKey.keyId, 'host-key-1')
    const evs = await api.call('event.list', { query: { object: hostId } })
    assert.ok(
      evs.some(
        (e) =>
          e.type === 'HostCryptoStateChangedEvent' &&
          e.message === 'The crypto state of host esx-mon changed from incapable to safe' &&
          e.user === 'system',
      ),
      JSON.stringify(evs.slice(0, 8)),
    )
    assert.ok(
      evs.some((e) => e.type === 'ClusterCryptoModeChangedEvent') === false,
      'on the cluster, not the host',
    )
    const cevs = await api.call('event.list', { query: { object: cluster } })
    assert.ok(
      cevs.some((e) => e.message === 'The encryption mode of cluster c-mon is now forceEnable'),
    )
  })
})
