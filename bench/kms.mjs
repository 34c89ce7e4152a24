#!/usr/bin/env node
// npm run bench -- kms [--seconds N]: Create+Get pairs/s and p50/p99 latency with 1 and 16
// concurrent connections, and the cost of a new TLS connection + DiscoverVersions, for ward kms
// (SQLite, synchronous=FULL: every acknowledged Create is fsynced) and for pykmip-server
// (started via @ward/kmip/testing), with the same raw-TTLV load generator, in one run.
// Last line: {"bench":"kms","ward_pairs_s_1":…,"ward_pairs_s_16":…,"pykmip_pairs_s_1":…,
// "pykmip_pairs_s_16":…,"ratio_1":…,"ratio_16":…,"ward_p99_ms_16":…}
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
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
  s,
  text,
  en,
  int,
  req,
} from '@ward/kmip'
import { startPykmipServer } from '@ward/kmip/testing'

const { values } = parseArgs({ options: { seconds: { type: 'string' } } })
const SECONDS = Number(values.seconds ?? 3)
const root = new URL('..', import.meta.url).pathname

const attr = (name, value) =>
  s(Tag.Attribute, [text(Tag.AttributeName, name), { ...value, tag: Tag.AttributeValue }])
const createPayload = s(Tag.RequestPayload, [
  en(Tag.ObjectType, ObjectType.SymmetricKey),
  s(Tag.TemplateAttribute, [
    attr('Cryptographic Algorithm', en(0, CryptographicAlgorithm.AES)),
    attr('Cryptographic Length', int(0, 256)),
    attr('Cryptographic Usage Mask', int(0, 12)),
  ]),
])

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}
const r2 = (x) => Math.round(x * 100) / 100

async function pairs(port, tls, conns, seconds) {
  const clients = await Promise.all(
    Array.from({ length: conns }, () => KmipTestClient.connect(port, tls)),
  )
  for (const c of clients) {
    c.major = 1
    c.minor = 2
  }
  const lat = []
  const deadline = performance.now() + seconds * 1000
  const t0 = performance.now()
  await Promise.all(
    clients.map(async (c) => {
      while (performance.now() < deadline) {
        const start = performance.now()
        const id = req(
          await c.call(Operation.Create, createPayload),
          Tag.UniqueIdentifier,
          'TextString',
        )
        await c.call(Operation.Get, s(Tag.RequestPayload, [text(Tag.UniqueIdentifier, id)]))
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

async function connectCost(port, tls, n) {
  const ts = []
  for (let i = 0; i < n; i++) {
    const start = performance.now()
    const c = await KmipTestClient.connect(port, tls)
    c.major = 1
    c.minor = 1
    await c.call(Operation.DiscoverVersions, s(Tag.RequestPayload, []))
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
    return { one, sixteen, conn }
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
    pykmip_connect_ms: py.conn.p50_ms,
  }),
)
