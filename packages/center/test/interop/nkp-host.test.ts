/**
 * The native key provider end to end with a real joined `ward host serve` (its own swtpm), over
 * mutual TLS: refused until backed up; the two-step export (openssl reads the PKCS#12); the KDK
 * is refused to a host that is not TPM-protected (tpm_required) and installed once it is; the
 * host derives a KEK and makes an encrypted VM with the center stopped; the center's data is
 * destroyed and the backup imported into a new center (its PKI restored from the file backup),
 * the host loses its keys, the new center pushes the KDK and the VM unlocks (same KEK bytes: the
 * VM's key bundle opens); canaries in no log, audit row or error.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { createLogger } from '@ward/core'
import { agentClient, KDK_PROVIDER } from '@ward/host'
import { startSwtpm, type RunningSwtpm } from '@ward/host/testing'
import { createCenter, initCenter, type Center } from '../../src/center.js'
import { loadCenterPki, PKI_DIR, PkiFiles } from '../../src/pki/center-pki.js'
import { ADMIN, ADMIN_PASSWORD } from '../helpers.js'
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

const BASE = '/api/vcenter/crypto-manager/kms/providers/native'
const HOST_ID = 'host-1'
const TOKEN = `join-token-${randomBytes(12).toString('hex')}`
const PASSWORD = `nkp-canary-pw-${randomBytes(8).toString('hex')}`

interface Running {
  center: Center
  logs: string[]
  sid: string
}

async function start(dataDir: string): Promise<Running> {
  const logs: string[] = []
  const logger = createLogger('center', {
    destination: { write: (s: string) => void logs.push(s) },
  })
  const center = await createCenter({ dataDir, logger })
  const basic = Buffer.from(`${ADMIN}:${ADMIN_PASSWORD}`).toString('base64')
  const r = await center.app.inject({
    method: 'POST',
    url: '/api/session',
    headers: { authorization: `Basic ${basic}` },
  })
  return { center, logs, sid: JSON.parse(r.body) as string }
}

describe('native key provider with a real joined host (swtpm, mutual TLS)', () => {
  const { dir, cleanup } = tempDir('ward-nkp-host-')
  const D = join(dir, 'host')
  const C1 = join(dir, 'center1')
  const C2 = join(dir, 'center2')
  let tpm: RunningSwtpm
  let endpoint: JoinEndpoint
  let agent: Serving
  let port: number
  let c1: Running | undefined
  let c2: Running | undefined
  const outputs: string[] = []
  const errors: string[] = []
  let kdkForms: string[] = []
  let file: Buffer
  let kekId: string
  let dc: string
  let cluster: string

  const req = async (
    c: Running,
    method: string,
    url: string,
    body?: unknown,
  ): Promise<{ status: number; json: unknown }> => {
    const r = await c.center.app.inject({
      method: method as 'GET',
      url,
      headers: {
        'vmware-api-session-id': c.sid,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    })
    const json = r.body === '' ? undefined : (JSON.parse(r.body) as unknown)
    if (r.statusCode >= 400) errors.push(r.body)
    return { status: r.statusCode, json }
  }
  const local = () => agentClient(D)
  const hostRow = async (c: Running): Promise<void> => {
    await c.center.store.db
      .insertInto('hosts')
      .values({
        id: HOST_ID,
        datacenter: dc,
        cluster,
        name: 'esx-one',
        address: `127.0.0.1:${port}`,
        connection_state: 'connected',
        crypto_state: 'incapable',
        tpm_present: 1,
        key_persistence: 0,
        recovery_key_backed_up: 0,
        cert_fingerprint: null,
        created_at: Date.now(),
      })
      .execute()
  }
  const inventory = async (c: Running): Promise<void> => {
    dc = (await req(c, 'POST', '/api/vcenter/datacenter', { name: 'dc1' })).json as string
    cluster = (await req(c, 'POST', '/api/vcenter/cluster', { name: 'c1', datacenter: dc }))
      .json as string
    await hostRow(c)
  }

  before(async () => {
    await initCenter({ dataDir: C1, admin: ADMIN, password: Buffer.from(ADMIN_PASSWORD) })
    const pki = await loadCenterPki(C1)
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
      join(C1, PKI_DIR, PkiFiles.caCert),
      '--listen',
      `127.0.0.1:${port}`,
      '--name',
      'esx-one',
    ])
    assert.equal(j.code, 0, j.stderr)
    agent = await serveHost(['--data-dir', D, '--simulate-firmware', '--secure-boot=on'])
    c1 = await start(C1)
    await inventory(c1)
  })

  after(async () => {
    await c1?.center.close()
    await c2?.center.close()
    await agent?.stop()
    await endpoint?.close()
    await tpm?.stop()
    cleanup()
  })

  it('create with tpm_required: refused until backed up', async () => {
    const r = await req(c1!, 'POST', BASE, {
      provider: 'nkp-a',
      constraints: { tpm_required: true },
    })
    assert.equal(r.status, 201, JSON.stringify(r.json))
    await assert.rejects(c1!.center.nkp.runtime('nkp-a').newKek({}), {
      code: 'ERR_CENTER_NKP_NOT_BACKED_UP',
    })
    const g = (await req(c1!, 'GET', `${BASE}/nkp-a`)).json as { status: string }
    assert.equal(g.status, 'NOT_BACKED_UP')
    assert.equal((await local().call('keys.list')).length, 0, 'nothing pushed before the backup')
    const row = await c1!.center.store.db
      .selectFrom('key_providers')
      .select('sealed')
      .where('id', '=', 'nkp-a')
      .executeTakeFirstOrThrow()
    const kdk = c1!.center.sealer
      .open('key_providers/nkp-a', row.sealed!)
      .use((k) => Buffer.from(k))
    kdkForms = [kdk.toString('base64'), kdk.toString('hex'), kdk.toString('base64url')]
  })

  it('export (two steps, openssl reads it); the KDK is refused to a host without TPM protection, installed once it has it', async () => {
    const e = (await req(c1!, 'POST', `${BASE}/nkp-a/export`, { password: PASSWORD })).json as {
      location: { url: string; download_token: { token: string } }
    }
    const d = await req(c1!, 'POST', e.location.url, { token: e.location.download_token.token })
    assert.equal(d.status, 200)
    file = Buffer.from((d.json as { config: string }).config, 'base64')
    const p12 = join(dir, 'nkp-a.p12')
    writeFileSync(p12, file, { mode: 0o600 })
    const pw = secretFile(join(dir, 'pw'), PASSWORD)
    const o = spawnSync(
      'openssl',
      ['pkcs12', '-info', '-nokeys', '-in', p12, '-passin', `file:${pw}`],
      {
        encoding: 'utf8',
      },
    )
    assert.equal(o.status, 0, o.stderr)
    assert.match(o.stderr, /PBES2, PBKDF2, AES-256-CBC/)
    // the backup pushes the KDK to the cluster's hosts: this one is not TPM-protected yet
    await c1!.center.nkp.settled()
    let g = (await req(c1!, 'GET', `${BASE}/nkp-a`)).json as {
      status: string
      hosts: { host: string; state: string }[]
    }
    assert.deepEqual(g.hosts, [
      { host: HOST_ID, state: 'refused', detail: 'tpm_required: the host is not TPM-protected' },
    ])
    assert.equal(
      (await local().call('keys.has', { providerId: KDK_PROVIDER, kekId: 'nkp-a' })).inCache,
      false,
    )
    const rt = c1!.center.nkp.runtime('nkp-a')
    kekId = (await rt.newKek({ vmId: 'vm-1' })).kekId
    await assert.rejects(rt.deliverKek(kekId, { hostId: HOST_ID }), {
      code: 'ERR_CENTER_NKP_TPM_REQUIRED',
    })
    // the host admin turns on mode TPM (and key persistence: the KDK survives a reboot)
    for (const args of [
      ['host', 'settings', 'encryption', 'set', '--mode=TPM'],
      ['host', 'security', 'keypersistence', 'enable'],
    ]) {
      const r = await ward([...args, '--data-dir', D])
      assert.equal(r.code, 0, r.stderr)
    }
    await rt.deliverKek(kekId, { hostId: HOST_ID })
    g = (await req(c1!, 'GET', `${BASE}/nkp-a`)).json as typeof g
    assert.equal(g.status, 'ACTIVE')
    assert.deepEqual(g.hosts, [{ host: HOST_ID, state: 'installed' }])
    assert.deepEqual(await local().call('keys.list'), [
      { providerId: KDK_PROVIDER, kekId: 'nkp-a' },
    ])
  })

  it('with the center stopped, the host derives the KEK and makes an encrypted VM with it', async () => {
    outputs.push(...c1!.logs)
    await c1!.center.close()
    c1 = undefined
    const has = await ward(['crypto-util', 'keys', 'iskeyincache', 'nkp-a', kekId, '--data-dir', D])
    assert.equal(has.code, 0, has.stderr)
    assert.match(has.stdout, /YES/)
    mkdirSync(join(dir, 'ds1'))
    await local().call('datastore.add', { name: 'ds1', path: join(dir, 'ds1') })
    const vm = await local().call('vm.create', {
      name: 'vm-nkp',
      encrypt: true,
      providerId: 'nkp-a',
      kekId,
    })
    assert.deepEqual(vm.encryption, { providerId: 'nkp-a', kekId })
    assert.equal(vm.cryptoState, 'unlocked')
    // a reboot: the KDK comes back with key persistence, the VM opens
    outputs.push(agent.output())
    assert.equal(await agent.stop(), 0)
    agent = await serveHost(['--data-dir', D, '--simulate-firmware', '--secure-boot=on'])
    await local().call('keys.remove', { providerId: 'nkp-a', kekId })
    assert.equal((await local().call('vm.describe', { name: 'vm-nkp' })).cryptoState, 'unlocked')
  })

  it("the center's data is destroyed; its backup imported into a new center; the VM unlocks once the new center pushes the KDK", async () => {
    // what a file backup of the center keeps apart from the database: its PKI (hosts trust its CA)
    cpSync(join(C1, PKI_DIR), join(dir, 'pki-backup'), { recursive: true })
    rmSync(C1, { recursive: true, force: true })
    await initCenter({ dataDir: C2, admin: ADMIN, password: Buffer.from(ADMIN_PASSWORD) })
    rmSync(join(C2, PKI_DIR), { recursive: true, force: true })
    mkdirSync(join(C2, PKI_DIR), { mode: 0o700 })
    cpSync(join(dir, 'pki-backup'), join(C2, PKI_DIR), { recursive: true })
    c2 = await start(C2)
    await inventory(c2)
    // the host loses every key: the VM is locked
    for (const k of await local().call('keys.list')) await local().call('keys.remove', k)
    assert.equal((await local().call('vm.describe', { name: 'vm-nkp' })).cryptoState, 'locked')
    const wrong = await req(c2, 'POST', `${BASE}/import`, {
      config: file.toString('base64'),
      password: 'not the backup password',
    })
    assert.equal((wrong.json as { code: string }).code, 'ERR_CENTER_NKP_BACKUP_PASSWORD')
    const dry = await req(c2, 'POST', `${BASE}/import`, {
      config: file.toString('base64'),
      password: PASSWORD,
      dry_run: true,
    })
    assert.equal(dry.status, 200)
    await c2.center.nkp.settled()
    assert.equal(((await req(c2, 'GET', BASE)).json as unknown[]).length, 0)
    assert.equal((await local().call('keys.list')).length, 0, 'dry_run pushed nothing')
    const real = await req(c2, 'POST', `${BASE}/import`, {
      config: file.toString('base64'),
      password: PASSWORD,
    })
    assert.equal(real.status, 200, JSON.stringify(real.json))
    await c2.center.nkp.settled()
    const g = (await req(c2, 'GET', `${BASE}/nkp-a`)).json as { status: string }
    assert.equal(g.status, 'ACTIVE')
    // no other step: the VM's key bundle opens with the KEK the host derives again
    const vm = await local().call('vm.describe', { name: 'vm-nkp' })
    assert.equal(vm.cryptoState, 'unlocked', JSON.stringify(vm))
    assert.equal(await c2.center.nkp.runtime('nkp-a').keyState(kekId), 'KeyStateManagedByNKP')
  })

  it('the backup password and the KDK appear in no log, audit row, error or host file', async () => {
    outputs.push(agent.output())
    const audit = await c2!.center.store.db.selectFrom('audit').selectAll().execute()
    const all = [...outputs, ...errors, ...c2!.logs, JSON.stringify(audit)].join('\n')
    assert.ok(kdkForms.length === 3 && all.length > 0)
    assert.ok(!all.includes(PASSWORD), 'the password leaked')
    for (const k of kdkForms) assert.ok(!all.includes(k), 'the KDK leaked')
    const walk = (d: string): string[] =>
      readdirSync(d, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? walk(join(d, e.name)) : e.isFile() ? [join(d, e.name)] : [],
      )
    const raw = Buffer.from(kdkForms[0]!, 'base64')
    for (const f of walk(D)) {
      const b = readFileSync(f)
      assert.ok(!b.includes(raw), `${f} holds the KDK in clear`)
      assert.ok(!b.includes(kdkForms[0]!), `${f} holds the KDK in base64`)
    }
  })
})
