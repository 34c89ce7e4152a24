/**
 * Several `ward kms serve` processes on one PostgreSQL answer as one server does (issue 11 item
 * 11): two real server processes, each with its own copy of one data dir (same master key, CA
 * and server certificate), share a database; clients talk to both at once over mutual TLS. The
 * Usage Limits count-down stays exact, concurrent AddAttributes lose nothing, a Destroy or a
 * first Get on one is seen at once on the other, and after a kill -9 of one mid-burst the other
 * keeps serving and every acknowledged Create is intact.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import {
  CryptographicAlgorithm as Alg,
  ObjectType,
  Operation,
  ResultReason,
  State,
  Tag,
  bytes,
  enumeration,
  find,
  findAll,
  int,
  long,
  optionalValue,
  requiredValue,
  structure,
  text,
} from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'
import { addClient, initKms } from '../../src/index.js'
import { KmipTestClient } from '../../src/testing.js'
import type { ClientTls } from '../../src/testing.js'
import { P, idOf, uid } from '../helpers.js'
import { createTestDb, repoRoot } from './pg.js'
import type { TestDb } from './pg.js'

const root = mkdtempSync(join(tmpdir(), 'ward-kms-ha-'))
let db: TestDb
let tls: ClientTls
const servers: Served[] = []
const clients: KmipTestClient[] = []

interface Served {
  readonly child: ChildProcess
  readonly port: number
  readonly dir: string
}

/** `ward kms serve` on `dir` and the shared database; resolves once it listens. */
async function serve(dir: string): Promise<Served> {
  const runtime = join(dir, 'server.json')
  rmSync(runtime, { force: true })
  const child = spawn(
    process.execPath,
    [
      join(repoRoot, 'packages/cli/bin/ward.js'),
      'kms',
      'serve',
      '--data-dir',
      dir,
      '--listen',
      '127.0.0.1:0',
      '--db',
      db.url,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  )
  for (let i = 0; i < 600; i++) {
    if (existsSync(runtime)) {
      try {
        const r = JSON.parse(readFileSync(runtime, 'utf8')) as { pid: number; port: number }
        if (r.pid === child.pid) {
          const srv = { child, port: r.port, dir }
          servers.push(srv)
          return srv
        }
      } catch {
        /* being replaced */
      }
    }
    if (child.exitCode !== null) break
    await new Promise((r) => setTimeout(r, 50))
  }
  child.kill('SIGKILL')
  throw new Error(`ward kms serve on ${dir} did not start`)
}

async function connect(srv: Served, n: number): Promise<KmipTestClient[]> {
  const cs = await Promise.all(
    Array.from({ length: n }, () => KmipTestClient.connect(srv.port, tls)),
  )
  for (const c of cs) {
    c.major = 2
    c.minor = 1
  }
  clients.push(...cs)
  return cs
}

let a: Served
let b: Served
let onA: KmipTestClient[]
let onB: KmipTestClient[]

before(async () => {
  db = await createTestDb()
  const dirA = join(root, 'a')
  await initKms(dirA)
  const files = await addClient(dirA, 'alice', join(root, 'alice'))
  tls = { ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key) }
  cpSync(dirA, join(root, 'b'), { recursive: true })
  ;[a, b] = await Promise.all([serve(dirA), serve(join(root, 'b'))])
  onA = await connect(a, 4)
  onB = await connect(b, 4)
})

after(async () => {
  for (const c of clients) c.close()
  await Promise.all(
    servers.map(
      (srv) =>
        new Promise<void>((resolve) => {
          if (srv.child.exitCode !== null || srv.child.signalCode !== null) return resolve()
          srv.child.once('exit', () => resolve())
          srv.child.kill('SIGTERM')
        }),
    ),
  )
  await db?.drop()
  rmSync(root, { recursive: true, force: true })
})

/** Both servers' connections, interleaved: a, b, a, b, … */
const both = (): KmipTestClient[] => onA.flatMap((c, i) => [c, onB[i]!])

const createKey = async (c: KmipTestClient, extra: TtlvItem[] = []): Promise<string> =>
  idOf(
    await c.call(
      Operation.Create,
      P(
        enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
        structure(Tag.Attributes, [
          enumeration(Tag.CryptographicAlgorithm, Alg.AES),
          int(Tag.CryptographicLength, 256),
          int(Tag.CryptographicUsageMask, 12),
          ...extra,
        ]),
      ),
    ),
  )

const keyOf = (g: TtlvItem | undefined): string =>
  Buffer.from(
    requiredValue(
      find(find(find(g, Tag.SymmetricKey), Tag.KeyBlock), Tag.KeyValue),
      Tag.KeyMaterial,
      'ByteString',
    ),
  ).toString('hex')

const attribute = async (c: KmipTestClient, id: string, tag: number): Promise<TtlvItem[]> =>
  findAll(
    find(
      await c.call(Operation.GetAttributes, P(uid(id), enumeration(Tag.AttributeReference, tag))),
      Tag.Attributes,
    ),
    tag,
  )

