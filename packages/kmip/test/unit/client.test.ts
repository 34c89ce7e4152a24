// The client against a small in-process TLS KMIP responder (our own codec): trust set-ups,
// TLS 1.3, timeouts, failover, pooling and batching. Real-peer tests are in test/interop.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createServer, type Server, type TLSSocket } from 'node:tls'
import {
  buildResponseMessage,
  decodeTtlv,
  encodeTtlv,
  FrameReader,
  KmipClient,
  KmipError,
  Operation,
  parseRequestMessage,
  ResultReason,
  ResultStatus,
  structure,
  Tag,
  text,
  type KmipTlsOptions,
  type ResponseBatchItem,
} from '../../src/index.js'
import { makeTestCertificates } from '../../src/testing/index.js'

const run = promisify(execFile)
let dir: string
let pem: Record<string, string>

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ward-kmip-client-'))
  await makeTestCertificates(dir, 'unit-client')
  // a self-signed server certificate, for the "trust the KMS certificate itself" set-up
  await run(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-sha256',
      '-days',
      '2',
      '-keyout',
      'self.key',
      '-out',
      'self.crt',
      '-subj',
      '/CN=kms.example',
      '-addext',
      'subjectAltName=DNS:kms.example',
    ],
    { cwd: dir },
  )
  pem = {}
  for (const f of [
    'ca.crt',
    'server.crt',
    'server.key',
    'client.crt',
    'client.key',
    'self.crt',
    'self.key',
  ]) {
    pem[f] = await readFile(join(dir, f), 'utf8')
  }
})
after(async () => {
  await rm(dir, { recursive: true, force: true })
})

interface Stub {
  readonly port: number
  readonly connections: () => number
  readonly close: () => Promise<void>
}

