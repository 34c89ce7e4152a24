/*
 * Tasks resume: kill -9 of the process running the center's task runner during a deep recrypt
 * (a new center process resumes the task and finishes it), and kill -9 of the host agent during
 * a deep recrypt (the runner waits for the host, reruns the call and the host resumes from its
 * journal). The data written into the VM's disks before is there after a decrypt at the end.
 * Real center, `ward kms`, `ward host serve` with swtpm, mutual TLS.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, openSync, readSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import type { VmDescription } from '@ward/host'
import { startSwtpm } from '@ward/host/testing'
import { loadCenterPki, PkiFiles } from '../../src/pki/center-pki.js'
import { HostClients } from '../../src/tasks/hosts.js'
import { taskView, type TaskView } from '../../src/tasks/store.js'
import { startTestCenter } from '../helpers.js'
import {
  freePort,
  joinEndpoint,
  secretFile,
  serveHost,
  tempDir,
  ward,
  type Serving,
} from '../helpers/hosts-harness.js'
import { startTestKms } from '../helpers/task-kms.js'

const CHILD = fileURLToPath(new URL('../helpers/task-center-child.js', import.meta.url))
const PROVIDER = 'kp-resume'
const MiB = 1 << 20
/** Two disks: a deep recrypt takes seconds here, long enough to kill something midway. */
const DISK_MIB = 384
const SPOTS: readonly (readonly [disk: number, mib: number])[] = [
  [0, 0],
  [0, DISK_MIB - 1],
  [1, 200],
  [1, DISK_MIB - 1],
]
const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex')

