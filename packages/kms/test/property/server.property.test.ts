/**
 * Issue 11, item 8: the server's message handler under random and mutated TTLV (fast-check).
 * Whatever arrives — random item trees, request-shaped messages with random payloads for every
 * operation, valid requests with bit flips, truncations, changed lengths, tags and types, deep
 * nesting, duplicated or removed items, huge lengths — `handleMessage` answers, within a bound,
 * with a well-formed Response Message: it decodes with @ward/kmip's strict decoder and message
 * parser, its Batch Count matches its batch items, every batch item has a Result Status (and a
 * failed one a Result Reason). It never throws and never hangs. A smaller run goes over a real
 * TLS connection to a running server: each case gets a well-formed answer or a closed connection,
 * and a well-formed client keeps being served afterwards.
 *
 * The seeds are fixed (and with the run counts in the test names): a failure prints the
 * counterexample and the path to replay it with `{ seed, path }` in fc.assert's options.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import fc from 'fast-check'
import { Secret, createLogger } from '@ward/core'
import {
  BatchErrorContinuationOption,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  KeyFormatType,
  ObjectType,
  Operation,
  QueryFunction,
  ResultStatus,
  Tag,
  bytes,
  decodeTtlv,
  enumeration,
  encodeTtlv,
  findAll,
  int,
  parseResponseMessage,
  structure,
} from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'
import { randomBytes } from 'node:crypto'
import { Barrier } from '../../src/barrier/barrier.js'
import { operations } from '../../src/operations/registry.js'
import { handleMessage } from '../../src/server/dispatch.js'
import type { DispatchDeps } from '../../src/server/dispatch.js'
import { createRuntime } from '../../src/server/runtime.js'
import type { KmsRuntime } from '../../src/server/runtime.js'
import { openSqliteStore } from '../../src/storage/sqlite.js'
import type { Store } from '../../src/storage/store.js'
import { KmipTestClient } from '../../src/testing.js'
import { P, attr1, createAes, encodeRequest, idOf, startFixture, uid } from '../helpers.js'
import type { Fixture } from '../helpers.js'

const SEED = 1111
/** Cases per property (in the test names, with the seeds, so that a failure reproduces). */
const RUNS = { mutated: 2000, requestShaped: 2000, random: 500 }
const TLS_SEED = 2222
const TLS_RUNS = 40
/** Bound on one case: far above a slow answer on a loaded machine, far below a hang. */
const CASE_MS = 10_000

// ---- valid request messages (the material the mutations start from) ----

interface Item {
  readonly op: number
  readonly payload: TtlvItem
  readonly id?: Uint8Array
}

function message(
  version: readonly [number, number],
  items: readonly Item[],
  header: TtlvItem[] = [],
): Uint8Array {
  return encodeRequest(
    items.map((it) =>
      structure(Tag.BatchItem, [
        enumeration(Tag.Operation, it.op),
        it.id !== undefined ? bytes(Tag.UniqueBatchItemID, it.id) : undefined,
        it.payload,
      ]),
    ),
    { version, header },
  )
}

const usage = CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt
const create14 = createAes({ extra: [attr1('Cryptographic Usage Mask', int(0, usage))] })
const create21 = P(
  enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
  structure(Tag.Attributes, [
    enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
    int(Tag.CryptographicLength, 256),
    int(Tag.CryptographicUsageMask, usage),
  ]),
)

