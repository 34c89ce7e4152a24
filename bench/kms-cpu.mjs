#!/usr/bin/env node
// CPU cost of `ward kms` per Create+Get pair, for comparing two builds of the tree (not part of
// `npm run bench`: throughput on a shared machine is noisy, CPU time per pair much less so).
//
//   node bench/kms-cpu.mjs [--tree DIR]... [--mode handler|server|both] [--pairs N] [--rounds R]
//
// Each --tree is a built Ward checkout (default: this one); rounds alternate between the trees.
// - handler: in this process, the tree's dispatch `handleMessage` over a SQLite store in a temp
//   dir on tmpfs (--handler-dir, default /dev/shm: no disk flush; the message path: TTLV decode, header and batch parsing, operation, encode), µs of
//   process CPU (user + system) per pair; --conns N runs N request loops at once (default 1).
//   The audit log is a real one, in the temp dir.
// - server: the tree's `ward kms serve` as a child process, driven over TLS by this process
//   with 1 and then 16 connections; µs of the server process's CPU (/proc/PID/stat utime +
//   stime) per pair: framing, TLS, dispatch, storage, audit — what the server spends. The
//   server's busy poll is off (--busy-poll-us, default 0 here): its spinning would count the
//   client's latency as server CPU. --server-prof DIR writes the server's CPU profile there.
// Prints one line per round and tree, then the medians (and minima: the least disturbed round
// on a shared machine) as JSON.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Writable } from 'node:stream'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import {
  CryptographicAlgorithm,
  ObjectType,
  Operation,
  Tag,
  encodeTtlv,
  enumeration,
  int,
  structure,
  text,
} from '@ward/kmip'

const { values } = parseArgs({
  options: {
    tree: { type: 'string', multiple: true },
    mode: { type: 'string' },
    pairs: { type: 'string' },
    rounds: { type: 'string' },
    'handler-dir': { type: 'string' },
    'busy-poll-us': { type: 'string' },
    'server-prof': { type: 'string' },
    conns: { type: 'string' },
    'server-conns': { type: 'string' },
    'server-node-args': { type: 'string' },
  },
})
const here = new URL('..', import.meta.url).pathname
const trees = (values.tree ?? [here]).map((t) => resolve(t))
const mode = values.mode ?? 'both'
const PAIRS = Number(values.pairs ?? 3000)
const ROUNDS = Number(values.rounds ?? 3)
/** handler mode: concurrent request loops (default 1). */
const CONNS = Number(values.conns ?? 1)
/** server mode: the connection counts measured, in order (default 1,16). */
const SERVER_CONNS = (values['server-conns'] ?? '1,16').split(',').map(Number)

const attr = (name, value) =>
  structure(Tag.Attribute, [text(Tag.AttributeName, name), { ...value, tag: Tag.AttributeValue }])
const request = (op, payload) =>
  Buffer.from(
    encodeTtlv(
      structure(Tag.RequestMessage, [
        structure(Tag.RequestHeader, [
          structure(Tag.ProtocolVersion, [
            int(Tag.ProtocolVersionMajor, 1),
            int(Tag.ProtocolVersionMinor, 2),
          ]),
          int(Tag.BatchCount, 1),
        ]),
        structure(Tag.BatchItem, [enumeration(Tag.Operation, op), payload]),
      ]),
    ),
  )
const CREATE = request(
  Operation.Create,
  structure(Tag.RequestPayload, [
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    structure(Tag.TemplateAttribute, [
      attr('Cryptographic Algorithm', enumeration(0, CryptographicAlgorithm.AES)),
      attr('Cryptographic Length', int(0, 256)),
      attr('Cryptographic Usage Mask', int(0, 12)),
    ]),
  ]),
)
const getRequest = (id) =>
  request(Operation.Get, structure(Tag.RequestPayload, [text(Tag.UniqueIdentifier, id)]))

/** [offset, length] of the first primitive `tag` of `type` in a TTLV message (as bench/kms.mjs). */
function field(buf, tag, type) {
  for (let i = 0; i + 8 <= buf.length;) {
    const t = buf.readUIntBE(i, 3)
    const ty = buf[i + 3]
    const len = buf.readUInt32BE(i + 4)
    if (ty === 1) {
      i += 8
      continue
    }
    if (t === tag && ty === type) return [i + 8, len]
    i += 8 + Math.ceil(len / 8) * 8
  }
  return undefined
}
function checkOk(res) {
  const b = Buffer.from(res.buffer, res.byteOffset, res.byteLength)
  const st = field(b, Tag.ResultStatus, 5)
  if (st === undefined || b.readUInt32BE(st[0]) !== 0) {
    const m = field(b, Tag.ResultMessage, 7)
    throw new Error(`KMIP failure: ${m ? b.toString('utf8', m[0], m[0] + m[1]) : 'no status'}`)
  }
  return b
}
function idOf(res) {
  const b = checkOk(res)
  const f = field(b, Tag.UniqueIdentifier, 7)
  return b.toString('utf8', f[0], f[0] + f[1])
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}
const imp = (tree, p) => import(pathToFileURL(join(tree, p)).href)