test(
  'kill -9 of the center during a deep recrypt: a new center resumes and finishes it; kill -9 of the host during a deep recrypt: the task waits, the host resumes from its journal; the data is intact',
  { timeout: 1_200_000 },
  async (t) => {
    const { dir, cleanup } = tempDir('ward-center-resume-')
    t.after(cleanup)
    const kms = await startTestKms(dir)
    t.after(() => kms.stop())
    const tc = await startTestCenter()
    t.after(() => tc.close())
    const pki = await loadCenterPki(tc.dataDir)
    const clients = new HostClients({ db: tc.center.store.db, pki })
    t.after(() => clients.close())
    const admin = await tc.login()
    const api = (method: string, url: string, body?: unknown) =>
      tc.request(method, url, { auth: admin, ...(body !== undefined ? { body } : {}) })
    const dc = (await api('POST', '/api/vcenter/datacenter', { name: 'dc-r' })).json as string

    // one host, joined with the center's CA
    const hostId = 'host-7101'
    const D = join(dir, 'h')
    const tpm = await startSwtpm({ dir: join(dir, 'tpm'), allowUnmanufactured: true })
    t.after(() => tpm.stop())
    assert.equal((await ward(['host', 'init', '--data-dir', D, '--tpm', tpm.spec])).code, 0)
    const endpoint = await joinEndpoint(pki, 'resume-token', hostId)
    const port = await freePort()
    const j = await ward([
      'host',
      'join',
      '--data-dir',
      D,
      '--center',
      endpoint.url,
      '--token-file',
      secretFile(join(dir, 'token'), 'resume-token'),
      '--ca-file',
      join(pki.dir, PkiFiles.caCert),
      '--listen',
      `127.0.0.1:${port}`,
    ])
    await endpoint.close()
    assert.equal(j.code, 0, j.stderr)
    await tc.center.store.db
      .insertInto('hosts')
      .values({
        id: hostId,
        datacenter: dc,
        cluster: null,
        name: 'esx-r',
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
    const hostArgs = ['--data-dir', D, '--simulate-firmware', '--secure-boot=on']
    let agent: Serving = await serveHost(hostArgs)
    t.after(() => agent.stop())
    await (await clients.get(hostId)).call('datastore.add', { name: 'ds', path: join(dir, 'ds') })

    // the center's task runner runs in a child process (this process only queues and reads)
    let child: ChildProcess | undefined
    let childOut = ''
    const startChild = async (): Promise<void> => {
      const c = spawn(process.execPath, [
        CHILD,
        tc.dataDir,
        String(kms.port),
        join(dir, 'kms-client'),
        PROVIDER,
      ])
      child = c
      c.stdout.on('data', (d: Buffer) => (childOut += d.toString()))
      c.stderr.on('data', (d: Buffer) => (childOut += d.toString()))
      for (let i = 0; !childOut.includes('ready\n'); i++) {
        assert.ok(i < 600 && c.exitCode === null, `the center child did not start:\n${childOut}`)
        await sleep(50)
      }
    }
    const killChild = async (): Promise<void> => {
      const c = child!
      const gone = new Promise<void>((r) => c.once('close', () => r()))
      c.kill('SIGKILL')
      await gone
    }
    t.after(async () => {
      if (child !== undefined && child.exitCode === null && child.signalCode === null)
        await killChild()
    })
    const view = async (id: string): Promise<TaskView> =>
      taskView(
        await tc.center.store.db
          .selectFrom('tasks')
          .selectAll()
          .where('id', '=', id)
          .executeTakeFirstOrThrow(),
      )
    const waitFor = async (id: string, ok: (v: TaskView) => boolean, what: string) => {
      for (let i = 0; ; i++) {
        const v = await view(id)
        if (ok(v)) return v
        assert.notEqual(v.state, 'error', `${what}: ${JSON.stringify(v.error)}`)
        assert.ok(i < 6000, `${what}: still ${v.state} ${v.progress}%`)
        await sleep(100)
      }
    }
    const queue = async (
      url: string,
      body: unknown = {},
    ): Promise<{ task: string; vm: string }> => {
      const r = await api('POST', url, body)
      assert.equal(r.status, 201, JSON.stringify(r.json))
      return r.json as { task: string; vm: string }
    }
    const done = (id: string) => waitFor(id, (v) => v.state === 'success', id)

    await startChild()
    const c = await queue('/api/vcenter/vm', {
      host: hostId,
      name: 'big',
      disks: [`${DISK_MIB}M`, `${DISK_MIB}M`],
    })
    await done(c.task)
    const vm = c.vm
    // a known pattern in the clear disks
    const desc: VmDescription = await (
      await clients.get(hostId)
    ).call('vm.describe', {
      name: 'big',
    })
    const blocks = SPOTS.map(() => randomBytes(MiB))
    SPOTS.forEach(([disk, mib], i) => {
      const fd = openSync(desc.disks[disk]!.path, 'r+')
      try {
        writeSync(fd, blocks[i]!, 0, MiB, mib * MiB)
      } finally {
        closeSync(fd)
      }
    })
    await done((await queue(`/api/ward/vm/${vm}/encrypt`)).task)

    // 1. kill -9 the center midway through a deep recrypt; a new center resumes it
    const kekBefore = (
      await tc.center.store.db
        .selectFrom('vms')
        .select('kek_id')
        .where('id', '=', vm)
        .executeTakeFirstOrThrow()
    ).kek_id
    const r1 = await queue(`/api/ward/vm/${vm}/recrypt`, { mode: 'deep' })
    await waitFor(r1.task, (v) => v.progress_done > 0, 'deep recrypt under way')
    await killChild()
    const mid = await view(r1.task)
    assert.equal(mid.state, 'running', 'the killed center left its task running')
    assert.ok(mid.progress < 100)
    await startChild()
    const v1 = await done(r1.task)
    assert.ok(v1.attempts >= 2, `resumed (attempts ${v1.attempts})`)
    const row1 = await tc.center.store.db
      .selectFrom('vms')
      .selectAll()
      .where('id', '=', vm)
      .executeTakeFirstOrThrow()
    assert.notEqual(row1.kek_id, kekBefore)
    const after1 = await (await clients.get(hostId)).call('vm.describe', { name: 'big' })
    assert.equal(after1.unfinished, undefined)
    assert.equal(after1.encryption?.kekId, row1.kek_id)

    // 2. kill -9 the host midway through a deep recrypt; the task waits and the host resumes
    const r2 = await queue(`/api/ward/vm/${vm}/recrypt`, { mode: 'deep' })
    await waitFor(r2.task, (v) => v.progress_done > 0, 'second deep recrypt under way')
    agent.proc.kill('SIGKILL')
    await agent.stop()
    await sleep(1500)
    assert.equal((await view(r2.task)).state, 'running', 'the task waits for its host')
    agent = await serveHost(hostArgs)
    const v2 = await done(r2.task)
    assert.ok(v2.attempts >= 2)
    const after2 = await (await clients.get(hostId)).call('vm.describe', { name: 'big' })
    assert.equal(after2.unfinished, undefined)

    // 3. every disk opens: decrypt, and the pattern is where it was
    await done((await queue(`/api/ward/vm/${vm}/decrypt`)).task)
    const clear = await (await clients.get(hostId)).call('vm.describe', { name: 'big' })
    assert.equal(clear.encrypted, false)
    SPOTS.forEach(([disk, mib], i) => {
      const fd = openSync(clear.disks[disk]!.path, 'r')
      try {
        const b = Buffer.alloc(MiB)
        readSync(fd, b, 0, MiB, mib * MiB)
        assert.equal(md5(b), md5(blocks[i]!), `disk ${disk} at ${mib} MiB`)
      } finally {
        closeSync(fd)
      }
    })
  },
)
