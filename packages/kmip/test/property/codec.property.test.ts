import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  decodeTtlv,
  encodeTtlv,
  KmipError,
  Tag,
  type TtlvItem,
  ttlvFromJson,
  ttlvToJson,
  ttlvFromXml,
  ttlvToXml,
  parseRequestMessage,
  parseResponseMessage,
  parseAttributes,
} from '../../src/index.js'

const tags = Object.values(Tag)
const tagArb = fc.constantFrom(...tags)

const plain = <T extends object>(a: fc.Arbitrary<T>): fc.Arbitrary<T> => a.map((x) => ({ ...x }))
const leaf: fc.Arbitrary<TtlvItem> = fc.oneof(
  plain(
    fc.record({
      tag: tagArb,
      type: fc.constant('Integer' as const),
      value: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    }),
  ),
  plain(
    fc.record({
      tag: tagArb,
      type: fc.constant('LongInteger' as const),
      value: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    }),
  ),
  plain(
    fc.record({
      tag: tagArb,
      type: fc.constant('BigInteger' as const),
      value: fc.bigInt({ min: -(2n ** 300n), max: 2n ** 300n }),
    }),
  ),
  plain(
    fc.record({
      tag: tagArb,
      type: fc.constant('Enumeration' as const),
      value: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    }),
  ),
  plain(fc.record({ tag: tagArb, type: fc.constant('Boolean' as const), value: fc.boolean() })),
  plain(
    fc.record({
      tag: tagArb,
      type: fc.constant('TextString' as const),
      value: fc.string({ unit: 'grapheme', maxLength: 40 }),
    }),
  ),
  plain(
    fc.record({
      tag: tagArb,
      type: fc.constant('ByteString' as const),
      value: fc.uint8Array({ maxLength: 40 }),
    }),
  ),
  plain(
    fc.record({
      tag: tagArb,
      type: fc.constant('DateTime' as const),
      value: fc.bigInt({ min: 0n, max: 2n ** 40n }),
    }),
  ),
  plain(
    fc.record({
      tag: tagArb,
      type: fc.constant('Interval' as const),
      value: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    }),
  ),
  plain(
    fc.record({
      tag: tagArb,
      type: fc.constant('DateTimeExtended' as const),
      value: fc.bigInt({ min: 0n, max: 2n ** 52n }),
    }),
  ),
)
const tree: fc.Arbitrary<TtlvItem> = fc.letrec<{ node: TtlvItem }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    plain(
      fc.record({
        tag: tagArb,
        type: fc.constant('Structure' as const),
        value: fc.array(tie('node'), { maxLength: 5 }),
      }),
    ),
  ),
})).node

test('encode → decode is the identity on random trees (and JSON too)', () => {
  fc.assert(
    fc.property(tree, (t) => {
      const b = encodeTtlv(t)
      assert.deepEqual(decodeTtlv(b, { maxDepth: 1000 }), t)
      assert.deepEqual(ttlvFromJson(JSON.stringify(ttlvToJson(t)), { maxDepth: 1000 }), t)
    }),
    { numRuns: 300 },
  )
})

function onlyKmipErrors(bytes: Uint8Array): void {
  try {
    decodeTtlv(bytes)
  } catch (e) {
    if (!(e instanceof KmipError)) throw e
    assert.match(e.code, /^ERR_TTLV_/)
  }
}

test('random bytes into decodeTtlv only ever throw KmipError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (b) => onlyKmipErrors(b)),
    { numRuns: 2000 },
  )
})

test('mutated valid messages into decodeTtlv only ever throw KmipError', () => {
  fc.assert(
    fc.property(
      tree,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 6,
      }),
      fc.nat(),
      (t, muts, cut) => {
        const b = encodeTtlv(t).slice()
        for (const [pos, v] of muts) if (b.length > 0) b[pos % b.length] = v
        onlyKmipErrors(b)
        onlyKmipErrors(b.subarray(0, b.length > 0 ? cut % b.length : 0))
      },
    ),
    { numRuns: 1000 },
  )
})

function onlyKmipErrorsFrom(f: () => unknown): void {
  try {
    f()
  } catch (e) {
    if (!(e instanceof KmipError)) throw e
  }
}

test('random and mutated XML/JSON documents only ever throw KmipError', () => {
  fc.assert(
    fc.property(tree, fc.nat(), fc.string({ maxLength: 3 }), (t, pos, junk) => {
      const xml = ttlvToXml(t)
      const p = pos % (xml.length + 1)
      onlyKmipErrorsFrom(() => ttlvFromXml(xml.slice(0, p) + junk + xml.slice(p)))
      const json = JSON.stringify(ttlvToJson(t))
      const q = pos % (json.length + 1)
      onlyKmipErrorsFrom(() => ttlvFromJson(json.slice(0, q) + junk + json.slice(q)))
    }),
    { numRuns: 500 },
  )
  fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (s) => onlyKmipErrorsFrom(() => ttlvFromXml(s))),
    { numRuns: 500 },
  )
  fc.assert(
    fc.property(fc.json(), (s) => onlyKmipErrorsFrom(() => ttlvFromJson(s))),
    { numRuns: 500 },
  )
})

test('message and attribute parsers on arbitrary trees only throw KmipError', () => {
  const msgTags = fc.constantFrom(
    Tag.RequestMessage,
    Tag.ResponseMessage,
    Tag.RequestHeader,
    Tag.BatchItem,
    Tag.ProtocolVersion,
    Tag.ProtocolVersionMajor,
    Tag.BatchCount,
    Tag.Operation,
    Tag.ResultStatus,
    Tag.TemplateAttribute,
    Tag.Attribute,
    Tag.AttributeName,
    Tag.AttributeValue,
    Tag.Attributes,
    Tag.VendorIdentification,
    Tag.TimeStamp,
    Tag.UniqueBatchItemID,
  )
  const node: fc.Arbitrary<TtlvItem> = fc.letrec<{ n: TtlvItem }>((tie) => ({
    n: fc.oneof(
      { depthSize: 'small' },
      plain(
        fc.record({
          tag: msgTags,
          type: fc.constant('Integer' as const),
          value: fc.integer({ min: -5, max: 5 }),
        }),
      ),
      plain(
        fc.record({
          tag: msgTags,
          type: fc.constant('Enumeration' as const),
          value: fc.integer({ min: 0, max: 5 }),
        }),
      ),
      plain(
        fc.record({
          tag: msgTags,
          type: fc.constant('TextString' as const),
          value: fc.constantFrom('State', 'x-A', 'Name', ''),
        }),
      ),
      plain(
        fc.record({
          tag: msgTags,
          type: fc.constant('Structure' as const),
          value: fc.array(tie('n'), { maxLength: 4 }),
        }),
      ),
    ),
  })).n
  fc.assert(
    fc.property(node, (t) => {
      onlyKmipErrorsFrom(() => parseRequestMessage(t))
      onlyKmipErrorsFrom(() => parseResponseMessage(t))
      onlyKmipErrorsFrom(() => parseAttributes(t))
    }),
    { numRuns: 2000 },
  )
})
