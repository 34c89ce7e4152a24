/*
 * VM encryption tasks end to end: a real center (its API through fastify inject, its task runner
 * running), a real `ward kms` behind a minimal standard provider (test/helpers/task-kms.ts), two
 * real `ward host serve` agents, each with its own swtpm, joined with certificates of the
 * center's CA and called over mutual TLS. No guest boots here: power-on needs QEMU (left to a
 * guest test).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { KmipClient } from '@ward/kmip'
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

interface Host {
  readonly id: string
  readonly dir: string
  readonly port: number
  tpm: RunningSwtpm
  agent: Serving
}

const PROVIDER = 'kp-test'

describe('VM encryption tasks on two real hosts (ward kms, swtpm, mutual TLS)', () => {
  const { dir, cleanup } = tempDir('ward-center-vm-tasks-')
  const shared = join(dir, 'shared-ds')
  let t: TestCenter
  let pki: CenterPki
  let kms: TestKms
  let provider: TestKmsProvider
  let clients: HostClients
  let admin: string
  let dc: string
  const hosts: Host[] = []
  const outputs: string[] = []

  const serveArgs = (h: { dir: string }): string[] => [
    '--data-dir',
    h.dir,
    '--simulate-firmware',
    '--secure-boot=on',
  ]

  async function addHost(i: number): Promise<Host> {
    const id = `host-${7000 + i}`
    const D = join(dir, `h${i}`)
    const tpm = await startSwtpm({ dir: join(dir, `tpm${i}`), allowUnmanufactured: true })
    const init = await ward(['host', 'init', '--data-dir', D, '--tpm', tpm.spec])
    assert.equal(init.code, 0, init.stderr)
    const token = `tok-${i}-${Date.now()}`
    const endpoint = await joinEndpoint(pki, token, id)
    const port = await freePort()
    const j = await ward([
      'host',
      'join',
      '--data-dir',
      D,
      '--center',
      endpoint.url,
      '--token-file',
      secretFile(join(dir, `token${i}`), token),
      '--ca-file',
      join(pki.dir, PkiFiles.caCert),
      '--listen',
      `127.0.0.1:${port}`,
      '--name',
      `esx-${i}`,
    ])
    await endpoint.close()
    assert.equal(j.code, 0, j.stderr)
    await t.center.store.db
      .insertInto('hosts')
      .values({
        id,
        datacenter: dc,
        cluster: null,
        name: `esx-${i}`,
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
    const h: Host = { id, dir: D, port, tpm, agent: await serveHost(serveArgs({ dir: D })) }
    // the same folder on both hosts: a shared datastore (cold migration moves no bytes)
    await (await clients.get(id)).call('datastore.add', { name: 'shared', path: shared })
    return h
  }

  const api = async (
    method: string,
    url: string,
    body?: unknown,
    auth: string = admin,
  ): Promise<{ status: number; json: unknown }> =>
    t.request(method, url, { auth, ...(body !== undefined ? { body } : {}) })

  /** Queue a VM operation as `auth`; answers its task id. */
  async function start(url: string, body: unknown = {}, auth: string = admin): Promise<string> {
    const r = await api('POST', url, body, auth)
    assert.equal(r.status, 201, JSON.stringify(r.json))
    return (r.json as { task: string }).task
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
    t.center.store.db.selectFrom('vms').selectAll().where('id', '=', id).executeTakeFirstOrThrow()

  const inCache = async (host: string, kekId: string): Promise<boolean> =>
    (await (await clients.get(host)).call('keys.has', { providerId: PROVIDER, kekId })).inCache

  before(async () => {
    mkdirSync(shared, { recursive: true })
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
    dc = (await api('POST', '/api/vcenter/datacenter', { name: 'dc-tasks' })).json as string
    hosts.push(await addHost(1))
    hosts.push(await addHost(2))
  })

  after(async () => {
    clients?.close()
    provider?.close()
    for (const h of hosts) {
      outputs.push(h.agent.output())
      await h.agent.stop()
      await h.tpm.stop()
    }
    await t?.close()
    await kms?.stop()
    cleanup()
  })

  let encVm: string
  it('create an encrypted VM: a new KEK from the provider, delivered to the host, vm.create --encrypt; the task row and the inventory say so', async () => {
    const r = await api('POST', '/api/vcenter/vm', {
      host: hosts[0]!.id,
      name: 'enc1',
      disks: ['4M'],
      datastore: 'shared',
      encrypt: true,
    })
    assert.equal(r.status, 201, JSON.stringify(r.json))
    const { task, vm } = r.json as { task: string; vm: string }
    const v = await succeeded(task)
    assert.equal(v.kind, 'vm.create')
    assert.equal(v.user, 'admin')
    assert.equal(v.host, hosts[0]!.id)
    assert.equal(v.progress, 100)
    const row = await vmRow(vm)
    assert.equal(row.host, hosts[0]!.id)
    assert.equal(row.key_provider, PROVIDER)
    assert.equal(row.crypto_state, 'unlocked')
    assert.ok(row.kek_id !== null && provider.created.includes(row.kek_id))
    assert.equal(await inCache(hosts[0]!.id, row.kek_id), true)
    const disks = await t.center.store.db
      .selectFrom('disks')
      .selectAll()
      .where('vm', '=', vm)
      .execute()
    assert.equal(disks.length, 1)
    assert.equal(disks[0]!.encrypted, 1)
    assert.equal(disks[0]!.kek_id, row.kek_id)
    encVm = vm
  })

  it('refusals: privileges from the route table and the dependent ones; the seed rules the center knows', async () => {
    const user = 'ops'
    const password = 'ops-password-123'
    assert.equal((await api('POST', '/api/ward/users', { name: user, password })).status, 201)
    assert.equal(
      (
        await api('PUT', '/api/ward/permissions', {
          object: 'root',
          principal: user,
          role: 'NoCryptoAdmin',
          propagate: true,
        })
      ).status,
      200,
    )
    const ops = await t.login(user, password)
    const denied = async (url: string, body: unknown, privilege: string): Promise<void> => {
      const before = await t.center.store.db.selectFrom('tasks').select('id').execute()
      const r = await api('POST', url, body, ops)
      assert.equal(r.status, 403, `${url}: ${JSON.stringify(r.json)}`)
      const b = r.json as { code: string; messages: { default_message: string }[] }
      assert.equal(b.code, 'ERR_CENTER_PERMISSION_DENIED')
      assert.ok(b.messages[0]!.default_message.includes(privilege), b.messages[0]!.default_message)
      const after = await t.center.store.db.selectFrom('tasks').select('id').execute()
      assert.equal(after.length, before.length, 'a refused request queued no task')
    }
    await denied(`/api/ward/vm/${encVm}/decrypt`, {}, 'Cryptographer.Decrypt')
    await denied(`/api/ward/vm/${encVm}/recrypt`, { mode: 'shallow' }, 'Cryptographer.Recrypt')
    await denied(`/api/ward/vm/${encVm}/migrate`, { host: hosts[1]!.id }, 'Cryptographer.Migrate')
    await denied(`/api/ward/vm/${encVm}/unlock`, {}, 'Cryptographer.RegisterVM')
    await denied(`/api/ward/vm/${encVm}/disks`, { size: '1M' }, 'Cryptographer.AddDisk')
    await denied(
      '/api/vcenter/vm',
      { host: hosts[0]!.id, name: 'nope', encrypt: true },
      'Cryptographer.EncryptNew',
    )
    // NoCryptoAdmin may still create and power plain VMs
    const plain = await api(
      'POST',
      '/api/vcenter/vm',
      { host: hosts[0]!.id, name: 'plain-ops', disks: ['1M'] },
      ops,
    )
    assert.equal(plain.status, 201)
    const pv = await succeeded((plain.json as { task: string }).task)
    assert.equal(pv.user, user)
    await denied(
      `/api/ward/vm/${(plain.json as { vm: string }).vm}/encrypt`,
      {},
      'Cryptographer.Encrypt',
    )
    // the rules the center knows, refused before any task
    const state = async (url: string, body: unknown, re: RegExp): Promise<void> => {
      const r = await api('POST', url, body)
      assert.equal(r.status, 409, JSON.stringify(r.json))
      const b = r.json as { code: string; messages: { default_message: string }[] }
      assert.equal(b.code, 'ERR_CENTER_VM_STATE')
      assert.match(b.messages[0]!.default_message, re)
    }
    await state(`/api/ward/vm/${encVm}/encrypt`, {}, /already encrypted/)
    const pvm = (plain.json as { vm: string }).vm
    await state(`/api/ward/vm/${pvm}/decrypt`, {}, /not encrypted/)
    await state(`/api/ward/vm/${pvm}/recrypt`, { mode: 'deep' }, /not encrypted/)
    await state(`/api/ward/vm/${pvm}/disks`, { size: '1M', encrypt: true }, /encrypt the VM/)
    await state(`/api/ward/vm/${encVm}/migrate`, { host: hosts[0]!.id }, /already on host/)
  })

  let clearVm: string
  it('encrypt an existing VM (progress in the row), shallow recrypt (a new KEK), deep recrypt, add an encrypted disk, decrypt', async () => {
    const r = await api('POST', '/api/vcenter/vm', {
      host: hosts[0]!.id,
      name: 'clear1',
      disks: ['8M', '8M'],
    })
    const { task, vm } = r.json as { task: string; vm: string }
    await succeeded(task)
    clearVm = vm
    assert.equal((await vmRow(vm)).kek_id, null)

    const enc = await succeeded(await start(`/api/ward/vm/${vm}/encrypt`))
    assert.equal(enc.progress, 100)
    assert.equal(enc.progress_total, 16 << 20, 'the host reported bytes over both disks')
    assert.equal(enc.progress_done, enc.progress_total)
    const k1 = (await vmRow(vm)).kek_id
    assert.ok(k1 !== null)

    const sh = await succeeded(await start(`/api/ward/vm/${vm}/recrypt`, { mode: 'shallow' }))
    const k2 = (await vmRow(vm)).kek_id
    assert.ok(k2 !== null && k2 !== k1, 'shallow recrypt: a new KEK from the VM provider')
    assert.equal((sh.result as { mode: string }).mode, 'shallow')

    const deep = await succeeded(await start(`/api/ward/vm/${vm}/recrypt`, { mode: 'deep' }))
    const k3 = (await vmRow(vm)).kek_id
    assert.ok(k3 !== null && k3 !== k2)
    assert.equal(deep.progress_total, 16 << 20)
    assert.equal((deep.result as { disks_reencrypted?: number }).disks_reencrypted, 2)

    await succeeded(await start(`/api/ward/vm/${vm}/disks`, { size: '2M', encrypt: true }))
    const disks = await t.center.store.db
      .selectFrom('disks')
      .selectAll()
      .where('vm', '=', vm)
      .execute()
    assert.equal(disks.length, 3)
    assert.ok(disks.every((d) => d.encrypted === 1 && d.kek_id === k3))

    const dec = await succeeded(await start(`/api/ward/vm/${vm}/decrypt`))
    assert.equal((dec.result as { encrypted: boolean }).encrypted, false)
    const row = await vmRow(vm)
    assert.equal(row.kek_id, null)
    assert.equal(row.crypto_state, null)
  })

  it('unlock: a VM whose key left the host cache gets it delivered again', async () => {
    const row = await vmRow(encVm)
    const c = await clients.get(hosts[0]!.id)
    await c.call('keys.remove', { providerId: PROVIDER, kekId: row.kek_id! })
    assert.equal(await inCache(hosts[0]!.id, row.kek_id!), false)
    await succeeded(await start(`/api/ward/vm/${encVm}/unlock`))
    assert.equal(await inCache(hosts[0]!.id, row.kek_id!), true)
  })

  it('a host that restarts mid-task: the task waits for it and finishes when it is back', async () => {
    const h = hosts[0]!
    outputs.push(h.agent.output())
    assert.equal(await h.agent.stop(), 0)
    const task = await start(`/api/ward/vm/${encVm}/recrypt`, { mode: 'shallow' })
    // the runner retries: attempts grow while the host is away
    for (let i = 0; ; i++) {
      const v = (await api('GET', `/api/cis/tasks/${task}`)).json as TaskView
      assert.equal(v.state === 'error', false, JSON.stringify(v.error))
      if (v.attempts >= 2) break
      assert.ok(i < 300, 'the task was retried')
      await sleep(100)
    }
    h.agent = await serveHost(serveArgs(h))
    const v = await succeeded(task)
    assert.ok(v.attempts >= 2)
  })

  it('migrate (cold, shared storage): the key goes to the target first, the VM leaves the source and is registered on the target', async () => {
    const before = await vmRow(encVm)
    assert.equal(before.power_state, 'POWERED_OFF')
    const v = await succeeded(await start(`/api/ward/vm/${encVm}/migrate`, { host: hosts[1]!.id }))
    assert.equal((v.result as { source: string }).source, hosts[0]!.id)
    const row = await vmRow(encVm)
    assert.equal(row.host, hosts[1]!.id)
    assert.equal(row.kek_id, before.kek_id)
    assert.equal(await inCache(hosts[1]!.id, row.kek_id!), true)
    const d2 = await (await clients.get(hosts[1]!.id)).call('vm.describe', { name: 'enc1' })
    assert.equal(d2.encrypted, true)
    assert.equal(d2.cryptoState, 'unlocked')
    await assert.rejects((await clients.get(hosts[0]!.id)).call('vm.describe', { name: 'enc1' }))
  })

  it('unregister and register again: the inventory follows', async () => {
    const path = (await vmRow(clearVm)).path!
    const u = await succeeded(await start(`/api/ward/vm/${clearVm}/unregister`))
    assert.equal(u.object, hosts[0]!.id)
    assert.equal(
      await t.center.store.db
        .selectFrom('vms')
        .select('id')
        .where('id', '=', clearVm)
        .executeTakeFirst(),
      undefined,
    )
    const r = await api('POST', '/api/ward/vm/register', { host: hosts[0]!.id, path })
    assert.equal(r.status, 201)
    const { task, vm } = r.json as { task: string; vm: string }
    await succeeded(task)
    const row = await vmRow(vm)
    assert.equal(row.name, 'clear1')
    assert.equal(row.path, path)
  })

  it('power off an already powered-off VM answers at once; task list shows the tasks the caller may see', async () => {
    await succeeded(await start(`/api/ward/vm/${encVm}/power-off`))
    const list = (await api('GET', '/api/cis/tasks')).json as TaskView[]
    // 14 tasks ran; the 5 of the VM that was unregistered left with it (no object to check)
    assert.equal(list.length, 9)
    assert.ok(list.every((x) => x.state === 'success' || x.state === 'error'))
    const mine = (await api('GET', `/api/cis/tasks?object=${encVm}`)).json as TaskView[]
    assert.ok(mine.length > 0 && mine.every((x) => x.object === encVm))
  })

  it('the CLI: ward vm create --async, ward task watch --json (JSON lines with the host progress), ward vm encrypt follows its task, ward task list|get', async () => {
    await t.center.app.listen({ host: '127.0.0.1', port: 0 })
    const addr = t.center.app.server.address() as { port: number }
    const session = join(dir, 'cli-session.json')
    const pw = secretFile(join(dir, 'admin.pw'), ADMIN_PASSWORD)
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
      pw,
      ...common,
    )
    assert.equal(login.code, 0, login.stderr)
    const created = await run(
      'vm',
      'create',
      'cli1',
      '--host',
      hosts[1]!.id,
      '--disk',
      '256M',
      '--disk',
      '256M',
      '--async',
      '--json',
      ...common,
    )
    assert.equal(created.code, 0, created.stderr)
    const q = JSON.parse(created.stdout) as { task: string; vm: string }
    const w = await run('task', 'watch', q.task, '--json', ...common)
    assert.equal(w.code, 0, w.stderr)
    const last = JSON.parse(w.stdout.trim().split('\n').at(-1)!) as TaskView
    assert.equal(last.state, 'success')
    assert.equal(last.kind, 'vm.create')
    // encrypt, followed to its end: progress lines, then the task
    const enc = await run('vm', 'encrypt', q.vm, '--json', ...common)
    assert.equal(enc.code, 0, enc.stderr)
    const lines = enc.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { state: string; total?: number; done?: number })
    const final = lines.at(-1) as unknown as TaskView
    assert.equal(final.state, 'success')
    assert.equal(final.progress_total, 512 << 20)
    const running = lines.filter((l) => l.state === 'running' && (l.total ?? 0) > 0)
    assert.ok(running.length >= 1, `progress seen while running: ${enc.stdout}`)
    assert.ok(running.every((l) => l.total === 512 << 20 && l.done! <= l.total))
    const list = await run('task', 'list', '--object', q.vm, '--json', ...common)
    const ts = JSON.parse(list.stdout) as TaskView[]
    assert.deepEqual(
      ts.map((x) => x.kind),
      ['vm.encrypt'],
    )
    const got = await run('task', 'get', final.task, ...common)
    assert.match(got.stdout, /vm\.encrypt .* success/)
    // a refused operation: the CLI exits non-zero with the center's coded error
    const again = await run('vm', 'encrypt', q.vm, ...common)
    assert.notEqual(again.code, 0)
    assert.match(again.stderr, /ERR_CENTER_VM_STATE|already encrypted/)
  })

  it('no KEK byte in any task row, center log or host output', async () => {
    const kmip = new KmipClient({
      servers: [{ host: '127.0.0.1', port: kms.port }],
      tls: {
        caPem: kms.tls.ca,
        certPem: kms.tls.cert,
        keyPem: kms.tls.key,
        servername: 'localhost',
      },
    })
    const forms: string[] = []
    try {
      for (const id of provider.created) {
        const o = await kmip.get(id)
        const b = Buffer.from(o.keyMaterial!)
        forms.push(b.toString('base64'), b.toString('hex'))
        b.fill(0)
      }
    } finally {
      kmip.close()
    }
    assert.ok(forms.length >= 8)
    const rows = JSON.stringify(await t.center.store.db.selectFrom('tasks').selectAll().execute())
    const haystacks = [rows, t.logs.join('\n'), ...outputs, ...hosts.map((h) => h.agent.output())]
    for (const f of forms) for (const h of haystacks) assert.equal(h.includes(f), false)
  })
})
