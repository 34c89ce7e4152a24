#!/usr/bin/env node
// npm run bench -- kms [--seconds N]: Create+Get pairs/s and p50/p99 latency with 1 and 16
// concurrent connections, and the cost of a new TLS connection + DiscoverVersions, for ward kms
// (SQLite, synchronous=FULL: every acknowledged Create is fsynced) and for pykmip-server
// (started via @ward/kmip/testing), with the same raw-TTLV load generator, in one run.
// Last line: {"bench":"kms","ward_pairs_s_1":…,"ward_pairs_s_16":…,"pykmip_pairs_s_1":…,
// "pykmip_pairs_s_16":…,"ratio_1":…,"ratio_16":…,"ward_p99_ms_16":…}
import { spawn } from 'node:child_process'
import {
  closeSync,
  fdatasyncSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { addClient, initKms } from '@ward/kms'
import { KmipTestClient } from '@ward/kms/testing'
import {
  Tag,
  Operation,
  ObjectType,
  CryptographicAlgorithm,
  structure,
  text,
  enumeration,
  int,
  encodeTtlv,
} from '@ward/kmip'
import { startPykmipServer } from '@ward/kmip/testing'

const { values } = parseArgs({
  options: {
    seconds: { type: 'string' },
    'latency-qos': { type: 'boolean' },
    'busy-poll-us': { type: 'string' },
  },
})
const SECONDS = Number(values.seconds ?? 3)
const root = new URL('..', import.meta.url).pathname

// --latency-qos: hold the kernel's PM QoS CPU latency request at 0 µs for the whole run (what
// tuned's latency-performance profile does), so idle CPUs poll instead of halting; on a VM this
// removes the wake-up cost of a halted vCPU from every round trip. Applies to both servers alike.
let qosFd
if (values['latency-qos'] === true) {
  try {
    qosFd = openSync('/dev/cpu_dma_latency', 'w')
    const zero = Buffer.alloc(4)
    writeSync(qosFd, zero)
    console.log('CPU latency QoS: 0 µs requested via /dev/cpu_dma_latency for this run')
  } catch (e) {
    console.log(
      `CPU latency QoS not applied (${e.code ?? e.message}); measuring the machine as it is`,
    )
  }
}

const attr = (name, value) =>
  structure(Tag.Attribute, [text(Tag.AttributeName, name), { ...value, tag: Tag.AttributeValue }])
const createPayload = structure(Tag.RequestPayload, [
  enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
  structure(Tag.TemplateAttribute, [
    attr('Cryptographic Algorithm', enumeration(0, CryptographicAlgorithm.AES)),
    attr('Cryptographic Length', int(0, 256)),
    attr('Cryptographic Usage Mask', int(0, 12)),
  ]),
])

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}
const r2 = (x) => Math.round(x * 100) / 100

// The load generator keeps its own cost small, so that the servers, not the client, are measured:
// requests are encoded once (Create) or from a per-length template (Get), and responses are
// checked by walking their TTLV for Result Status and Unique Identifier instead of decoding them.
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
const CREATE = request(Operation.Create, createPayload)
const getTemplates = new Map()
function getRequest(id) {
  const idBytes = Buffer.from(id, 'utf8')
  let t = getTemplates.get(idBytes.length)
  if (t === undefined) {
    // The only text in a Get request is the id: a run of '#' of the same length marks its place.
    const marker = '#'.repeat(idBytes.length)
    const wire = request(
      Operation.Get,
      structure(Tag.RequestPayload, [text(Tag.UniqueIdentifier, marker)]),
    )
    t = { wire, at: wire.indexOf(Buffer.from(marker)) }
    getTemplates.set(idBytes.length, t)
  }
  const out = Buffer.from(t.wire)
  idBytes.copy(out, t.at)
  return out
}
/** [offset, length] of the first primitive `tag` of `type` in a TTLV message. */
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
  const st = field(res, Tag.ResultStatus, 5)
  if (st === undefined || res.readUInt32BE(st[0]) !== 0) {
    const m = field(res, Tag.ResultMessage, 7)
    throw new Error(`KMIP failure: ${m ? res.toString('utf8', m[0], m[0] + m[1]) : 'no status'}`)
  }
}
function idOf(res) {
  checkOk(res)
  const f = field(res, Tag.UniqueIdentifier, 7)
  if (f === undefined) throw new Error('no Unique Identifier in the Create response')
  return res.toString('utf8', f[0], f[0] + f[1])
}