/** Valid requests over the operations and both protocol lines; `key` is an existing AES key. */
function validRequests(key: string): Uint8Array[] {
  const id = (n: number): Uint8Array => new Uint8Array([n, n, n, n])
  return [
    message([1, 4], [{ op: Operation.Create, payload: create14 }]),
    message([2, 1], [{ op: Operation.Create, payload: create21 }]),
    message(
      [2, 1],
      [
        {
          op: Operation.Query,
          payload: P(enumeration(Tag.QueryFunction, QueryFunction.QueryOperations)),
          id: id(1),
        },
        { op: Operation.DiscoverVersions, payload: P(), id: id(2) },
      ],
    ),
    message([1, 0], [{ op: Operation.DiscoverVersions, payload: P() }]),
    message([1, 4], [{ op: Operation.Get, payload: P(uid(key)) }]),
    message([1, 4], [{ op: Operation.GetAttributes, payload: P(uid(key)) }]),
    message(
      [2, 1],
      [{ op: Operation.Encrypt, payload: P(uid(key), bytes(Tag.Data, Buffer.from('hello'))) }],
    ),
    message(
      [2, 1],
      [
        {
          op: Operation.Locate,
          payload: P(
            int(Tag.MaximumItems, 5),
            structure(Tag.Attributes, [enumeration(Tag.ObjectType, ObjectType.SymmetricKey)]),
          ),
        },
      ],
    ),
    message(
      [2, 1],
      [
        {
          op: Operation.Register,
          payload: P(
            enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
            structure(Tag.Attributes, [int(Tag.CryptographicUsageMask, usage)]),
            structure(Tag.SymmetricKey, [
              structure(Tag.KeyBlock, [
                enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
                structure(Tag.KeyValue, [bytes(Tag.KeyMaterial, new Uint8Array(16).fill(7))]),
                enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
                int(Tag.CryptographicLength, 128),
              ]),
            ]),
          ),
        },
      ],
    ),
    message([2, 1], [{ op: Operation.RNGRetrieve, payload: P(int(Tag.DataLength, 32)) }]),
    // a batch with ID placeholders, under Undo
    message(
      [1, 4],
      [
        { op: Operation.Create, payload: create14, id: id(1) },
        { op: Operation.Activate, payload: P(), id: id(2) },
        { op: Operation.GetAttributes, payload: P(), id: id(3) },
      ],
      [enumeration(Tag.BatchErrorContinuationOption, BatchErrorContinuationOption.Undo)],
    ),
    message([1, 4], [{ op: Operation.Destroy, payload: P(uid('no-such-object')) }]),
  ].map((m) => Buffer.from(m))
}

// ---- byte-level view of a TTLV message: where the item headers are ----

const pad8 = (n: number): number => n + ((8 - (n % 8)) % 8)

interface Header {
  readonly at: number
  /** header offsets of the enclosing structures, outermost first */
  readonly parents: readonly number[]
}

/** Item headers of `b` as far as they parse (garbage ends the walk, never loops). */
function headers(b: Buffer): Header[] {
  const out: Header[] = []
  const walk = (start: number, end: number, parents: number[]): void => {
    let at = start
    while (at + 8 <= end && out.length < 10_000) {
      out.push({ at, parents })
      const len = b.readUInt32BE(at + 4)
      if (b[at + 3] === 0x01) walk(at + 8, Math.min(end, at + 8 + len), [...parents, at])
      at += 8 + pad8(len)
    }
  }
  walk(0, b.length, [])
  return out
}

/** Add `delta` to the length of every enclosing structure (their headers come before the edit). */
function adjust(b: Buffer, parents: readonly number[], delta: number): Buffer {
  for (const p of parents) b.writeUInt32BE((b.readUInt32BE(p + 4) + delta) >>> 0, p + 4)
  return b
}

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'truncate-framed'; at: number }
  | { kind: 'length'; item: number; value: number }
  | { kind: 'length-delta'; item: number; delta: number }
  | { kind: 'tag'; item: number; tag: number }
  | { kind: 'type'; item: number; type: number }
  | { kind: 'nest'; item: number; depth: number; tag: number }
  | { kind: 'duplicate'; item: number; times: number }
  | { kind: 'remove'; item: number }
  | { kind: 'append'; bytes: Uint8Array }

