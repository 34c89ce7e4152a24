// StoreOverlay (storage/overlay.ts) over a real SQLite store: held writes are read back first,
// merged into Locate and grant reads, invisible to the store until commit, committed in one
// transaction (a bad row takes the whole batch down with it), dropped by discard. And the
// dispatcher's answer when the commit of an Undo batch fails.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, test } from 'node:test'
import { Secret, createLogger } from '@ward/core'
import {
  BatchErrorContinuationOption,
  CryptographicAlgorithm,
  ObjectType,
  Operation,
  ResultReason,
  ResultStatus,
  Tag,
  bytes,
  decodeTtlv,
  enumeration,
  encodeTtlv,
  int,
  structure,
} from '@ward/kmip'
import { Barrier } from '../../src/barrier/barrier.js'
import type { AuditRecord } from '../../src/server/audit.js'
import { operations } from '../../src/operations/registry.js'
import { handleMessage } from '../../src/server/dispatch.js'
import { createRuntime } from '../../src/server/runtime.js'
import { StoreOverlay } from '../../src/storage/overlay.js'
import { openSqliteStore } from '../../src/storage/sqlite.js'
import type { ObjectRow, Store } from '../../src/storage/store.js'
import { parseResponse } from '../../src/testing.js'

let dir: string
let store: Store

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ward-kms-overlay-'))
  store = await openSqliteStore(join(dir, 'kms.db'))
})

