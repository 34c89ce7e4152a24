// The server's runtime (src/server/runtime.ts): each server's streams, locks, random pool, id
// generator and operation table are its own; nothing is shared through module state.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import { Secret, createLogger } from '@ward/core'
import {
  Operation,
  QueryFunction,
  Tag,
  decodeTtlv,
  enumeration,
  encodeTtlv,
  findAll,
  int,
  structure,
} from '@ward/kmip'
import { Barrier } from '../../src/barrier/barrier.js'
import { openStream } from '../../src/crypto/streams.js'
import { operations } from '../../src/operations/registry.js'
import { handleMessage } from '../../src/server/dispatch.js'
import { createRuntime } from '../../src/server/runtime.js'
import type { KmsRuntime } from '../../src/server/runtime.js'
import { openSqliteStore } from '../../src/storage/sqlite.js'
import { parseResponse } from '../../src/testing.js'

const GCM = { algorithm: 'AES', mode: 'GCM', padding: 'None', tagLength: 16 } as const
const stream = () =>
  openStream({
    direction: 'enc',
    spec: GCM,
    key: randomBytes(16),
    iv: randomBytes(12),
    owner: 'alice',
    objectId: 'k1',
  })

test('two runtimes share no streams, locks or id counters', async () => {
  const a = createRuntime({ operations })
  const b = createRuntime({ operations })
  try {
    // A Correlation Value of one is unknown to the other (same owner, object and direction).
    const corr = a.streams.add(stream())
    assert.ok(a.streams.get(corr, 'alice', 'k1', 'enc'))
    assert.throws(
      () => b.streams.get(corr, 'alice', 'k1', 'enc'),
      (e: { code?: string }) => e.code === 'ERR_KMS_STREAM',
    )
    assert.equal(b.streams.size, 0)

    // A lock held in one does not hold the other.
    let release!: () => void
    const held = a.locks.run('obj', () => new Promise<void>((r) => (release = r)))
    let ranInB = false
    await b.locks.run('obj', async () => {
      ranInB = true
    })
    assert.ok(ranInB, "b's lock on obj ran while a's was held")
    let ranInA = false
    const waiting = a.locks.run('obj', async () => {
      ranInA = true
    })
    await new Promise((r) => setImmediate(r))
    assert.equal(ranInA, false, "a's second holder waits for a's first")
    release()
    await held
    await waiting
    assert.ok(ranInA)
    assert.equal(a.locks.size, 0)

    // Each generator counts within a millisecond on its own: b's first id of t is counter 0.
    const t = Date.now() + 3_600_000
    const counter = (id: string): number => parseInt(id.replace(/-/g, '').slice(13, 16), 16)
    assert.deepEqual([a.ids.next(t), a.ids.next(t)].map(counter), [0, 1])
    assert.equal(counter(b.ids.next(t)), 0)
  } finally {
    a.close()
    b.close()
  }
  assert.equal(a.streams.size, 0, 'close() drops every stream')
})

async function queryOperations(runtime: KmsRuntime): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ward-kms-runtime-'))
  const store = await openSqliteStore(join(dir, 'kms.db'))
  const barrier = new Barrier(new Secret(randomBytes(32)))
  try {
    const res = await handleMessage(
      {
        store,
        barrier,
        runtime,
        logger: createLogger('kms', {
          level: 'fatal',
          destination: new Writable({ write: (_c, _e, cb) => cb() }) as never,
        }),
        audit: { record: () => 0, flush: () => undefined, close: async () => undefined },
      },
      'alice',
      encodeTtlv(
        structure(Tag.RequestMessage, [
          structure(Tag.RequestHeader, [
            structure(Tag.ProtocolVersion, [
              int(Tag.ProtocolVersionMajor, 1),
              int(Tag.ProtocolVersionMinor, 4),
            ]),
            int(Tag.BatchCount, 1),
          ]),
          structure(Tag.BatchItem, [
            enumeration(Tag.Operation, Operation.Query),
            structure(Tag.RequestPayload, [
              enumeration(Tag.QueryFunction, QueryFunction.QueryOperations),
            ]),
          ]),
        ]),
      ),
    )
    const [item] = parseResponse(decodeTtlv(res))
    assert.equal(item?.status, 0)
    return findAll(item!.payload, Tag.Operation).map((o) => Number(o.value))
  } finally {
    barrier.dispose()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

test("Query advertises the runtime's own operation table", async () => {
  const full = createRuntime({ operations, sweep: false })
  const small = createRuntime({
    operations: new Map(
      [Operation.Query, Operation.DiscoverVersions].map((c) => [c, operations.get(c)!]),
    ),
    sweep: false,
  })
  try {
    assert.deepEqual(
      (await queryOperations(full)).sort((x, y) => x - y),
      [...operations.keys()].filter((o) => o !== Operation.SetAttribute).sort((x, y) => x - y),
    )
    assert.deepEqual(await queryOperations(small), [Operation.Query, Operation.DiscoverVersions])
  } finally {
    full.close()
    small.close()
  }
})