/** One handler round: µs of this process's CPU per pair. */
async function handlerRound(tree, pairs) {
  const kms = (p) => imp(tree, `packages/kms/dist/src/${p}`)
  const { handleMessage } = await kms('server/dispatch.js')
  const { openSqliteStore } = await kms('storage/sqlite.js')
  const { Barrier } = await kms('barrier/barrier.js')
  const { openAudit } = await kms('server/audit.js')
  const { Secret } = await imp(tree, 'packages/core/dist/src/index.js')
  let runtime
  try {
    const { createRuntime } = await kms('server/runtime.js')
    const { operations } = await kms('operations/registry.js')
    runtime = createRuntime({ operations })
  } catch (e) {
    if (e.code !== 'ERR_MODULE_NOT_FOUND') throw e
  }
  const { randomBytes } = await import('node:crypto')
  // On tmpfs (/dev/shm) an fdatasync costs nothing: what is measured is the message path.
  const dir = mkdtempSync(join(values['handler-dir'] ?? '/dev/shm', 'ward-kms-cpu-'))
  const store = await openSqliteStore(join(dir, 'kms.db'))
  // the server's random pool where the tree has one (as startKmsServer does)
  const barrier = new Barrier(new Secret(randomBytes(32)), runtime?.random.bytes)
  const quiet = new Writable({ write: (_c, _e, cb) => cb() })
  const noop = () => undefined
  const logger = {
    debug: noop,
    info: noop,
    warn: noop,
    error: noop,
    fatal: noop,
    child: () => logger,
    quiet,
  }
  const deps = {
    store,
    barrier,
    logger,
    audit: openAudit(join(dir, 'audit.log'), logger, { linesToLogger: false }),
    ...(runtime !== undefined ? { runtime } : {}),
  }
  const pair = async () => {
    const id = idOf(await handleMessage(deps, 'bench', CREATE))
    checkOk(await handleMessage(deps, 'bench', getRequest(id)))
  }
  // `conns` loops at once, as that many connections would send (each waits for its reply)
  const loops = async (n) => {
    let left = n
    await Promise.all(
      Array.from({ length: CONNS }, async () => {
        while (left-- > 0) await pair()
      }),
    )
  }
  try {
    await loops(300) // warm-up
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    await loops(pairs)
    const c = process.cpuUsage(c0)
    const wall = performance.now() - t0
    return {
      cpu_us: (c.user + c.system) / pairs,
      user_us: c.user / pairs,
      wall_us: (wall * 1000) / pairs,
    }
  } finally {
    await store.close()
    await deps.audit.close()
    runtime?.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

const TICK_US = 1e6 / 100 // USER_HZ
function procCpuUs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) * TICK_US // utime, stime
}

/** CPU µs of each of the process's threads, summed by thread name (main, libuv pool, V8 workers). */
function threadCpuUs(pid) {
  const out = {}
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8')
      const name =
        t === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      out[name] = (out[name] ?? 0) + (Number(f[11]) + Number(f[12])) * TICK_US
      if (name === 'main') out['main-sys'] = Number(f[12]) * TICK_US
    } catch {
      /* thread gone */
    }
  }
  return out
}