after(async () => {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

let n = 0
function row(over: Partial<ObjectRow> = {}): ObjectRow {
  n++
  return {
    id: `o-${n}-${randomBytes(4).toString('hex')}`,
    owner: 'alice',
    objectType: ObjectType.SymmetricKey,
    state: 1,
    attrs: '[]',
    material: new Uint8Array([n]),
    format: 1,
    createdAt: 1_000 * n,
    updatedAt: 1_000 * n,
    locate: { algorithm: CryptographicAlgorithm.AES, cryptoLength: 256, names: [`name-${n}`] },
    ...over,
  }
}

test('held rows are read first and reach the store only at commit', async () => {
  const stored = row()
  await store.putObjects([stored])
  const o = new StoreOverlay(store)
  const created = row()
  const changed = { ...stored, state: 2 }
  await o.putObjects([created, changed])
  assert.equal(await store.getObject(created.id), undefined)
  assert.equal((await store.getObject(stored.id))?.state, 1)
  assert.equal((await o.getObject(created.id))?.id, created.id)
  assert.equal((await o.getObject(stored.id))?.state, 2)
  assert.ok(o.dirty)
  await o.commit()
  assert.equal((await store.getObject(created.id))?.id, created.id)
  assert.equal((await store.getObject(stored.id))?.state, 2)
  await assert.rejects(o.putObjects([row()]), { code: 'ERR_KMS_INTERNAL' })
})

test('discard writes nothing', async () => {
  const o = new StoreOverlay(store)
  const r = row()
  await o.putObjects([r])
  await o.setGrant(r.id, 'bob', ['get'])
  await o.markFetched(r.id)
  o.discard()
  assert.equal(await store.getObject(r.id), undefined)
  assert.equal(await store.getGrant(r.id, 'bob'), undefined)
})

test('Locate merges held rows: replaced rows re-filtered, creation order, no material', async () => {
  const owner = `loc-${randomBytes(4).toString('hex')}`
  const first = row({ owner })
  const last = row({ owner })
  const gone = row({ owner })
  await store.putObjects([first, last, gone])
  const o = new StoreOverlay(store)
  const middle = row({ owner, createdAt: (first.createdAt + last.createdAt) / 2 })
  const other = row({ owner: 'someone-else' })
  await o.putObjects([middle, other, { ...gone, state: 6 }])
  const hits = await o.locateVisible(owner, { states: [1] })
  assert.deepEqual(
    hits.map((r) => r.id),
    [first.id, middle.id, last.id],
  )
  assert.ok(hits.every((r) => r.material === null))
  assert.deepEqual(
    (await o.locateVisible(owner, { name: middle.locate!.names[0]! })).map((r) => r.id),
    [middle.id],
  )
  assert.deepEqual(await o.locateVisible(owner, { objectType: ObjectType.PrivateKey }), [])
  // a held grant makes another owner's held row visible
  await o.setGrant(other.id, owner, ['get'])
  assert.ok((await o.locateVisible(owner, {})).some((r) => r.id === other.id))
  o.discard()
})

test('grants, Fresh marks and counts are merged; the commit applies them', async () => {
  const r = row({ owner: 'carol' })
  await store.putObjects([r])
  await store.setGrant(r.id, 'dave', ['get'])
  const o = new StoreOverlay(store)
  await o.setGrant(r.id, 'erin', ['encrypt'])
  await o.setGrant(r.id, 'dave', null)
  await o.markFetched(r.id)
  await o.putObjects([{ ...r, state: 3 }])
  const newOwner = `owner-${randomBytes(4).toString('hex')}`
  await o.putObjects([row({ owner: newOwner, state: 1 })])
  assert.deepEqual(await o.getGrant(r.id, 'erin'), ['encrypt'])
  assert.equal(await o.getGrant(r.id, 'dave'), undefined)
  assert.deepEqual(await store.getGrant(r.id, 'dave'), ['get'])
  assert.deepEqual(
    (await o.listGrants(r.id)).map((g) => g.identity),
    ['erin'],
  )
  assert.equal((await o.getObject(r.id))?.fetched, true)
  assert.equal((await store.getObject(r.id))?.fetched, false)
  const before = await store.countByState()
  const merged = await o.countByState()
  assert.equal(merged.get(3) ?? 0, (before.get(3) ?? 0) + 1)
  assert.equal(merged.get(1) ?? 0, before.get(1) ?? 0) // one left state 1, one arrived
  assert.ok((await o.countOwners()).includes(newOwner))
  await o.commit()
  const after = await store.getObject(r.id)
  assert.equal(after?.state, 3)
  assert.equal(after?.fetched, true, 'the stored row is marked although the upsert never sets it')
  assert.deepEqual(await store.getGrant(r.id, 'erin'), ['encrypt'])
  assert.equal(await store.getGrant(r.id, 'dave'), undefined)
  assert.ok((await store.countOwners()).includes(newOwner))
})

test('the commit is one transaction: a row the database refuses takes the whole batch with it', async () => {
  const o = new StoreOverlay(store)
  const good = row()
  const bad = row({ owner: null as never }) // NOT NULL owner
  await o.putObjects([good, bad])
  await o.setGrant(good.id, 'frank', ['get'])
  await assert.rejects(o.commit())
  assert.equal(await store.getObject(good.id), undefined)
  assert.equal(await store.getGrant(good.id, 'frank'), undefined)
})

test('dispatch: a failed commit of an Undo batch reports ERR_KMS_BATCH_COMMIT and undoes the rest', async () => {
  const refusing: Store = {
    ...store,
    putObjects: () => Promise.reject(Object.assign(new Error('disk full'), { code: 'ERR_TEST' })),
  }
  const audit: AuditRecord[] = []
  const create = (id: number) =>
    structure(Tag.BatchItem, [
      enumeration(Tag.Operation, Operation.Create),
      bytes(Tag.UniqueBatchItemID, new Uint8Array([id])),
      structure(Tag.RequestPayload, [
        enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
        structure(Tag.Attributes, [
          enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
          int(Tag.CryptographicLength, 128),
        ]),
      ]),
    ])
  const request = structure(Tag.RequestMessage, [
    structure(Tag.RequestHeader, [
      structure(Tag.ProtocolVersion, [
        int(Tag.ProtocolVersionMajor, 2),
        int(Tag.ProtocolVersionMinor, 1),
      ]),
      enumeration(Tag.BatchErrorContinuationOption, BatchErrorContinuationOption.Undo),
      int(Tag.BatchCount, 2),
    ]),
    create(1),
    create(2),
  ])
  const before = await store.countByState()
  const barrier = new Barrier(new Secret(randomBytes(32)))
  const runtime = createRuntime({ operations })
  const res = await handleMessage(
    {
      store: refusing,
      barrier,
      runtime,
      logger: createLogger('kms', {
        level: 'fatal',
        destination: new Writable({ write: (_c, _e, cb) => cb() }) as never,
      }),
      audit: { record: (r) => audit.push(r), flush: () => undefined, close: async () => undefined },
    },
    'alice',
    encodeTtlv(request),
  )
  barrier.dispose()
  runtime.close()
  const items = parseResponse(decodeTtlv(res))
  assert.deepEqual(
    items.map((i) => i.status),
    [ResultStatus.OperationUndone, ResultStatus.OperationFailed],
  )
  assert.equal(items[1]!.reason, ResultReason.GeneralFailure)
  assert.match(items[1]!.message ?? '', /ERR_KMS_BATCH_COMMIT/)
  assert.doesNotMatch(items[1]!.message ?? '', /disk full/)
  assert.deepEqual(
    audit.map((a) => a.status),
    ['undone', 'failed'],
  )
  assert.deepEqual(await store.countByState(), before)
})
