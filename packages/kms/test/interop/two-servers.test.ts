/**
 * Two servers in one process share nothing (issue 11 item 3): a stream opened on one is unknown
 * to the other even for the same identity and object, each keeps its own per-client stream limit,
 * and after close() of both no timer or handle keeps the process alive.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, test } from 'node:test'
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  KeyFormatType,
  ObjectType,
  Operation,
  PaddingMethod,
  QueryFunction,
  Tag,
  bool,
  bytes,
  enumeration,
  findAll,
  int,
  requiredValue,
  structure,
} from '@ward/kmip'
import { initKms } from '../../src/index.js'
import type { KmipTestClient } from '../../src/testing.js'
import { P, startFixture, uid } from '../helpers.js'
import type { Fixture } from '../helpers.js'

const root = mkdtempSync(join(tmpdir(), 'ward-kms-two-'))
let a: Fixture
let b: Fixture
let keyId: string

async function register(c: KmipTestClient): Promise<string> {
  const r = await c.call(
    Operation.Register,
    P(
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      structure(Tag.Attributes, [int(Tag.CryptographicUsageMask, 12)]),
      structure(Tag.SymmetricKey, [
        structure(Tag.KeyBlock, [
          enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
          structure(Tag.KeyValue, [bytes(Tag.KeyMaterial, randomBytes(16))]),
          enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
          int(Tag.CryptographicLength, 128),
        ]),
      ]),
    ),
  )
  const id = requiredValue(r, Tag.UniqueIdentifier, 'TextString')
  await c.call(Operation.Activate, P(uid(id)))
  return id
}

const cbc = structure(Tag.CryptographicParameters, [
  enumeration(Tag.BlockCipherMode, BlockCipherMode.CBC),
  enumeration(Tag.PaddingMethod, PaddingMethod.PKCS5),
])
const open = (c: KmipTestClient, id: string) =>
  c.batch([
    {
      op: Operation.Encrypt,
      payload: P(uid(id), cbc, bytes(Tag.Data, randomBytes(16)), bool(Tag.InitIndicator, true)),
    },
  ])
const more = (c: KmipTestClient, id: string, corr: Uint8Array) =>
  c.batch([
    {
      op: Operation.Encrypt,
      payload: P(uid(id), cbc, bytes(Tag.Data, randomBytes(16)), bytes(Tag.CorrelationValue, corr)),
    },
  ])

before(async () => {
  // One data dir, copied: both servers hold the same object under the same id, and know the
  // same client certificate, so only their own state can tell them apart.
  const dirA = join(root, 'a')
  await initKms(dirA)
  const first = await startFixture({ dataDir: dirA })
  keyId = await register(await first.client('alice', 2, 0))
  await first.tls('alice')
  await first.close()
  cpSync(dirA, join(root, 'b'), { recursive: true })
  a = await startFixture({ dataDir: dirA, maxStreamsPerClient: 1 })
  b = await startFixture({ dataDir: join(root, 'b'), maxStreamsPerClient: 3 })
})

after(async () => {
  await a?.close()
  await b?.close()
  rmSync(root, { recursive: true, force: true })
})

test('a stream opened on one server is unknown to the other; each keeps its own stream limit', async () => {
  const ca = await a.client('alice', 2, 0)
  const cb = await b.client('alice', 2, 0)
  const [opened] = await open(ca, keyId)
  assert.equal(opened!.status, 0)
  const corr = requiredValue(opened!.payload, Tag.CorrelationValue, 'ByteString')
  assert.equal(
    (await more(ca, keyId, corr))[0]!.status,
    0,
    'the stream continues where it was opened',
  )
  const [elsewhere] = await more(cb, keyId, corr)
  assert.equal(elsewhere!.status, 1)
  assert.match(elsewhere!.message ?? '', /ERR_KMS_STREAM\b/)

  // Server a allows one stream per client (alice holds it); b allows three.
  const [overA] = await open(ca, keyId)
  assert.match(overA!.message ?? '', /ERR_KMS_STREAM_LIMIT/)
  for (let i = 0; i < 3; i++) assert.equal((await open(cb, keyId))[0]!.status, 0)
  assert.match((await open(cb, keyId))[0]!.message ?? '', /ERR_KMS_STREAM_LIMIT/)
})

test('Query on each server lists the operations it serves', async () => {
  for (const f of [a, b]) {
    const c = await f.client('alice', 2, 0)
    const r = await c.call(
      Operation.Query,
      P(enumeration(Tag.QueryFunction, QueryFunction.QueryOperations)),
    )
    const ops = findAll(r, Tag.Operation).map((o) => Number(o.value))
    assert.ok(ops.includes(Operation.Create) && ops.includes(Operation.Query), String(ops))
  }
})

test('a process that starts two servers, uses them and closes both exits on its own', async () => {
  const helpers = new URL('../helpers.js', import.meta.url).href
  const kmip = import.meta.resolve('@ward/kmip')
  // Streams left open, objects created, connections closed by the server's close().
  const script = `
    const { startFixture, P, uid } = await import(${JSON.stringify(helpers)})
    const k = await import(${JSON.stringify(kmip)})
    const servers = [await startFixture(), await startFixture()]
    for (const f of servers) {
      const c = await f.client('alice', 2, 0)
      const r = await c.call(k.Operation.Create, P(
        k.enumeration(k.Tag.ObjectType, k.ObjectType.SymmetricKey),
        k.structure(k.Tag.Attributes, [
          k.enumeration(k.Tag.CryptographicAlgorithm, k.CryptographicAlgorithm.AES),
          k.int(k.Tag.CryptographicLength, 128),
          k.int(k.Tag.CryptographicUsageMask, 12),
        ]),
      ))
      const id = k.requiredValue(r, k.Tag.UniqueIdentifier, 'TextString')
      await c.call(k.Operation.Activate, P(uid(id)))
      await c.call(k.Operation.Get, P(uid(id)))
      const [o] = await c.batch([{ op: k.Operation.Encrypt, payload: P(uid(id),
        k.bytes(k.Tag.Data, new Uint8Array(16)), k.bool(k.Tag.InitIndicator, true)) }])
      if (o.status !== 0) throw new Error('stream not opened: ' + o.message)
    }
    for (const f of servers) await f.close()
    process.stdout.write('closed\\n')
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('.', import.meta.url)),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const exited = await new Promise<number | string | null>((resolve) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL')
      resolve('killed: still running 60 s after start')
    }, 60_000)
    child.on('exit', (code) => {
      clearTimeout(t)
      resolve(code)
    })
  })
  assert.equal(exited, 0, `child: ${out} ${err}`)
  assert.match(out, /closed/)
})