/** Apply one mutation to a copy of `wire`. */
function mutate(wire: Buffer, m: Mutation): Buffer {
  const b = Buffer.from(wire)
  if (b.length === 0) return b
  const hs = headers(b)
  const h = 'item' in m && hs.length > 0 ? hs[m.item % hs.length]! : undefined
  const size = h === undefined ? 0 : Math.min(8 + pad8(b.readUInt32BE(h.at + 4)), b.length - h.at)
  switch (m.kind) {
    case 'flip':
      b[m.at % b.length]! ^= 1 << m.bit
      return b
    case 'set':
      b[m.at % b.length] = m.value
      return b
    case 'truncate':
      return b.subarray(0, m.at % b.length)
    case 'truncate-framed': {
      const cut = Buffer.from(b.subarray(0, 8 + (m.at % Math.max(1, b.length - 8))))
      if (cut.length >= 8) cut.writeUInt32BE(cut.length - 8, 4)
      return cut
    }
    case 'length':
      if (h !== undefined) b.writeUInt32BE(m.value >>> 0, h.at + 4)
      return b
    case 'length-delta':
      if (h !== undefined) b.writeUInt32BE((b.readUInt32BE(h.at + 4) + m.delta) >>> 0, h.at + 4)
      return b
    case 'tag':
      if (h !== undefined) b.writeUIntBE(m.tag, h.at, 3)
      return b
    case 'type':
      if (h !== undefined) b[h.at + 3] = m.type
      return b
    case 'nest': {
      if (h === undefined) return b
      const wrap = Buffer.alloc(8 * m.depth)
      for (let k = 0; k < m.depth; k++) {
        wrap.writeUIntBE(m.tag, 8 * k, 3)
        wrap[8 * k + 3] = 0x01
        wrap.writeUInt32BE(size + 8 * (m.depth - 1 - k), 8 * k + 4)
      }
      const out = Buffer.concat([b.subarray(0, h.at), wrap, b.subarray(h.at)])
      return adjust(out, h.parents, wrap.length)
    }
    case 'duplicate': {
      if (h === undefined) return b
      const copy = b.subarray(h.at, h.at + size)
      const copies = Array.from({ length: m.times }, () => copy)
      const out = Buffer.concat([b.subarray(0, h.at + size), ...copies, b.subarray(h.at + size)])
      return adjust(out, h.parents, size * m.times)
    }
    case 'remove': {
      if (h === undefined) return b
      const out = Buffer.concat([b.subarray(0, h.at), b.subarray(h.at + size)])
      return adjust(out, h.parents, -size)
    }
    case 'append':
      return Buffer.concat([b, m.bytes])
  }
}

// ---- arbitraries ----

const tagValues = Object.values(Tag) as number[]
const anyTag = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...tagValues) },
  { weight: 1, arbitrary: fc.integer({ min: 0x420000, max: 0x4201ff }) },
  { weight: 1, arbitrary: fc.integer({ min: 0x540000, max: 0x540010 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffff }) },
)
const hugeOrOdd = fc.oneof(
  fc.constantFrom(0, 1, 3, 7, 8, 9, 0xff, 0x7fffffff, 0x80000000, 0xfffffff8, 0xffffffff),
  fc.integer({ min: 0, max: 0xffff }),
  fc.integer({ min: 0, max: 0xffffffff }),
)

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip'), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set'), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate'), at: fc.nat() }),
  fc.record({ kind: fc.constant('truncate-framed'), at: fc.nat() }),
  fc.record({ kind: fc.constant('length'), item: fc.nat(), value: hugeOrOdd }),
  fc.record({
    kind: fc.constant('length-delta'),
    item: fc.nat(),
    delta: fc.integer({ min: -24, max: 24 }),
  }),
  fc.record({ kind: fc.constant('tag'), item: fc.nat(), tag: anyTag }),
  fc.record({
    kind: fc.constant('type'),
    item: fc.nat(),
    type: fc.oneof(fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 255 })),
  }),
  fc.record({
    kind: fc.constant('nest'),
    item: fc.nat(),
    depth: fc.oneof(fc.integer({ min: 1, max: 70 }), fc.constantFrom(200, 1000)),
    tag: anyTag,
  }),
  fc.record({
    kind: fc.constant('duplicate'),
    item: fc.nat(),
    times: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record({ kind: fc.constant('remove'), item: fc.nat() }),
  fc.record({ kind: fc.constant('append'), bytes: fc.uint8Array({ minLength: 1, maxLength: 24 }) }),
) as fc.Arbitrary<Mutation>

/** A leaf of any type, small values. */
const leaf = (tag: fc.Arbitrary<number>): fc.Arbitrary<TtlvItem> =>
  fc.oneof(
    fc.record({
      tag,
      type: fc.constant('Integer' as const),
      value: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    }),
    fc.record({
      tag,
      type: fc.constant('LongInteger' as const),
      value: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    }),
    fc.record({
      tag,
      type: fc.constant('BigInteger' as const),
      value: fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }),
    }),
    fc.record({
      tag,
      type: fc.constant('Enumeration' as const),
      value: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 2 ** 32 - 1 })),
    }),
    fc.record({ tag, type: fc.constant('Boolean' as const), value: fc.boolean() }),
    fc.record({
      tag,
      type: fc.constant('TextString' as const),
      value: fc.string({ maxLength: 24 }),
    }),
    fc.record({
      tag,
      type: fc.constant('ByteString' as const),
      value: fc.uint8Array({ maxLength: 40 }),
    }),
    fc.record({
      tag,
      type: fc.constant('DateTime' as const),
      value: fc.bigInt({ min: 0n, max: 2n ** 40n }),
    }),
    fc.record({
      tag,
      type: fc.constant('Interval' as const),
      value: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    }),
    fc.record({
      tag,
      type: fc.constant('DateTimeExtended' as const),
      value: fc.bigInt({ min: 0n, max: 2n ** 52n }),
    }),
  ) as fc.Arbitrary<TtlvItem>

