/*
 * Clone and register through the center on a real joined host (ward host serve with its swtpm,
 * mutual TLS, a real `ward kms` behind a minimal standard provider): a full clone of an encrypted
 * VM keeps its keys (the inventory row, its disks and the key status say so), the clone is
 * recrypted and decrypted while the source stays as it was, `ward vm clone` follows its task; the
 * privilege refusals (Cryptographer.Clone for an encrypted source, VirtualMachine.Provisioning.Clone
 * always); and registering an encrypted VM: the host describes the VM file first, a user without
 * Cryptographer.RegisterVM is refused (audited) and nothing is registered on the host.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { startSwtpm, type RunningSwtpm } from '@ward/host/testing'
import { loadCenterPki, PkiFiles, type CenterPki } from '../../src/pki/center-pki.js'
import { HostClients } from '../../src/tasks/hosts.js'
import type { TaskView } from '../../src/tasks/store.js'
import { ADMIN_PASSWORD, startTestCenter, type TestCenter } from '../helpers.js'
import {
  freePort,
  joinEndpoint,
  secretFile,
  serveHost,
  tempDir,
  ward,
  type RunResult,
  type Serving,
} from '../helpers/hosts-harness.js'
import { TestKmsProvider, startTestKms, testProviders, type TestKms } from '../helpers/task-kms.js'

const PROVIDER = 'kp-clone'

describe('clone and register through the center (a joined host, ward kms, mutual TLS)', () => {
  const { dir, cleanup } = tempDir('ward-center-clone-')
  const ds = join(dir, 'ds')
  let t: TestCenter
  let pki: CenterPki
  let kms: TestKms
  let provider: TestKmsProvider
  let clients: HostClients
  let admin: string
  let noCrypto: string
  let readOnly: string
  let tpm: RunningSwtpm
  let agent: Serving
  const host = 'host-7301'
  const outputs: string[] = []

  const api = async (
    method: string,
    url: string,
    body?: unknown,
    auth: string = admin,
  ): Promise<{ status: number; json: unknown }> =>
    t.request(method, url, { auth, ...(body !== undefined ? { body } : {}) })

  async function start(url: string, body: unknown = {}, auth: string = admin): Promise<TaskRef> {
    const r = await api('POST', url, body, auth)
    assert.equal(r.status, 201, JSON.stringify(r.json))
    return r.json as TaskRef
  }
  interface TaskRef {
    task: string
    vm: string
  }

  async function finished(task: string, ms = 300_000): Promise<TaskView> {
    const until = Date.now() + ms
    for (;;) {
      const r = await api('GET', `/api/cis/tasks/${task}`)
      assert.equal(r.status, 200, JSON.stringify(r.json))
      const v = r.json as TaskView
      if (v.state === 'success' || v.state === 'error') return v
      if (Date.now() > until) throw new Error(`task ${task} still ${v.state}`)
      await sleep(100)
    }
  }
  async function succeeded(task: string): Promise<TaskView> {
    const v = await finished(task)
    assert.equal(v.state, 'success', JSON.stringify(v.error))
    return v
  }
  const vmRow = (id: string) =>
    t.center.store.db.selectFrom('vms').selectAll().where('id', '=', id).executeTakeFirst()
  const hostVms = async (): Promise<string[]> =>
    (await (await clients.get(host)).call('vm.list', {})).map((v) => v.name).sort()

  async function user(name: string, role: string): Promise<string> {
    const password = `pw-${name}-clone-test`
    assert.equal(
      (await api('POST', '/api/ward/users', { name, password })).status,
      201,
      `user ${name}`,
    )
    const p = await api('PUT', '/api/ward/permissions', {
      object: 'root',
      principal: name,
      role,
      propagate: true,
    })
    assert.equal(p.status, 200, JSON.stringify(p.json))
    return t.login(name, password)
  }

  before(async () => {
    mkdirSync(ds, { recursive: true })
    kms = await startTestKms(dir)
    t = await startTestCenter({
      options: {
        tasks: {
          providers: testProviders([
            (provider = new TestKmsProvider(PROVIDER, kms, () => clients)),
          ]),
          retryMs: 200,
          maxRetryMs: 1000,
          hostConnectMs: 3000,
        },
      },
    })
    pki = await loadCenterPki(t.dataDir)
    clients = new HostClients({ db: t.center.store.db, pki })
    t.center.tasks.start()
    admin = await t.login()
    const dc = (await api('POST', '/api/vcenter/datacenter', { name: 'dc-clone' })).json as string
    const D = join(dir, 'h')
    tpm = await startSwtpm({ dir: join(dir, 'tpm'), allowUnmanufactured: true })
    const init = await ward(['host', 'init', '--data-dir', D, '--tpm', tpm.spec])
    assert.equal(init.code, 0, init.stderr)
    const token = `tok-clone-${Date.now()}`
    const endpoint = await joinEndpoint(pki, token, host)
    const port = await freePort()
    const j = await ward([
      'host',
      'join',
      '--data-dir',
      D,
      '--center',
      endpoint.url,
      '--token-file',
      secretFile(join(dir, 'token'), token),
      '--ca-file',
      join(pki.dir, PkiFiles.caCert),
      '--listen',
      `127.0.0.1:${port}`,
      '--name',
      'esx-clone',
    ])
    await endpoint.close()
    assert.equal(j.code, 0, j.stderr)
    await t.center.store.db
      .insertInto('hosts')
      .values({
        id: host,
        datacenter: dc,
        cluster: null,
        name: 'esx-clone',
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
    agent = await serveHost(['--data-dir', D, '--simulate-firmware', '--secure-boot=on'])
    await (await clients.get(host)).call('datastore.add', { name: 'ds', path: ds })
    noCrypto = await user('nocrypto', 'NoCryptoAdmin')
    readOnly = await user('reader', 'ReadOnly')
  })

  after(async () => {
    clients?.close()
    provider?.close()
    if (agent !== undefined) {
      outputs.push(agent.output())
      await agent.stop()
    }
    await tpm?.stop()
    await t?.close()
    await kms?.stop()
    cleanup()
  })

  let src: string
  let srcKek: string
  let cloneVm: string
  it('clone an encrypted VM: a task on the host, the clone row keeps the KEK, its disks too; the key status lists both VMs', async () => {
    const c = await start('/api/vcenter/vm', {
      host,
      name: 'src',
      disks: ['8M', '4M'],
      encrypt: true,
    })
    await succeeded(c.task)
    src = c.vm
    srcKek = (await vmRow(src))!.kek_id!
    const q = await start(`/api/ward/vm/${src}/clone`, { name: 'src-copy' })
    assert.notEqual(q.vm, src, 'the clone has its own id, answered at once')
    const v = await succeeded(q.task)
    assert.equal(v.kind, 'vm.clone')
    assert.equal(v.object, src)
    assert.equal(v.progress_total, 12 << 20, 'progress over the source disks')
    const r = v.result as { vm: string; source: string; encrypted: boolean; kek_id: string }
    assert.equal(r.vm, q.vm)
    assert.equal(r.source, src)
    assert.equal(r.encrypted, true)
    cloneVm = q.vm
    const row = (await vmRow(cloneVm))!
    assert.equal(row.name, 'src-copy')
    assert.equal(row.host, host)
    assert.equal(row.crypto_state, 'unlocked')
    assert.equal(row.key_provider, PROVIDER)
    assert.equal(row.kek_id, srcKek, 'a full clone keeps the keys')
    const disks = await t.center.store.db
      .selectFrom('disks')
      .selectAll()
      .where('vm', '=', cloneVm)
      .execute()
    assert.equal(disks.length, 2)
    assert.ok(disks.every((d) => d.encrypted === 1 && d.kek_id === srcKek))
    const ks = await api('POST', '/api/ward/keys/status', {
      keys: [{ provider: PROVIDER, key_id: srcKek }],
    })
    assert.equal(ks.status, 200, JSON.stringify(ks.json))
    const [status] = ks.json as { vms: string[] }[]
    assert.deepEqual([...status!.vms].sort(), [src, cloneVm].sort())
    assert.deepEqual(await hostVms(), ['src', 'src-copy'])
    // the clone's name is taken now: refused before any task
    const dup = await api('POST', `/api/ward/vm/${src}/clone`, { name: 'src-copy' })
    assert.equal(dup.status, 409, JSON.stringify(dup.json))
  })

  it('recrypt the clone shallow, then decrypt it: the source keeps its KEK and stays encrypted', async () => {
    const r = await succeeded(
      (await start(`/api/ward/vm/${cloneVm}/recrypt`, { mode: 'shallow' })).task,
    )
    assert.notEqual((r.result as { kek_id: string }).kek_id, srcKek)
    const d = await succeeded((await start(`/api/ward/vm/${cloneVm}/decrypt`)).task)
    assert.equal((d.result as { encrypted: boolean }).encrypted, false)
    assert.equal((await vmRow(cloneVm))!.kek_id, null)
    const s = (await vmRow(src))!
    assert.equal(s.kek_id, srcKek)
    const desc = await (await clients.get(host)).call('vm.describe', { name: 'src' })
    assert.equal(desc.encryption?.kekId, srcKek)
    assert.equal(desc.cryptoState, 'unlocked')
  })

  it('privileges: without Cryptographer.Clone an encrypted VM is not cloned (a plain one is); Read-only clones nothing', async () => {
    const tasksBefore = (await t.center.store.db.selectFrom('tasks').select('id').execute()).length
    const vmsBefore = (await t.center.store.db.selectFrom('vms').select('id').execute()).length
    const r = await api('POST', `/api/ward/vm/${src}/clone`, { name: 'nc-copy' }, noCrypto)
    assert.equal(r.status, 403, JSON.stringify(r.json))
    const body = r.json as { code: string; messages: { default_message: string }[] }
    assert.equal(body.code, 'ERR_CENTER_PERMISSION_DENIED')
    assert.match(body.messages[0]!.default_message, /Cryptographer\.Clone/)
    const ro = await api('POST', `/api/ward/vm/${cloneVm}/clone`, { name: 'ro-copy' }, readOnly)
    assert.equal(ro.status, 403)
    assert.match(
      (ro.json as { messages: { default_message: string }[] }).messages[0]!.default_message,
      /VirtualMachine\.Provisioning\.Clone/,
    )
    assert.equal(
      (await t.center.store.db.selectFrom('tasks').select('id').execute()).length,
      tasksBefore,
      'no task queued',
    )
    assert.equal(
      (await t.center.store.db.selectFrom('vms').select('id').execute()).length,
      vmsBefore,
    )
    assert.deepEqual(await hostVms(), ['src', 'src-copy'])
    // the decrypted clone is plain: NoCryptoAdmin clones it
    const ok = await succeeded(
      (await start(`/api/ward/vm/${cloneVm}/clone`, { name: 'plain-copy' }, noCrypto)).task,
    )
    assert.equal((ok.result as { encrypted: boolean }).encrypted, false)
  })

  it('register an encrypted VM: the host describes its file first; without Cryptographer.RegisterVM the task is refused (audited) and nothing is registered; an administrator registers it', async () => {
    const srcPath = (await vmRow(src))!.path!
    await succeeded((await start(`/api/ward/vm/${src}/unregister`)).task)
    assert.deepEqual(await hostVms(), ['plain-copy', 'src-copy'])
    const seen = await (await clients.get(host)).call('vm.inspect', { path: srcPath })
    assert.equal(seen.encrypted, true)
    assert.equal(seen.registered, false)
    const q = await start('/api/ward/vm/register', { host, path: srcPath }, noCrypto)
    const v = await finished(q.task)
    assert.equal(v.state, 'error')
    assert.equal(v.error?.code, 'ERR_CENTER_PERMISSION_DENIED')
    assert.match(v.error!.message, /Cryptographer\.RegisterVM/)
    assert.deepEqual(await hostVms(), ['plain-copy', 'src-copy'], 'nothing registered on the host')
    assert.equal(await vmRow(q.vm), undefined, 'no inventory row')
    const denied = await t.center.store.db
      .selectFrom('audit')
      .selectAll()
      .where('outcome', '=', 'denied')
      .where('missing', '=', 'Cryptographer.RegisterVM')
      .execute()
    assert.equal(denied.length, 1)
    assert.equal(denied[0]!.principal, 'nocrypto')
    // a plain VM needs no crypto privilege: NoCryptoAdmin registers the plain clone's folder
    const plainPath = (await t.center.store.db
      .selectFrom('vms')
      .select('path')
      .where('name', '=', 'plain-copy')
      .executeTakeFirstOrThrow())!.path!
    const plainRow = await t.center.store.db
      .selectFrom('vms')
      .select('id')
      .where('name', '=', 'plain-copy')
      .executeTakeFirstOrThrow()
    await succeeded((await start(`/api/ward/vm/${plainRow.id}/unregister`)).task)
    await succeeded(
      (await start('/api/ward/vm/register', { host, path: plainPath }, noCrypto)).task,
    )
    // the administrator registers the encrypted one
    const a = await succeeded((await start('/api/ward/vm/register', { host, path: srcPath })).task)
    assert.equal((a.result as { encrypted: boolean; kek_id: string }).kek_id, srcKek)
    assert.deepEqual(await hostVms(), ['plain-copy', 'src', 'src-copy'])
  })

  it('the CLI: ward vm clone follows its task with progress (--json lines), then the clone is in ward vm list', async () => {
    await t.center.app.listen({ host: '127.0.0.1', port: 0 })
    const addr = t.center.app.server.address() as { port: number }
    const session = join(dir, 'cli-session.json')
    const common = ['--session-file', session]
    const run = async (...args: string[]): Promise<RunResult> => {
      const r = await ward(args)
      outputs.push(r.stdout, r.stderr)
      return r
    }
    const login = await run(
      'login',
      '--center',
      `http://127.0.0.1:${addr.port}`,
      '--password-file',
      secretFile(join(dir, 'admin.pw'), ADMIN_PASSWORD),
      ...common,
    )
    assert.equal(login.code, 0, login.stderr)
    const srcNow = await t.center.store.db
      .selectFrom('vms')
      .select('id')
      .where('name', '=', 'src')
      .executeTakeFirstOrThrow()
    const c = await run('vm', 'clone', srcNow.id, '--name', 'cli-copy', '--json', ...common)
    assert.equal(c.code, 0, c.stderr)
    const lines = c.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as TaskView)
    const last = lines.at(-1)!
    assert.equal(last.state, 'success')
    assert.equal(last.kind, 'vm.clone')
    assert.equal(last.progress_total, 12 << 20)
    const list = await run('vm', 'list', '--json', ...common)
    const vms = JSON.parse(list.stdout) as { name: string; crypto_state: string | null }[]
    assert.equal(vms.find((x) => x.name === 'cli-copy')?.crypto_state, 'unlocked')
    const bad = await run('vm', 'clone', srcNow.id, ...common)
    assert.notEqual(bad.code, 0)
    assert.match(bad.stderr, /--name/)
  })
})
