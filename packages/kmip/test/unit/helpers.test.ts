import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  decodeTtlv,
  encodeTtlv,
  fromJsonItem,
  toJsonItem,
  sameItem,
  retag,
  find,
  findAll,
  optionalValue,
  requiredValue,
  structure,
  int,
  text,
  bytes,
  long,
  big,
  enumeration,
  bool,
  date,
  Tag,
  KmipError,
} from '../../src/index.js'
import type { TtlvItem } from '../../src/index.js'

const sample = structure(Tag.Attribute, [
  text(Tag.AttributeName, 'Name'),
  structure(Tag.AttributeValue, [text(Tag.NameValue, 'k1'), enumeration(Tag.NameType, 1)]),
  bytes(Tag.KeyMaterial, new Uint8Array([0, 1, 0xff])),
  long(Tag.UsageLimitsTotal, -5n),
  big(Tag.D, 1n << 100n),
  bool(Tag.Sensitive, true),
  date(Tag.ActivationDate, 1_700_000_000n),
  int(Tag.CryptographicLength, 256),
])

test('compact JSON form round-trips every type and survives JSON.stringify', () => {
  const back = fromJsonItem(JSON.parse(JSON.stringify(toJsonItem(sample))))
  assert.deepEqual(back, sample)
  assert.ok(sameItem(back, sample))
})

test('compact JSON form refuses damaged input with ERR_KMIP_JSON', () => {
  const bad: unknown[] = [
    null,
    [1, 'TextString'],
    [-1, 'Integer', 1],
    [0x420001, 'Nope', 1],
    [0x420001, 'Integer', '1'],
    [0x420001, 'LongInteger', '1.5'],
    [0x420001, 'ByteString', 'zz'],
    [0x420001, 'Boolean', 1],
    [0x420001, 'Structure', {}],
  ]
  for (const b of bad) {
    assert.throws(
      () => fromJsonItem(b),
      (e: unknown) => e instanceof KmipError && e.code === 'ERR_KMIP_JSON',
    )
  }
  let deep: unknown = [0x420001, 'Integer', 1]
  for (let i = 0; i < 100; i++) deep = [0x420008, 'Structure', [deep]]
  assert.throws(() => fromJsonItem(deep), /nesting too deep/)
})

test('sameItem compares values, not the outer tag; retag moves a value to another tag', () => {
  const a = text(Tag.AttributeValue, 'x')
  const b = retag(a, Tag.NameValue)
  assert.equal(b.tag, Tag.NameValue)
  assert.ok(sameItem(a, b))
  assert.ok(!sameItem(a, text(Tag.AttributeValue, 'y')))
  assert.ok(!sameItem(a, bytes(Tag.AttributeValue, new Uint8Array([0x78]))))
  const st = structure(Tag.Name, [text(Tag.NameValue, 'k'), enumeration(Tag.NameType, 1)])
  assert.ok(
    sameItem(
      st,
      structure(Tag.AttributeValue, [text(Tag.NameValue, 'k'), enumeration(Tag.NameType, 1)]),
    ),
  )
  assert.ok(
    !sameItem(st, structure(Tag.Name, [text(Tag.ObjectGroup, 'k'), enumeration(Tag.NameType, 1)])),
  )
  assert.ok(!sameItem(st, structure(Tag.Name, [text(Tag.NameValue, 'k')])))
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 16 }), fc.uint8Array({ maxLength: 16 }), (x, y) => {
      const same = x.length === y.length && x.every((v, i) => v === y[i])
      assert.equal(sameItem(bytes(1, x), bytes(2, y)), same)
    }),
    { numRuns: 300, seed: 7 },
  )
})

test('readers accept an absent parent; structure() drops undefined children', () => {
  assert.equal(find(undefined, Tag.Name), undefined)
  assert.deepEqual(findAll(undefined, Tag.Name), [])
  assert.equal(optionalValue(undefined, Tag.Name, 'TextString'), undefined)
  assert.throws(
    () => requiredValue(undefined, Tag.UniqueIdentifier, 'TextString'),
    (e: unknown) => e instanceof KmipError && e.code === 'ERR_KMIP_MISSING_FIELD',
  )
  const st: TtlvItem = structure(Tag.RequestPayload, [
    undefined,
    int(Tag.CryptographicLength, 1),
    undefined,
  ])
  assert.equal(st.type === 'Structure' && st.value.length, 1)
})

test('decoded Byte Strings are copies: zeroing the input buffer leaves them intact', () => {
  const wire = Buffer.from(encodeTtlv(bytes(Tag.KeyMaterial, new Uint8Array([9, 8, 7]))))
  const item = decodeTtlv(wire)
  wire.fill(0)
  assert.equal(item.type, 'ByteString')
  assert.deepEqual(item.value, new Uint8Array([9, 8, 7]))
  assert.ok(!Buffer.isBuffer(item.value))
})
