/**
 * The leader failover on a real PostgreSQL: three `ward center serve` processes on one database
 * (the real CLI, the default lease timing), one leads; kill -9 the leader, another leads within
 * the bound, and every survivor answers the API throughout. On SQLite the one process leads.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { initCenter } from '../../src/center.js'
import { CenterClient } from '../../src/client.js'
import { LeaseDefaults } from '../../src/ha/leadership.js'
import { PKI_DIR, PkiFiles } from '../../src/pki/center-pki.js'
import { createTestDb, type TestDb } from '../pg.js'
import { tempDir, WARD_BIN } from '../helpers/hosts-harness.js'
import { startTestCenter } from '../helpers.js'

const PASSWORD = 'ha failover admin password'
/** A killed leader's lease runs out after ttl; a standby sees it within one renewal period. */
const TAKEOVER_BOUND_MS = LeaseDefaults.ttlMs + 2 * LeaseDefaults.renewMs + 10_000

interface Node {
  readonly proc: ChildProcess
  readonly url: string
  output(): string
}

async function startNode(dataDir: string, db: string): Promise<Node> {
  const proc = spawn(process.execPath, [
    WARD_BIN,
    'center',
    'serve',
    '--data-dir',
    dataDir,
    '--db',
    db,
    '--listen',
    '127.0.0.1:0',
    '--log-format',
    'json',
  ])
  let out = ''
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const url = await new Promise<string>((resolve, reject) => {
    const check = (): void => {
      const m =
        /"url":"(https:\/\/[^"]+)"[^\n]*ward center listening|ward center listening[^\n]*"url":"(https:\/\/[^"]+)"/.exec(
          out,
        )
      if (m !== null) resolve((m[1] ?? m[2])!)
    }
    proc.stdout!.on('data', check)
    proc.once('close', (c) => reject(new Error(`ward center serve exited (${c}):\n${out}`)))
  })
  return { proc, url, output: () => out }
}

describe('leader failover on PostgreSQL (3 ward center serve processes, kill -9 the leader)', () => {
  const { dir, cleanup } = tempDir('ward-center-ha-')
  const C = join(dir, 'center')
  let pg: TestDb
  let nodes: Node[] = []
  let ca: string
  let sid: string

  before(async () => {
    pg = await createTestDb()
    await initCenter({ dataDir: C, db: pg.url, admin: 'admin', password: Buffer.from(PASSWORD) })
    nodes = await Promise.all([0, 1, 2].map(() => startNode(C, pg.url)))
    ca = readFileSync(join(C, PKI_DIR, PkiFiles.caCert), 'utf8')
    sid = await new CenterClient({
      url: nodes[0]!.url,
      ca,
      basic: { user: 'admin', password: PASSWORD },
    }).call('session.create', {})
  })

  after(async () => {
    for (const n of nodes)
      if (n.proc.exitCode === null && n.proc.signalCode === null) {
        const closed = new Promise((r) => n.proc.once('close', r))
        n.proc.kill('SIGTERM')
        await closed
      }
    await pg?.drop()
    cleanup()
  })

  const api = (n: Node) => new CenterClient({ url: n.url, ca, sessionId: sid, timeoutMs: 5000 })

  /** Each node's view until exactly one leads and all agree on it. */
  async function oneLeader(among: Node[], ms: number): Promise<{ leader: Node; at: number }> {
    const end = Date.now() + ms
    for (;;) {
      const st = await Promise.all(among.map((n) => api(n).call('ha.status', {})))
      const leading = st.filter((s) => s.is_leader)
      if (
        leading.length === 1 &&
        st.every((s) => s.leader === leading[0]!.node && s.mode === 'lease' && s.leader_url !== '')
      )
        return { leader: among[st.indexOf(leading[0]!)]!, at: Date.now() }
      assert.ok(leading.length <= 1, `two leaders at once: ${JSON.stringify(st)}`)
      if (Date.now() > end) throw new Error(`no single leader: ${JSON.stringify(st)}`)
      await sleep(200)
    }
  }

  it('one process leads; every process serves the API and says who leads', async () => {
    const { leader } = await oneLeader(nodes, TAKEOVER_BOUND_MS)
    const st = await api(nodes[0]!).call('ha.status', {})
    assert.equal(st.leader_url, leader.url)
    assert.ok(st.epoch >= 1)
    // a session made on one process is good on all (one database)
    for (const n of nodes) assert.ok(Array.isArray(await api(n).call('host.list', {})))
  })

  it('kill -9 the leader: another leads within the bound, the survivors answer throughout', async (t) => {
    const { leader } = await oneLeader(nodes, TAKEOVER_BOUND_MS)
    const before = await api(leader).call('ha.status', {})
    const survivors = nodes.filter((n) => n !== leader)
    let answered = 0
    const failures: string[] = []
    let polling = true
    const poller = (async () => {
      while (polling) {
        for (const n of survivors)
          try {
            await api(n).call('datacenter.list', {})
            await api(n).call('ha.status', {})
            answered++
          } catch (e) {
            failures.push(`${n.url}: ${(e as Error).message}`)
          }
        await sleep(100)
      }
    })()
    const killed = new Promise((r) => leader.proc.once('close', r))
    const t0 = Date.now()
    leader.proc.kill('SIGKILL')
    await killed
    const { leader: next, at } = await oneLeader(survivors, TAKEOVER_BOUND_MS)
    const took = at - t0
    polling = false
    await poller
    t.diagnostic(`takeover after kill -9: ${took} ms; ${answered} survivor rounds answered`)
    assert.ok(took <= TAKEOVER_BOUND_MS, `took ${took} ms`)
    assert.deepEqual(failures, [], 'a survivor failed to answer during the failover')
    assert.ok(answered > 0)
    const after = await api(next).call('ha.status', {})
    assert.equal(after.leader_url, next.url)
    assert.ok(after.epoch > before.epoch, 'a new holder has a new epoch')
    assert.notEqual(after.leader, before.leader)
    // the new leader posted its event
    const evs = await api(next).call('event.list', { query: { object: 'root' } })
    assert.ok(evs.some((e) => e.type === 'LeaderElectedEvent' && e.message.includes(after.leader!)))
    nodes = nodes.filter((n) => n !== leader)
  })

  it('a leader that stops cleanly releases the lease: the last survivor leads at its next renewal', async () => {
    const { leader } = await oneLeader(nodes, TAKEOVER_BOUND_MS)
    const last = nodes.find((n) => n !== leader)!
    const closed = new Promise((r) => leader.proc.once('close', r))
    const t0 = Date.now()
    leader.proc.kill('SIGTERM')
    await closed
    const { leader: now, at } = await oneLeader([last], TAKEOVER_BOUND_MS)
    assert.equal(now, last)
    // released: no waiting for the lease to run out
    assert.ok(at - t0 < LeaseDefaults.ttlMs, `took ${at - t0} ms`)
    nodes = [last]
  })
})

describe('leadership on SQLite', () => {
  let t: Awaited<ReturnType<typeof startTestCenter>> | undefined
  before(async () => {
    t = await startTestCenter()
  })
  after(async () => t?.close())
  it('the one process leads', async () => {
    const r = await t!.request('GET', '/api/ward/ha', { auth: await t!.login() })
    assert.equal(r.status, 200)
    const st = r.json as { mode: string; is_leader: boolean; leader: string; node: string }
    assert.equal(st.mode, 'sqlite')
    assert.equal(st.is_leader, true)
    assert.equal(st.leader, st.node)
  })
})
