import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { decodeTtlv, encodeTtlv } from '../../src/wire/ttlv.js'
import type { TtlvItem } from '../../src/wire/ttlv.js'
import { Tag } from '../../src/wire/tags.js'

test('TTLV: KMIP 1.4 §9.1.2 example encodings', () => {
  // Examples from the spec (Integer 8, Long 123456789000000000, Text "Hello World", Bytes 010203, Boolean true)
  const ex: [TtlvItem, string][] = [
    [{ tag: 0x420020, type: 'Integer', value: 8 }, '42002002000000040000000800000000'],
    [
      { tag: 0x420020, type: 'LongInteger', value: 123456789000000000n },
      '420020030000000801b69b4ba5749200',
    ],
    [
      { tag: 0x420020, type: 'TextString', value: 'Hello World' },
      '420020070000000b48656c6c6f20576f726c640000000000',
    ],
    [
      { tag: 0x420020, type: 'ByteString', value: new Uint8Array([1, 2, 3]) },
      '42002008000000030102030000000000',
    ],
    [{ tag: 0x420020, type: 'Boolean', value: true }, '42002006000000080000000000000001'],
    [
      { tag: 0x420020, type: 'BigInteger', value: 1234567890000000000000000000n },
      '42002004000000100000000003fd35eb6bc2df4618080000',
    ],
  ]
  for (const [item, hex] of ex) {
    assert.equal(Buffer.from(encodeTtlv(item)).toString('hex'), hex)
    assert.deepEqual(decodeTtlv(Buffer.from(hex, 'hex')), item)
  }
})

test('TTLV: random bytes only ever throw coded errors', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      try {
        decodeTtlv(b)
      } catch (e) {
        assert.match((e as { code: string }).code, /^ERR_KMS_/)
      }
    }),
    { numRuns: 2000, seed: 42 },
  )
})

test('TTLV: structures round trip', () => {
  const leaf = fc.oneof(
    fc
      .integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })
      .map((v): TtlvItem => ({ tag: Tag.CryptographicLength, type: 'Integer', value: v })),
    fc.string().map((v): TtlvItem => ({ tag: Tag.AttributeName, type: 'TextString', value: v })),
    fc
      .uint8Array({ maxLength: 40 })
      .map((v): TtlvItem => ({ tag: Tag.KeyMaterial, type: 'ByteString', value: v })),
    fc
      .bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
      .map((v): TtlvItem => ({ tag: Tag.ActivationDate, type: 'DateTime', value: v })),
  )
  fc.assert(
    fc.property(fc.array(leaf, { maxLength: 8 }), (kids) => {
      const s: TtlvItem = { tag: Tag.Attributes, type: 'Structure', value: kids }
      assert.deepEqual(decodeTtlv(encodeTtlv(s)), s)
    }),
    { numRuns: 300, seed: 7 },
  )
})