/** A random item tree; structures nest a few levels. */
const treeOf = (tag: fc.Arbitrary<number>): fc.Arbitrary<TtlvItem> =>
  fc.letrec<{ node: TtlvItem }>((tie) => ({
    node: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf(tag),
      fc.record({
        tag,
        type: fc.constant('Structure' as const),
        value: fc.array(tie('node'), { maxLength: 5 }),
      }) as fc.Arbitrary<TtlvItem>,
    ),
  })).node
const tree = treeOf(anyTag)
const knownTag = fc.constantFrom(...tagValues)

const operationCodes = Object.values(Operation) as number[]
const VERSIONS = [
  [1, 0],
  [1, 1],
  [1, 2],
  [1, 3],
  [1, 4],
  [2, 0],
  [2, 1],
] as const

/**
 * Request-shaped: a header (mostly a supported version and the right Batch Count) and items of any
 * operation whose payloads mix real fields (taken from the valid requests: object types,
 * attributes, the existing key's id, data, key blocks) with random items of known tags, so that
 * most cases get past the decoder and into the operations.
 */
const requestShaped = (m: Material): fc.Arbitrary<Uint8Array> => {
  const { valid, supported } = m
  const fields = valid.flatMap((w) => {
    const msg = decodeTtlv(w)
    return msg.type !== 'Structure'
      ? []
      : msg.value.flatMap((b) =>
          b.tag === Tag.BatchItem && b.type === 'Structure'
            ? b.value.flatMap((p) =>
                p.tag === Tag.RequestPayload && p.type === 'Structure' ? p.value : [],
              )
            : [],
        )
  })
  return fc
    .record({
      version: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...VERSIONS) },
        {
          weight: 1,
          arbitrary: fc.tuple(fc.integer({ min: -1, max: 5 }), fc.integer({ min: -1, max: 9 })),
        },
      ),
      count: fc.oneof(
        { weight: 6, arbitrary: fc.constant(undefined) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: 4 }) },
      ),
      headerExtra: fc.array(leaf(knownTag), { maxLength: 2 }),
      items: fc.array(
        fc.record({
          op: fc.oneof(
            { weight: 6, arbitrary: fc.constantFrom(...supported) },
            { weight: 2, arbitrary: fc.constantFrom(...operationCodes) },
            { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
          ),
          id: fc.option(fc.uint8Array({ minLength: 1, maxLength: 8 }), { nil: undefined, freq: 6 }),
          payload: fc.array(
            fc.oneof(
              { weight: 3, arbitrary: fc.constantFrom(...fields) },
              { weight: 1, arbitrary: leaf(knownTag) },
              { weight: 1, arbitrary: treeOf(knownTag) },
            ),
            { maxLength: 4 },
          ),
        }),
        { minLength: 1, maxLength: 3 },
      ),
    })
    .map((r) =>
      encodeTtlv(
        structure(Tag.RequestMessage, [
          structure(Tag.RequestHeader, [
            structure(Tag.ProtocolVersion, [
              int(Tag.ProtocolVersionMajor, r.version[0]),
              int(Tag.ProtocolVersionMinor, r.version[1]),
            ]),
            ...r.headerExtra,
            int(Tag.BatchCount, r.count ?? r.items.length),
          ]),
          ...r.items.map((it) =>
            structure(Tag.BatchItem, [
              enumeration(Tag.Operation, it.op),
              it.id !== undefined ? bytes(Tag.UniqueBatchItemID, it.id) : undefined,
              structure(Tag.RequestPayload, it.payload),
            ]),
          ),
        ]),
      ),
    )
}