async function pairs(port, tls, conns, seconds) {
  const clients = await Promise.all(
    Array.from({ length: conns }, () => KmipTestClient.connect(port, tls)),
  )
  const lat = []
  const deadline = performance.now() + seconds * 1000
  const t0 = performance.now()
  await Promise.all(
    clients.map(async (c) => {
      while (performance.now() < deadline) {
        const start = performance.now()
        const id = idOf(await c.sendRaw(CREATE))
        checkOk(await c.sendRaw(getRequest(id)))
        lat.push(performance.now() - start)
      }
    }),
  )
  const secs = (performance.now() - t0) / 1000
  for (const c of clients) c.close()
  return {
    pairs_s: r2(lat.length / secs),
    p50_ms: r2(pct(lat, 50)),
    p99_ms: r2(pct(lat, 99)),
    n: lat.length,
  }
}

/** The transport floor: one connection, DiscoverVersions (no storage, no crypto) round trips. */
async function roundTrip(port, tls, seconds) {
  const c = await KmipTestClient.connect(port, tls)
  c.major = 1
  c.minor = 2
  const ts = []
  const deadline = performance.now() + seconds * 1000
  while (performance.now() < deadline) {
    const start = performance.now()
    await c.call(Operation.DiscoverVersions, structure(Tag.RequestPayload, []))
    ts.push(performance.now() - start)
  }
  c.close()
  return r2(pct(ts, 50) * 1000)
}

/** The durability floor: 4 KiB rewritten in place + fdatasync, in the server's data directory. */
function syncCost(dir, n) {
  const path = join(dir, 'sync-probe')
  const fd = openSync(path, 'w')
  const buf = Buffer.alloc(4096, 1)
  const ts = []
  try {
    for (let i = 0; i < n + 20; i++) {
      const start = performance.now()
      writeSync(fd, buf, 0, buf.length, (i % 64) * 4096)
      fdatasyncSync(fd)
      if (i >= 20) ts.push(performance.now() - start)
    }
  } finally {
    closeSync(fd)
    rmSync(path, { force: true })
  }
  return r2(pct(ts, 50) * 1000)
}

async function connectCost(port, tls, n) {
  const ts = []
  for (let i = 0; i < n; i++) {
    const start = performance.now()
    const c = await KmipTestClient.connect(port, tls)
    c.major = 1
    c.minor = 1
    await c.call(Operation.DiscoverVersions, structure(Tag.RequestPayload, []))
    ts.push(performance.now() - start)
    c.close()
  }
  return { p50_ms: r2(pct(ts, 50)), p99_ms: r2(pct(ts, 99)) }
}