describe('two ward kms serve processes on one PostgreSQL', () => {
  test('Usage Limits: 40 concurrent 100-byte Encrypts on both servers against 1,000 bytes: exactly 10 succeed', async () => {
    const id = await createKey(onA[0]!, [
      structure(Tag.UsageLimits, [
        long(Tag.UsageLimitsTotal, 1000),
        long(Tag.UsageLimitsCount, 1000),
        enumeration(Tag.UsageLimitsUnit, 1),
      ]),
    ])
    await onB[0]!.call(Operation.Activate, P(uid(id)))
    const cs = both()
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) =>
        cs[i % cs.length]!.call(
          Operation.Encrypt,
          P(
            uid(id),
            structure(Tag.CryptographicParameters, [enumeration(Tag.BlockCipherMode, 9)]),
            bytes(Tag.Data, Buffer.alloc(100, i)),
          ),
        ),
      ),
    )
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 10)
    for (const r of results)
      if (r.status === 'rejected')
        assert.equal((r.reason as { reason?: number }).reason, ResultReason.PermissionDenied)
    for (const c of [onA[0]!, onB[0]!]) {
      const [ul] = await attribute(c, id, Tag.UsageLimits)
      assert.equal(optionalValue(ul, Tag.UsageLimitsCount, 'LongInteger'), 0n)
    }
  })

  test('40 concurrent AddAttributes on one object from both servers: none is lost', async () => {
    const id = await createKey(onB[0]!)
    const cs = both()
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        cs[i % cs.length]!.call(
          Operation.AddAttribute,
          P(
            uid(id),
            structure(Tag.NewAttribute, [
              structure(Tag.Name, [text(Tag.NameValue, `name-${i}`), enumeration(Tag.NameType, 1)]),
            ]),
          ),
        ),
      ),
    )
    const want = Array.from({ length: 40 }, (_, i) => `name-${i}`).sort()
    for (const c of [onA[0]!, onB[0]!]) {
      const names = (await attribute(c, id, Tag.Name))
        .map((n) => optionalValue(n, Tag.NameValue, 'TextString') ?? '')
        .sort()
      assert.deepEqual(names, want)
    }
  })

  test('a Destroy on one server is seen at once on the other; so is a first Get (Fresh)', async () => {
    const id = await createKey(onA[0]!)
    const [fresh] = await attribute(onB[0]!, id, Tag.Fresh)
    assert.equal(fresh?.value, true)
    await onA[1]!.call(Operation.Get, P(uid(id)))
    const [served] = await attribute(onB[1]!, id, Tag.Fresh)
    assert.equal(served?.value, false, 'the Get on a is seen by b at once')

    await onA[0]!.call(Operation.Destroy, P(uid(id)))
    const [r] = await onB[0]!.batch([{ op: Operation.Get, payload: P(uid(id)) }])
    assert.equal(r!.status, 1)
    assert.equal(r!.reason, ResultReason.ObjectDestroyed)
    const [state] = await attribute(onB[1]!, id, Tag.State)
    assert.equal(state?.value, State.Destroyed)
  })

  test('kill -9 of one server mid-burst: the other keeps serving, every acknowledged Create is intact', async () => {
    const acked = new Map<string, string>() // id → key material read right after the Create
    let killed = false
    let afterKill = 0
    const burst = async (c: KmipTestClient, onKilled: boolean): Promise<void> => {
      for (let i = 0; i < 400; i++) {
        if (!onKilled && killed && afterKill >= 40) return
        let id: string
        try {
          id = await createKey(c)
        } catch (e) {
          if (onKilled && killed) return // its server is gone: unanswered, not acknowledged
          throw e
        }
        acked.set(id, '')
        if (!onKilled && killed) afterKill++
        try {
          acked.set(id, keyOf(await c.call(Operation.Get, P(uid(id)))))
        } catch (e) {
          if (onKilled && killed) return
          throw e
        }
      }
    }
    const running = [...onA.map((c) => burst(c, true)), ...onB.map((c) => burst(c, false))]
    while (acked.size < 40) await new Promise((r) => setTimeout(r, 20))
    a.child.kill('SIGKILL')
    killed = true
    await Promise.all(running)
    assert.ok(afterKill >= 40, `b answered ${afterKill} Creates after a was killed`)
    // Every acknowledged object opens on b (sealed material intact), with the key a Get saw.
    const check = onB[0]!
    for (const [id, key] of acked) {
      const got = keyOf(await check.call(Operation.Get, P(uid(id))))
      if (key !== '') assert.equal(got, key, `object ${id}`)
    }
    const located = await check.call(
      Operation.Locate,
      P(structure(Tag.Attributes, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey)])),
    )
    const ids = new Set(findAll(located, Tag.UniqueIdentifier).map((u) => String(u.value)))
    for (const id of acked.keys()) assert.ok(ids.has(id), `Locate on b finds ${id}`)
  })
})