/** Random TTLV: a random tree (under a Request Message tag or any tag), or raw bytes with a TTLV-like header. */
const randomTtlv: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.array(tree, { maxLength: 4 }).map((c) => encodeTtlv(structure(Tag.RequestMessage, c))),
  tree.map((t) => encodeTtlv(t)),
  fc.uint8Array({ minLength: 0, maxLength: 300 }).map((b) => {
    const x = Buffer.from(b)
    if (x.length >= 8) {
      x.writeUIntBE(Tag.RequestMessage, 0, 3)
      x[3] = 0x01
      x.writeUInt32BE(x.length - 8, 4)
    }
    return x
  }),
)

/** What the arbitraries start from: valid requests, and the operations the server supports. */
interface Material {
  readonly valid: readonly Uint8Array[]
  readonly supported: readonly number[]
}

/** The valid requests (over an existing key) and the operations Query reports. */
function material(key: string, query: TtlvItem | undefined): Material {
  const supported = findAll(query, Tag.Operation).flatMap((o) =>
    o.type === 'Enumeration' ? [o.value] : [],
  )
  assert.ok(supported.length > 10, 'Query lists the supported operations')
  return { valid: validRequests(key), supported }
}

/** Valid requests with one to four mutations each. */
const mutated = ({ valid }: Material): fc.Arbitrary<Uint8Array> =>
  fc
    .tuple(
      fc.integer({ min: 0, max: valid.length - 1 }),
      fc.array<Mutation>(mutation, { minLength: 1, maxLength: 4 }),
    )
    .map(
      ([i, ms]) => ms.reduce<Buffer>((w, m) => mutate(w, m), Buffer.from(valid[i]!)) as Uint8Array,
    )

/** All three kinds, mutations weighing most (the TLS run). */
const anyWire = (m: Material): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    { weight: 4, arbitrary: mutated(m) },
    { weight: 2, arbitrary: requestShaped(m) },
    { weight: 1, arbitrary: randomTtlv },
  )

// ---- the property ----

const SUPPORTED = new Set(['1.0', '1.1', '1.2', '1.3', '1.4', '2.0', '2.1'])

/** A well-formed Response Message, by @ward/kmip's strict decoder and its message parser. */
function assertWellFormed(res: Uint8Array): void {
  const m = parseResponseMessage(decodeTtlv(res))
  const v = m.header.protocolVersion
  assert.ok(SUPPORTED.has(`${v.major}.${v.minor}`), `answered in KMIP ${v.major}.${v.minor}`)
  assert.ok(m.items.length >= 1, 'a response has at least one batch item')
  for (const it of m.items) {
    assert.ok(
      (Object.values(ResultStatus) as number[]).includes(it.resultStatus),
      `Result Status ${it.resultStatus}`,
    )
    if (it.resultStatus === ResultStatus.OperationFailed)
      assert.notEqual(it.resultReason, undefined, 'a failed batch item has a Result Reason')
  }
}