async function benchWard() {
  const dir = mkdtempSync(join(tmpdir(), 'ward-kms-bench-'))
  const data = join(dir, 'kms')
  await initKms(data)
  const f = await addClient(data, 'bench', join(dir, 'client'))
  const tls = { ca: readFileSync(f.ca), cert: readFileSync(f.cert), key: readFileSync(f.key) }
  // The server runs in its own process (as deployed), logging to a file, not the terminal.
  const child = spawn(
    process.execPath,
    [
      join(root, 'packages/cli/bin/ward.js'),
      'kms',
      'serve',
      '--data-dir',
      data,
      '--listen',
      '127.0.0.1:0',
      // --busy-poll-us N: the server's poll window after each reply (default: the server's, 200)
      ...(values['busy-poll-us'] !== undefined ? ['--busy-poll-us', values['busy-poll-us']] : []),
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
  try {
    await pairs(port, tls, 4, 0.5) // warm-up
    const one = await pairs(port, tls, 1, SECONDS)
    const sixteen = await pairs(port, tls, 16, SECONDS)
    const conn = await connectCost(port, tls, 100)
    const rttUs = await roundTrip(port, tls, 1)
    const syncUs = syncCost(data, 500)
    return { one, sixteen, conn, rttUs, syncUs }
  } finally {
    child.kill('SIGTERM')
    await new Promise((r) => child.once('exit', r))
    rmSync(dir, { recursive: true, force: true })
  }
}

async function benchPykmip() {
  const py = await startPykmipServer({})
  const tls = { ca: py.caPem, cert: py.clientCertPem, key: py.clientKeyPem }
  try {
    await pairs(py.port, tls, 1, 0.3)
    const one = await pairs(py.port, tls, 1, SECONDS)
    const sixteen = await pairs(py.port, tls, 16, SECONDS)
    const conn = await connectCost(py.port, tls, 20)
    return { one, sixteen, conn }
  } finally {
    await py.stop()
  }
}

const ward = await benchWard()
console.log(
  `ward kms (SQLite, fsync on)  1 conn: ${ward.one.pairs_s} pairs/s p50 ${ward.one.p50_ms} ms p99 ${ward.one.p99_ms} ms`,
)
console.log(
  `ward kms (SQLite, fsync on) 16 conn: ${ward.sixteen.pairs_s} pairs/s p50 ${ward.sixteen.p50_ms} ms p99 ${ward.sixteen.p99_ms} ms`,
)
console.log(
  `ward kms new TLS connection + DiscoverVersions: p50 ${ward.conn.p50_ms} ms p99 ${ward.conn.p99_ms} ms`,
)
console.log(
  `floors on this machine: DiscoverVersions round trip p50 ${ward.rttUs} µs (TLS, loopback, both processes, no storage); ` +
    `4 KiB write + fdatasync in the data dir p50 ${ward.syncUs} µs. A 1-connection pair needs >= 2 round trips + 1 sync: ` +
    `${Math.round(1e6 / (2 * ward.rttUs + ward.syncUs))} pairs/s before any server work`,
)
const py = await benchPykmip()
console.log(
  `pykmip-server  1 conn: ${py.one.pairs_s} pairs/s p50 ${py.one.p50_ms} ms p99 ${py.one.p99_ms} ms`,
)
console.log(
  `pykmip-server 16 conn: ${py.sixteen.pairs_s} pairs/s p50 ${py.sixteen.p50_ms} ms p99 ${py.sixteen.p99_ms} ms`,
)
console.log(
  `pykmip-server new TLS connection + DiscoverVersions: p50 ${py.conn.p50_ms} ms p99 ${py.conn.p99_ms} ms`,
)
if (qosFd !== undefined) closeSync(qosFd)
console.log(
  JSON.stringify({
    bench: 'kms',
    ward_pairs_s_1: ward.one.pairs_s,
    ward_pairs_s_16: ward.sixteen.pairs_s,
    pykmip_pairs_s_1: py.one.pairs_s,
    pykmip_pairs_s_16: py.sixteen.pairs_s,
    ratio_1: r2(ward.one.pairs_s / py.one.pairs_s),
    ratio_16: r2(ward.sixteen.pairs_s / py.sixteen.pairs_s),
    ward_p99_ms_16: ward.sixteen.p99_ms,
    ward_connect_ms: ward.conn.p50_ms,
    ward_rtt_us: ward.rttUs,
    disk_fdatasync_us: ward.syncUs,
    pykmip_connect_ms: py.conn.p50_ms,
    latency_qos: qosFd !== undefined,
    ward_busy_poll_us: Number(values['busy-poll-us'] ?? 200),
  }),
)
