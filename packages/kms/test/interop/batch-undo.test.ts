// Batch Error Continuation Option (KMIP 1.4 §6.7, 2.1 §8) against a real `ward kms` on SQLite and
// PostgreSQL: with Undo a batch is all-or-nothing (objects created or changed by the items before
// the failure are not in the store afterwards, those items answer Operation Undone, the audit
// says 'undone'); Stop keeps the earlier items' effects and cancels the later ones; Continue runs
// the later ones.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import {
  BatchErrorContinuationOption as Bec,
  CryptographicAlgorithm as Alg,
  ObjectType,
  Operation,
  QueryFunction,
  ResultReason,
  ResultStatus,
  State,
  Tag,
  bytes,
  enumeration,
  find,
  findAll,
  int,
  optionalValue,
  structure,
  text,
} from '@ward/kmip'
import type { BatchResult, KmipTestClient, TtlvItem } from '../../src/testing.js'
import { startFixture, P, uid } from '../helpers.js'
import type { Fixture } from '../helpers.js'
import { createTestDb } from './pg.js'
import type { TestDb } from './pg.js'

const nameAttr = (n: string) =>
  structure(Tag.Name, [text(Tag.NameValue, n), enumeration(Tag.NameType, 1)])
const createKey = (name: string) => ({
  op: Operation.Create,
  payload: P(
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    structure(Tag.Attributes, [
      enumeration(Tag.CryptographicAlgorithm, Alg.AES),
      int(Tag.CryptographicLength, 256),
      int(Tag.CryptographicUsageMask, 12),
      nameAttr(name),
    ]),
  ),
})
/** Items without a Unique Identifier act on the ID placeholder (the last object acted on). */
const onPlaceholder = (op: number, ...c: TtlvItem[]) => ({ op, payload: P(...c) })
const onId = (op: number, id: string, ...c: TtlvItem[]) => ({ op, payload: P(uid(id), ...c) })
const locateByName = (name: string) => ({
  op: Operation.Locate,
  payload: P(structure(Tag.Attributes, [nameAttr(name)])),
})
const bec = (o: number) => [enumeration(Tag.BatchErrorContinuationOption, o)]
const idIn = (r: BatchResult | undefined): string | undefined =>
  optionalValue(r?.payload, Tag.UniqueIdentifier, 'TextString')