/** Answers every request: Create → uid "k<n>", Get of "missing" → Item Not Found, others Success. */
async function stub(o: {
  cert: string
  key: string
  delayMs?: number
  minVersion?: 'TLSv1.2' | 'TLSv1.3'
}): Promise<Stub> {
  let conns = 0
  let n = 0
  const server: Server = createServer({
    cert: o.cert,
    key: o.key,
    ca: pem['ca.crt'],
    requestCert: true,
    rejectUnauthorized: true,
    ...(o.minVersion !== undefined && { minVersion: o.minVersion }),
  })
  server.on('secureConnection', (sock: TLSSocket) => {
    conns++
    const frames = new FrameReader()
    sock.on('error', () => undefined)
    sock.on('data', (chunk: Buffer) => {
      for (const m of frames.push(chunk)) {
        const req = parseRequestMessage(decodeTtlv(m))
        const items: ResponseBatchItem[] = req.items.map((it) => {
          const uid =
            it.payload?.type === 'Structure'
              ? it.payload.value.find((c) => c.tag === Tag.UniqueIdentifier)
              : undefined
          const base = {
            operation: it.operation,
            ...(it.uniqueBatchItemId !== undefined && { uniqueBatchItemId: it.uniqueBatchItemId }),
          }
          if (uid?.value === 'missing') {
            return {
              ...base,
              resultStatus: ResultStatus.OperationFailed,
              resultReason: ResultReason.ItemNotFound,
              resultMessage: 'no such object',
            }
          }
          const payload =
            it.operation === Operation.Create
              ? structure(Tag.ResponsePayload, [en2(), text(Tag.UniqueIdentifier, `k${++n}`)])
              : structure(Tag.ResponsePayload, [])
          return { ...base, resultStatus: ResultStatus.Success, payload }
        })
        const out = encodeTtlv(
          buildResponseMessage({
            header: { protocolVersion: req.header.protocolVersion, timeStamp: 0n, batchCount: 0 },
            items: items.reverse(),
          }),
        )
        setTimeout(() => sock.write(out), o.delayMs ?? 0)
      }
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const addr = server.address()
  return {
    port: typeof addr === 'object' && addr !== null ? addr.port : 0,
    connections: () => conns,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}
const en2 = () => ({ tag: Tag.ObjectType, type: 'Enumeration' as const, value: 2 })

function tlsWithCa(): KmipTlsOptions {
  return {
    caPem: pem['ca.crt']!,
    certPem: pem['client.crt']!,
    keyPem: pem['client.key']!,
    servername: 'localhost',
  }
}

test('trust the KMS CA: create, pooled connection reused, KMIP errors surface with their reason', async () => {
  const srv = await stub({ cert: pem['server.crt']!, key: pem['server.key']! })
  const c = new KmipClient({ servers: [{ host: '127.0.0.1', port: srv.port }], tls: tlsWithCa() })
  try {
    assert.equal(await c.create(), 'k1')
    assert.equal(await c.create(), 'k2')
    assert.equal(srv.connections(), 1)
    await assert.rejects(
      c.get('missing'),
      (e: unknown) =>
        e instanceof KmipError &&
        e.code === 'ERR_KMIP_RESULT' &&
        e.resultReason === ResultReason.ItemNotFound,
    )
    // batch: the responder answers in reverse order; items are matched by Unique Batch Item ID
    const [p1, p2] = await c.batch([
      { operation: Operation.Create, payload: structure(Tag.RequestPayload, []) },
      { operation: Operation.Activate, payload: structure(Tag.RequestPayload, []) },
    ])
    assert.equal(p1?.type === 'Structure' && p1.value.length, 2)
    assert.equal(p2?.type === 'Structure' && p2.value.length, 0)
  } finally {
    c.close()
    await srv.close()
  }
})

test('trust the KMS certificate itself (pinned, self-signed) over TLS 1.3; a different certificate is refused', async () => {
  // the stub's CA must accept our client: it does (ca.crt); the server presents a self-signed cert
  const srv = await stub({ cert: pem['self.crt']!, key: pem['self.key']!, minVersion: 'TLSv1.3' })
  const pinned = new KmipClient({
    servers: [{ host: '127.0.0.1', port: srv.port }],
    tls: {
      pinnedServerCertPem: pem['self.crt']!,
      certPem: pem['client.crt']!,
      keyPem: pem['client.key']!,
      minVersion: 'TLSv1.3',
    },
  })
  const wrong = new KmipClient({
    servers: [{ host: '127.0.0.1', port: srv.port }],
    tls: {
      pinnedServerCertPem: pem['server.crt']!,
      certPem: pem['client.crt']!,
      keyPem: pem['client.key']!,
    },
  })
  try {
    assert.equal(await pinned.create(), 'k1')
    await assert.rejects(
      wrong.create(),
      (e: unknown) => e instanceof KmipError && e.code === 'ERR_KMIP_ALL_SERVERS_FAILED',
    )
  } finally {
    pinned.close()
    wrong.close()
    await srv.close()
  }
})

test('trust the KMS certificate itself when a CA issued it (pinned leaf, no CA given)', async () => {
  const srv = await stub({ cert: pem['server.crt']!, key: pem['server.key']! })
  const pinned = new KmipClient({
    servers: [{ host: '127.0.0.1', port: srv.port }],
    tls: {
      pinnedServerCertPem: pem['server.crt']!,
      certPem: pem['client.crt']!,
      keyPem: pem['client.key']!,
    },
  })
  const other = new KmipClient({
    servers: [{ host: '127.0.0.1', port: srv.port }],
    tls: {
      pinnedServerCertPem: pem['self.crt']!,
      certPem: pem['client.crt']!,
      keyPem: pem['client.key']!,
    },
  })
  try {
    assert.equal(await pinned.create(), 'k1')
    await assert.rejects(
      other.create(),
      (e: unknown) => e instanceof KmipError && e.code === 'ERR_KMIP_ALL_SERVERS_FAILED',
    )
  } finally {
    pinned.close()
    other.close()
    await srv.close()
  }
})

test('failover: a server that times out is left for the next one', async () => {
  const slow = await stub({ cert: pem['server.crt']!, key: pem['server.key']!, delayMs: 2000 })
  const fast = await stub({ cert: pem['server.crt']!, key: pem['server.key']! })
  const c = new KmipClient({
    servers: [
      { host: '127.0.0.1', port: slow.port },
      { host: '127.0.0.1', port: fast.port },
    ],
    tls: tlsWithCa(),
    timeoutMs: 200,
  })
  try {
    assert.equal(await c.create(), 'k1')
    assert.equal(c.transport.currentServer, 1)
    assert.equal(await c.create(), 'k2') // sticks to the server that answered
  } finally {
    c.close()
    await slow.close()
    await fast.close()
  }
})

test('TLS configuration errors are reported before connecting', () => {
  assert.throws(
    () =>
      new KmipClient({
        servers: [{ host: 'h', port: 1 }],
        tls: { certPem: '', keyPem: '' } as KmipTlsOptions,
      }),
    (e: unknown) => e instanceof KmipError && e.code === 'ERR_KMIP_TLS_CONFIG',
  )
  assert.throws(
    () => new KmipClient({ servers: [{ host: 'h', port: 1 }], tls: { certPem: 'x', keyPem: 'y' } }),
    (e: unknown) => e instanceof KmipError && e.code === 'ERR_KMIP_TLS_CONFIG',
  )
  assert.throws(
    () => new KmipClient({ servers: [], tls: tlsWithCa() }),
    (e: unknown) => e instanceof KmipError,
  )
})