/** One server round: µs of the server process's CPU per pair, at 1 and 16 connections. */
async function serverRound(tree, pairs) {
  const { initKms, addClient } = await imp(tree, 'packages/kms/dist/src/index.js')
  const { KmipTestClient } = await imp(here, 'packages/kms/dist/src/testing.js')
  const dir = mkdtempSync(join(tmpdir(), 'ward-kms-cpu-'))
  const data = join(dir, 'kms')
  await initKms(data)
  const f = await addClient(data, 'bench', join(dir, 'client'))
  const tls = { ca: readFileSync(f.ca), cert: readFileSync(f.cert), key: readFileSync(f.key) }
  const child = spawn(
    process.execPath,
    [
      ...(values['server-node-args']?.split(' ').filter((a) => a !== '') ?? []),
      ...(values['server-prof'] !== undefined
        ? [
            '--cpu-prof',
            '--cpu-prof-dir',
            join(resolve(values['server-prof']), tree.split('/').pop()),
          ]
        : []),
      join(tree, 'packages/cli/bin/ward.js'),
      'kms',
      'serve',
      '--data-dir',
      data,
      '--listen',
      '127.0.0.1:0',
      '--busy-poll-us',
      values['busy-poll-us'] ?? '0',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  )
  let port
  for (let i = 0; i < 200 && port === undefined; i++) {
    await new Promise((r) => setTimeout(r, 50))
    try {
      const rt = JSON.parse(readFileSync(join(data, 'server.json'), 'utf8'))
      if (rt.pid === child.pid) port = rt.port
    } catch {
      /* not yet */
    }
  }
  if (port === undefined) throw new Error('ward kms serve did not start')
  if (values['server-node-args'] !== undefined) console.log(`server pid ${child.pid}`)
  const run = async (conns, n) => {
    const clients = await Promise.all(
      Array.from({ length: conns }, () => KmipTestClient.connect(port, tls)),
    )
    let left = n
    const c0 = procCpuUs(child.pid)
    const th0 = threadCpuUs(child.pid)
    const t0 = performance.now()
    await Promise.all(
      clients.map(async (c) => {
        while (left-- > 0) {
          const id = idOf(await c.sendRaw(CREATE))
          checkOk(await c.sendRaw(getRequest(id)))
        }
      }),
    )
    const wall = performance.now() - t0
    const cpu = procCpuUs(child.pid) - c0
    const th = threadCpuUs(child.pid)
    const threads = Object.fromEntries(
      Object.entries(th).map(([k, v]) => [k, Math.round((v - (th0[k] ?? 0)) / n)]),
    )
    for (const c of clients) c.close()
    return { cpu_us: cpu / n, pairs_s: Math.round(n / (wall / 1000)), threads }
  }
  try {
    await run(4, 300) // warm-up
    const out = {}
    for (const n of SERVER_CONNS) {
      const r = await run(n, pairs)
      out[`cpu_us_${n}`] = r.cpu_us
      out[`pairs_s_${n}`] = r.pairs_s
      out[`threads_${n}`] = r.threads
    }
    return out
  } finally {
    child.kill('SIGTERM')
    await new Promise((r) => child.once('exit', r))
    rmSync(dir, { recursive: true, force: true })
  }
}

const results = new Map(trees.map((t) => [t, { handler: [], server: [] }]))
const r1 = (x) => Math.round(x * 10) / 10
for (let round = 0; round < ROUNDS; round++) {
  for (const tree of trees) {
    const r = results.get(tree)
    if (mode === 'handler' || mode === 'both') {
      const h = await handlerRound(tree, PAIRS)
      r.handler.push(h)
      console.log(
        `round ${round} ${tree} handler: ${r1(h.cpu_us)} µs CPU/pair (user ${r1(h.user_us)}), wall ${r1(h.wall_us)} µs/pair`,
      )
    }
    if (mode === 'server' || mode === 'both') {
      const s = await serverRound(tree, PAIRS)
      r.server.push(s)
      console.log(
        `round ${round} ${tree} server: ${SERVER_CONNS.map((n) => `${n} conn ${r1(s[`cpu_us_${n}`])} µs CPU/pair (${s[`pairs_s_${n}`]} pairs/s; by thread ${JSON.stringify(s[`threads_${n}`])})`).join(', ')}`,
      )
    }
  }
}
const summary = {}
for (const [tree, r] of results) {
  summary[tree] = {
    ...(r.handler.length > 0 && {
      handler_cpu_us: r1(median(r.handler.map((h) => h.cpu_us))),
      handler_cpu_us_min: r1(Math.min(...r.handler.map((h) => h.cpu_us))),
    }),
    ...(r.server.length > 0 &&
      Object.fromEntries(
        SERVER_CONNS.flatMap((n) => [
          [`server_cpu_us_${n}`, r1(median(r.server.map((s) => s[`cpu_us_${n}`])))],
          [`server_cpu_us_${n}_min`, r1(Math.min(...r.server.map((s) => s[`cpu_us_${n}`])))],
          [`pairs_s_${n}`, median(r.server.map((s) => s[`pairs_s_${n}`]))],
        ]),
      )),
  }
}
console.log(JSON.stringify({ bench: 'kms-cpu', pairs: PAIRS, rounds: ROUNDS, summary }))