/** `p`, or a rejection naming a hang after `ms`. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

const silent = createLogger('kms', {
  level: 'fatal',
  destination: new Writable({ write: (_c, _e, cb) => cb() }) as never,
})

describe('the message handler under random and mutated TTLV', () => {
  let dir: string
  let store: Store
  let barrier: Barrier
  let runtime: KmsRuntime
  let deps: DispatchDeps
  let m: Material
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ward-kms-property-'))
    store = await openSqliteStore(join(dir, 'kms.db'))
    barrier = new Barrier(new Secret(randomBytes(32)))
    runtime = createRuntime({ operations })
    deps = {
      store,
      barrier,
      runtime,
      logger: silent,
      audit: { record: () => undefined, flush: () => undefined, close: async () => undefined },
      maxResponseBytes: 1 << 20,
    }
    const made = parseResponseMessage(
      decodeTtlv(
        await handleMessage(
          deps,
          'prop',
          message(
            [2, 1],
            [
              { op: Operation.Create, payload: create21, id: new Uint8Array([1]) },
              {
                op: Operation.Query,
                payload: P(enumeration(Tag.QueryFunction, QueryFunction.QueryOperations)),
                id: new Uint8Array([2]),
              },
            ],
          ),
        ),
      ),
    )
    m = material(idOf(made.items[0]!.payload), made.items[1]!.payload)
    for (const v of m.valid) assertWellFormed(await handleMessage(deps, 'prop', v))
    // the structural mutations keep the enclosing lengths right: the result still decodes
    const get = Buffer.from(m.valid[4]!)
    for (const mu of [
      { kind: 'nest', item: 5, depth: 3, tag: Tag.RequestPayload },
      { kind: 'duplicate', item: 6, times: 2 },
      { kind: 'remove', item: 5 },
    ] as const) {
      const out = mutate(get, mu)
      assert.notDeepEqual(out, get, mu.kind)
      assert.equal(decodeTtlv(out).tag, Tag.RequestMessage, mu.kind)
    }
  })
  after(async () => {
    barrier.dispose()
    runtime.close()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const property = (wires: fc.Arbitrary<Uint8Array>, numRuns: number, seed: number) =>
    fc.assert(
      fc.asyncProperty(wires, async (wire) => {
        const res = await within(handleMessage(deps, 'prop', wire), CASE_MS, 'handleMessage')
        assertWellFormed(res)
      }),
      { numRuns, seed, endOnFailure: true },
    )

  test(
    `${RUNS.mutated} mutations of valid requests (fast-check seed ${SEED}): bit flips, truncations, lengths, tags, types, nesting, duplicates, removals`,
    { timeout: 300_000 },
    () => property(mutated(m), RUNS.mutated, SEED),
  )

  test(
    `${RUNS.requestShaped} request-shaped messages with random payloads for every operation (fast-check seed ${SEED + 1})`,
    { timeout: 300_000 },
    () => property(requestShaped(m), RUNS.requestShaped, SEED + 1),
  )

  test(
    `${RUNS.random} random TTLV trees and byte strings (fast-check seed ${SEED + 2})`,
    { timeout: 300_000 },
    () => property(randomTtlv, RUNS.random, SEED + 2),
  )
})

describe('a running server under random and mutated TTLV over TLS', () => {
  let f: Fixture
  let client: KmipTestClient
  let m: Material
  before(async () => {
    // a small largest message and read timeout: a frame that claims more than it holds is closed
    // within a second, not after the default 10 s plus 1 s per claimed MiB
    f = await startFixture({
      maxMessageBytes: 64 << 10,
      readTimeoutMs: 1000,
      idleTimeoutMs: 120_000,
    })
    client = await f.client('well-formed', 2, 1)
    const key = idOf(await client.call(Operation.Create, create21))
    m = material(
      key,
      await client.call(
        Operation.Query,
        P(enumeration(Tag.QueryFunction, QueryFunction.QueryOperations)),
      ),
    )
  })
  after(async () => {
    await f.close()
  })

  /** Send `wire` on a fresh connection: the answer, or 'closed'. */
  async function probe(wire: Uint8Array): Promise<Uint8Array | 'closed'> {
    const c = await KmipTestClient.connect(f.server.port, await f.tls('mallory'))
    try {
      return await within(c.sendRaw(wire), CASE_MS, 'the server')
    } catch (e) {
      if (c.closed) return 'closed'
      throw e
    } finally {
      c.close()
    }
  }

  test(
    `${TLS_RUNS} random and mutated messages over TLS (fast-check seed ${TLS_SEED}): a well-formed answer or a closed connection, and the server keeps serving`,
    { timeout: 300_000 },
    async () => {
      let closed = 0
      await fc.assert(
        fc.asyncProperty(
          anyWire(m).filter((w) => w.length > 0),
          async (wire) => {
            const r = await probe(wire)
            if (r === 'closed') closed++
            else assertWellFormed(r)
          },
        ),
        { numRuns: TLS_RUNS, seed: TLS_SEED, endOnFailure: true },
      )
      assert.ok(closed < TLS_RUNS, 'some cases were answered, not all closed')
      // the client connected before the run is still served, and so is a new one
      const q = await client.call(
        Operation.Query,
        P(enumeration(Tag.QueryFunction, QueryFunction.QueryOperations)),
      )
      assert.ok(q !== undefined)
      const fresh = await f.client('after-the-run', 1, 4)
      assert.match(idOf(await fresh.call(Operation.Create, create14)), /\S/)
    },
  )
})