const statuses = (rs: readonly BatchResult[]) => rs.map((r) => r.status)
/** The request id the server put in a failed item's Result Message (it keys the audit lines). */
const requestIdOf = (r: BatchResult | undefined): string => {
  const m = /request ([0-9a-f-]{36})\]/.exec(r?.message ?? '')
  assert.ok(m !== null, `no request id in ${r?.message}`)
  return m[1]!
}

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`Batch Error Continuation Option (${backend})`, () => {
    let f: Fixture
    let db: TestDb | undefined
    let c: KmipTestClient
    before(async () => {
      if (backend === 'postgres') db = await createTestDb()
      f = await startFixture(db !== undefined ? { db: db.url } : {})
      c = await f.client('batcher', 2, 1)
    })
    after(async () => {
      await f.close()
      await db?.drop()
    })

    const fresh = () => `undo-${randomBytes(6).toString('hex')}`
    const getResult = async (id: string) => (await c.batch([onId(Operation.Get, id)]))[0]!
    const located = async (name: string) =>
      findAll((await c.call(Operation.Locate, locateByName(name).payload))!, Tag.UniqueIdentifier)
        .map((i) => i.value)
        .sort()
    const attrs = async (id: string, ...tags: number[]) =>
      find(
        await c.call(
          Operation.GetAttributes,
          P(uid(id), ...tags.map((t) => enumeration(Tag.AttributeReference, t))),
        ),
        Tag.Attributes,
      )
    const auditOf = (requestId: string) =>
      f.logLines
        .map((l) => JSON.parse(l) as { audit?: { requestId: string; status: string } })
        .flatMap((l) => (l.audit?.requestId.startsWith(`${requestId}/`) === true ? [l.audit] : []))
        .sort((a, b) => (a.requestId < b.requestId ? -1 : 1))
        .map((a) => a.status)

    /**
     * Create, Locate by its name, Create, Activate of the second key (ID placeholder), then a
     * second Activate of it, which fails only because the first Activate is visible to it, then
     * one more Create that never runs under Stop or Undo.
     */
    const batch = (a: string, b: string, after: string) => [
      createKey(a),
      locateByName(a),
      createKey(b),
      onPlaceholder(Operation.Activate),
      onPlaceholder(Operation.Activate),
      createKey(after),
    ]

    test('Undo: the earlier items are Operation Undone and nothing of them is stored', async () => {
      const [a, b, later] = [fresh(), fresh(), fresh()]
      const rs = await c.batch(batch(a, b, later), bec(Bec.Undo))
      const U = ResultStatus.OperationUndone
      const F = ResultStatus.OperationFailed
      assert.deepEqual(statuses(rs), [U, U, U, U, F, F])
      // the failing item saw the held Activate: the object was Active inside the batch
      assert.equal(rs[4]!.reason, ResultReason.WrongKeyLifecycleState)
      assert.equal(rs[5]!.reason, ResultReason.OperationCanceledByRequester)
      assert.match(rs[5]!.message ?? '', /ERR_KMS_BATCH_STOPPED/)
      // undone items keep their payloads (OASIS BL-M-2): the ids the batch had created
      const [idA, idB] = [idIn(rs[0]), idIn(rs[2])]
      assert.ok(idA !== undefined && idB !== undefined && idA !== idB)
      assert.equal(idIn(rs[3]), idB)
      // Locate inside the batch found the held object
      assert.deepEqual(
        findAll(rs[1]!.payload!, Tag.UniqueIdentifier).map((i) => i.value),
        [idA],
      )
      // afterwards neither object exists: Get by id fails, Locate by name finds nothing
      for (const id of [idA, idB]) {
        const g = await getResult(id)
        assert.equal(g.status, F)
        assert.equal(g.reason, ResultReason.ObjectNotFound)
      }
      assert.deepEqual(await located(a), [])
      assert.deepEqual(await located(b), [])
      assert.deepEqual(await located(later), [])
      assert.deepEqual(auditOf(requestIdOf(rs[4])), [
        'undone',
        'undone',
        'undone',
        'undone',
        'failed',
        'failed',
      ])
    })

    test('Undo on stored objects: changes are undone, undone items return identifiers only (no key, ciphertext or RNG output; Fresh kept)', async () => {
      const name = fresh()
      const id = idIn((await c.batch([createKey(name)]))[0])!
      const extra = fresh()
      const rs = await c.batch(
        [
          onId(Operation.Activate, id),
          onId(Operation.AddAttribute, id, structure(Tag.NewAttribute, [nameAttr(extra)])),
          onId(Operation.Get, id),
          onId(Operation.Encrypt, id, bytes(Tag.Data, Buffer.from('undone plaintext'))),
          { op: Operation.RNGRetrieve, payload: P(int(Tag.DataLength, 32)) },
          onId(Operation.Get, `missing-${fresh()}`),
        ],
        bec(Bec.Undo),
      )
      const U = ResultStatus.OperationUndone
      assert.deepEqual(statuses(rs), [U, U, U, U, U, ResultStatus.OperationFailed])
      assert.equal(rs[5]!.reason, ResultReason.ObjectNotFound)
      // the Get and the Encrypt ran (the key was Active inside the batch) but their output is kept
      for (const r of [rs[2]!, rs[3]!]) {
        assert.equal(idIn(r), id)
        assert.equal(find(r.payload, Tag.SymmetricKey), undefined)
        assert.equal(find(r.payload, Tag.Data), undefined)
        assert.equal(find(r.payload, Tag.IVCounterNonce), undefined)
      }
      assert.equal(rs[4]!.payload, undefined)
      const a = await attrs(id, Tag.State, Tag.Fresh, Tag.Name)
      assert.equal(optionalValue(a, Tag.State, 'Enumeration'), State.PreActive)
      assert.equal(optionalValue(a, Tag.Fresh, 'Boolean'), true)
      assert.deepEqual(
        findAll(a, Tag.Name).map((n) => optionalValue(n, Tag.NameValue, 'TextString')),
        [name],
      )
      assert.deepEqual(await located(extra), [])
    })

    test('Undo with every item succeeding commits them all (ID placeholders across items)', async () => {
      const [a, b] = [fresh(), fresh()]
      const rs = await c.batch(
        [
          createKey(a),
          createKey(b),
          onPlaceholder(Operation.Activate),
          onPlaceholder(Operation.Get),
        ],
        bec(Bec.Undo),
      )
      assert.deepEqual(
        statuses(rs),
        [0, 0, 0, 0].map(() => ResultStatus.Success),
      )
      const [idA, idB] = [idIn(rs[0])!, idIn(rs[1])!]
      assert.equal(idIn(rs[3]), idB)
      assert.ok(find(rs[3]!.payload, Tag.SymmetricKey) !== undefined)
      assert.deepEqual(await located(a), [idA])
      const sb = await attrs(idB, Tag.State, Tag.Fresh)
      assert.equal(optionalValue(sb, Tag.State, 'Enumeration'), State.Active)
      assert.equal(optionalValue(sb, Tag.Fresh, 'Boolean'), false)
      assert.equal(
        optionalValue(await attrs(idA, Tag.State), Tag.State, 'Enumeration'),
        State.PreActive,
      )
      // and they are durable for other connections too
      const other = await f.client('batcher', 2, 1)
      assert.equal((await other.batch([onId(Operation.Get, idA)]))[0]!.status, 0)
    })

    test('Stop keeps the earlier items and cancels the later ones', async () => {
      const [a, b, later] = [fresh(), fresh(), fresh()]
      const rs = await c.batch(batch(a, b, later), bec(Bec.Stop))
      const S = ResultStatus.Success
      const F = ResultStatus.OperationFailed
      assert.deepEqual(statuses(rs), [S, S, S, S, F, F])
      assert.equal(rs[4]!.reason, ResultReason.WrongKeyLifecycleState)
      assert.equal(rs[5]!.reason, ResultReason.OperationCanceledByRequester)
      const [idA, idB] = [idIn(rs[0])!, idIn(rs[2])!]
      assert.deepEqual(await located(a), [idA])
      assert.equal(
        optionalValue(await attrs(idB, Tag.State), Tag.State, 'Enumeration'),
        State.Active,
      )
      assert.deepEqual(await located(later), [])
      assert.deepEqual(auditOf(requestIdOf(rs[4])), [
        'success',
        'success',
        'success',
        'success',
        'failed',
        'failed',
      ])
    })

    test('Continue runs the items after the failure', async () => {
      const [a, b, later] = [fresh(), fresh(), fresh()]
      const rs = await c.batch(batch(a, b, later), bec(Bec.Continue))
      const S = ResultStatus.Success
      assert.deepEqual(statuses(rs), [S, S, S, S, ResultStatus.OperationFailed, S])
      assert.deepEqual(await located(a), [idIn(rs[0])!])
      assert.deepEqual(await located(b), [idIn(rs[2])!])
      assert.deepEqual(await located(later), [idIn(rs[5])!])
    })

    test('Query Capabilities advertises Batch Undo and Continue (1.4 and 2.1), not before 1.3', async () => {
      for (const cl of [c, await f.client('batcher', 1, 4)]) {
        const r = await cl.call(
          Operation.Query,
          P(enumeration(Tag.QueryFunction, QueryFunction.QueryCapabilities)),
        )
        const cap = find(r, Tag.CapabilityInformation)
        assert.equal(optionalValue(cap, Tag.BatchUndoCapability, 'Boolean'), true)
        assert.equal(optionalValue(cap, Tag.BatchContinueCapability, 'Boolean'), true)
        assert.equal(optionalValue(cap, Tag.AsynchronousCapability, 'Boolean'), false)
      }
      const old = await f.client('batcher', 1, 2)
      const r = await old.call(
        Operation.Query,
        P(enumeration(Tag.QueryFunction, QueryFunction.QueryCapabilities)),
      )
      assert.equal(find(r, Tag.CapabilityInformation), undefined)
    })
  })
}
