#!/usr/bin/env node
// npm run bench -- center [--seconds N] [--connections N]: authorised inventory reads per second
// through ward center's REST API over HTTPS (a ReadOnly user's session, GET /api/vcenter/vm/{vm}:
// session check, permissions on the VM's path, audit row, the read), at 16 keep-alive connections,
// against the same reads served by the center's database alone (the floor: the VM row by id,
// 16 in flight, on the same SQLite file). The VM encryption and recrypt figures of issue 13 come
// with the tasks. Last line: {"bench":"center","reads_s":…,"db_reads_s":…,"reads_ratio_vs_db":…,
// "p50_ms":…,"p99_ms":…}
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { Agent, request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createLogger } from '@ward/core'
import { CenterClient, initCenter, openStore, serveCenter } from '@ward/center'

const { values } = parseArgs({
  options: { seconds: { type: 'string' }, connections: { type: 'string' } },
})
const SECONDS = Number(values.seconds ?? 3)
const CONNECTIONS = Number(values.connections ?? 16)
const VMS = 200

const dir = mkdtempSync(join(tmpdir(), 'ward-bench-center-'))
const dataDir = join(dir, 'data')
const password = 'bench admin password'
await initCenter({ dataDir, admin: 'admin', password: Buffer.from(password) })

// inventory: a datacenter, a cluster, 4 hosts, 200 VMs (rows as hosts will report them)
const seed = await openStore({ sqlitePath: join(dataDir, 'center.db') })
await seed.db
  .insertInto('datacenters')
  .values({ id: 'datacenter-1000', name: 'dc', created_at: Date.now() })
  .execute()
await seed.db
  .insertInto('clusters')
  .values({
    id: 'domain-c1001',
    datacenter: 'datacenter-1000',
    name: 'c',
    crypto_mode: 'onDemand',
    created_at: Date.now(),
  })
  .execute()
for (let h = 0; h < 4; h++)
  await seed.db
    .insertInto('hosts')
    .values({
      id: `host-${1010 + h}`,
      datacenter: 'datacenter-1000',
      cluster: 'domain-c1001',
      name: `esx${h}`,
      address: `10.0.0.${h}:8444`,
      connection_state: 'connected',
      crypto_state: 'safe',
      tpm_present: 1,
      key_persistence: 0,
      recovery_key_backed_up: 1,
      cert_fingerprint: null,
      created_at: Date.now(),
    })
    .execute()
for (let v = 0; v < VMS; v++)
  await seed.db
    .insertInto('vms')
    .values({
      id: `vm-${2000 + v}`,
      datacenter: 'datacenter-1000',
      host: `host-${1010 + (v % 4)}`,
      datastore: null,
      name: `vm${v}`,
      power_state: 'POWERED_ON',
      crypto_state: 'unlocked',
      key_provider: 'p',
      kek_id: `k${v}`,
      created_at: Date.now(),
    })
    .execute()
await seed.close()

const s = await serveCenter({
  dataDir,
  listen: '127.0.0.1:0',
  logger: createLogger('center', { level: 'warn' }),
})
const ca = readFileSync(join(dataDir, 'pki', 'ca.crt'), 'utf8')
const admin = new CenterClient({
  url: s.url,
  ca,
  sessionId: await new CenterClient({ url: s.url, ca, basic: { user: 'admin', password } }).call(
    'session.create',
    {},
  ),
})
await admin.call('user.create', { body: { name: 'reader', password: 'reader password' } })
await admin.call('permission.set', {
  body: { object: 'root', principal: 'reader', role: 'ReadOnly', propagate: true },
})
const sid = await new CenterClient({
  url: s.url,
  ca,
  basic: { user: 'reader', password: 'reader password' },
}).call('session.create', {})

const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS, ca })
const u = new URL(s.url)
const get = (path) =>
  new Promise((resolve, reject) => {
    const r = request(
      { host: u.hostname, port: u.port, path, agent, headers: { 'vmware-api-session-id': sid } },
      (res) => {
        const chunks = []
        res.on('data', (c) => chunks.push(c))
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(Buffer.concat(chunks))
            : reject(new Error(`${path}: ${res.statusCode} ${Buffer.concat(chunks)}`)),
        )
      },
    )
    r.on('error', reject)
    r.end()
  })

/** `fn` from `workers` loops for SECONDS: ops/s and latencies (ms). */
async function load(workers, fn) {
  const lat = []
  let n = 0
  const end = performance.now() + SECONDS * 1000
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      let i = w
      while (performance.now() < end) {
        const t0 = performance.now()
        await fn(2000 + (i++ % VMS))
        lat.push(performance.now() - t0)
        n++
      }
    }),
  )
  lat.sort((a, b) => a - b)
  return {
    ops: n / SECONDS,
    p50: lat[Math.floor(lat.length * 0.5)] ?? 0,
    p99: lat[Math.floor(lat.length * 0.99)] ?? 0,
  }
}

await load(CONNECTIONS, (v) => get(`/api/vcenter/vm/vm-${v}`)) // warm-up: connections, JIT
const api = await load(CONNECTIONS, (v) => get(`/api/vcenter/vm/vm-${v}`))
agent.destroy()
await s.close()

const floorStore = await openStore({ sqlitePath: join(dataDir, 'center.db') })
const dbRead = (v) =>
  floorStore.db.selectFrom('vms').selectAll().where('id', '=', `vm-${v}`).executeTakeFirstOrThrow()
await load(CONNECTIONS, dbRead)
const db = await load(CONNECTIONS, dbRead)
await floorStore.close()
rmSync(dir, { recursive: true, force: true })

const r2 = (x) => Math.round(x * 100) / 100
console.log(
  `ward center: ${Math.round(api.ops)} authorised reads/s at ${CONNECTIONS} connections (p50 ${r2(api.p50)} ms, p99 ${r2(api.p99)} ms); database alone: ${Math.round(db.ops)} reads/s`,
)
console.log(
  JSON.stringify({
    bench: 'center',
    reads_s: Math.round(api.ops),
    db_reads_s: Math.round(db.ops),
    reads_ratio_vs_db: r2(api.ops / db.ops),
    p50_ms: r2(api.p50),
    p99_ms: r2(api.p99),
  }),
)
