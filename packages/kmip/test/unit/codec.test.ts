import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  decodeTtlv,
  encodeTtlv,
  FrameReader,
  frameLength,
  KmipError,
  ResultReason,
  Tag,
  structure,
  int,
  text,
  bool,
  bytes,
  big,
  long,
  enumeration,
  date,
  interval,
  dateExt,
  requiredValue,
  optionalValue,
  ttlvFromXml,
  ttlvToXml,
  ttlvFromJson,
  ttlvToJson,
  parseRequestMessage,
  buildRequestMessage,
  parseAttributes,
  buildAttributesFor,
  nameAttribute,
  attr,
  Operation,
  CryptographicUsageMask,
} from '../../src/index.js'

const hex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s/g, ''), 'hex'))
const code = (c: string) => (e: unknown) => e instanceof KmipError && e.code === c

test('decoder refuses malformed TTLV with the right code', () => {
  const good = encodeTtlv(structure(Tag.Name, [text(Tag.NameValue, 'abc')]))
  assert.throws(() => decodeTtlv(good.subarray(0, good.length - 1)), code('ERR_TTLV_TRUNCATED'))
  assert.throws(
    () => decodeTtlv(new Uint8Array([...good, 0, 0, 0, 0, 0, 0, 0, 0])),
    code('ERR_TTLV_TRAILING'),
  )
  // Integer with length 8
  assert.throws(
    () => decodeTtlv(hex('42002002 00000008 0000000000000008')),
    code('ERR_TTLV_LENGTH'),
  )
  // bad padding after an Integer
  assert.throws(
    () => decodeTtlv(hex('42002002 00000004 00000008 00000001'), { strict: false }),
    code('ERR_TTLV_PADDING'),
  )
  // Boolean 2
  assert.throws(
    () => decodeTtlv(hex('42002006 00000008 0000000000000002'), { strict: false }),
    code('ERR_TTLV_BOOLEAN'),
  )
  // type 0x0C
  assert.throws(() => decodeTtlv(hex('4200200C 00000000')), code('ERR_TTLV_TYPE'))
  // unknown tag: strict error, lenient ok
  const unk = hex('42FFFF02 00000004 00000008 00000000')
  assert.throws(() => decodeTtlv(unk), code('ERR_TTLV_UNKNOWN_TAG'))
  assert.equal(decodeTtlv(unk, { strict: false }).value, 8)
  // extension tags are accepted
  assert.equal(decodeTtlv(hex('54000102 00000004 00000008 00000000')).value, 8)
  // invalid UTF-8
  assert.throws(() => decodeTtlv(hex('42009407 00000002 C328000000000000')), code('ERR_TTLV_UTF8'))
  // Big Integer of length 4
  assert.throws(
    () => decodeTtlv(hex('42002004 00000004 00000001 00000000'), { strict: false }),
    code('ERR_TTLV_LENGTH'),
  )
})

test('decoder bounds: depth, item size, message size, item count', () => {
  let deep = structure(Tag.Attribute, [])
  for (let i = 0; i < 70; i++) deep = structure(Tag.Attribute, [deep])
  const d = encodeTtlv(deep)
  assert.throws(() => decodeTtlv(d), code('ERR_TTLV_DEPTH'))
  assert.ok(decodeTtlv(d, { maxDepth: 100 }))
  const big1 = encodeTtlv(bytes(Tag.KeyMaterial, new Uint8Array(2048)))
  assert.throws(() => decodeTtlv(big1, { maxItemBytes: 1024 }), code('ERR_TTLV_TOO_LARGE'))
  assert.throws(() => decodeTtlv(big1, { maxMessageBytes: 1024 }), code('ERR_TTLV_TOO_LARGE'))
  const many = encodeTtlv(
    structure(
      Tag.Attributes,
      Array.from({ length: 50 }, () => int(Tag.CryptographicLength, 1)),
    ),
  )
  assert.throws(() => decodeTtlv(many, { maxItems: 10 }), code('ERR_TTLV_TOO_MANY_ITEMS'))
  // a 2^32-1 byte length claims more than there is: truncated, not an allocation
  assert.throws(() => decodeTtlv(hex('42007801 FFFFFFF8')), code('ERR_TTLV_TRUNCATED'))
  const e = (() => {
    try {
      decodeTtlv(hex('42002006 00000008 0000000000000002'), { strict: false })
    } catch (err) {
      return err as KmipError
    }
    return undefined
  })()
  assert.equal(e?.resultReason, ResultReason.InvalidMessage)
  assert.equal(e?.offset, 8)
  assert.equal(e?.expose, false)
})

test('frame reader: refuses a 100 MiB length prefix before buffering, reassembles split messages', () => {
  const header = hex('42007801 06400000') // 100 MiB
  assert.throws(() => frameLength(header), code('ERR_TTLV_TOO_LARGE'))
  const r = new FrameReader()
  assert.throws(() => r.push(header), code('ERR_TTLV_TOO_LARGE'))
  assert.ok(r.buffered <= 8)
  const msg = encodeTtlv(structure(Tag.RequestMessage, [int(Tag.BatchCount, 1)]))
  const two = new Uint8Array([...msg, ...msg])
  const rr = new FrameReader()
  const out: Uint8Array[] = []
  for (let i = 0; i < two.length; i += 3) out.push(...rr.push(two.subarray(i, i + 3)))
  assert.equal(out.length, 2)
  assert.deepEqual(out[0], msg)
  assert.deepEqual(out[1], msg)
  assert.throws(() => new FrameReader().push(hex('42007802 00000004')), code('ERR_TTLV_TYPE'))
})

test('every type round-trips; encoder refuses out-of-range values', () => {
  const item = structure(Tag.RequestPayload, [
    int(Tag.CryptographicLength, -5),
    long(Tag.UsageLimitsTotal, -(2n ** 63n)),
    big(Tag.Modulus, -(2n ** 100n) + 7n),
    big(Tag.PublicExponent, 65537n),
    enumeration(Tag.ObjectType, 0xffffffff),
    bool(Tag.Sensitive, true),
    text(Tag.NameValue, 'héllo ✓'),
    bytes(Tag.Data, new Uint8Array([1, 2, 3])),
    date(Tag.ActivationDate, new Date('2020-01-01T00:00:00Z')),
    interval(Tag.Offset, 86400),
    dateExt(Tag.TimeStamp, 1_700_000_000_123_456n),
  ])
  assert.deepEqual(decodeTtlv(encodeTtlv(item)), item)
  assert.deepEqual(ttlvFromXml(ttlvToXml(item)), item)
  assert.deepEqual(ttlvFromJson(JSON.stringify(ttlvToJson(item))), item)
  assert.throws(() => encodeTtlv(int(Tag.CryptographicLength, 2 ** 31)), code('ERR_TTLV_ENCODE'))
  assert.throws(() => encodeTtlv(enumeration(Tag.ObjectType, -1)), code('ERR_TTLV_ENCODE'))
  assert.throws(() => encodeTtlv(long(Tag.UsageLimitsTotal, 2n ** 63n)), code('ERR_TTLV_ENCODE'))
})

test('readers check presence and type', () => {
  const p = structure(Tag.ResponsePayload, [text(Tag.UniqueIdentifier, 'k1')])
  assert.equal(requiredValue(p, Tag.UniqueIdentifier, 'TextString'), 'k1')
  assert.equal(optionalValue(p, Tag.ObjectType, 'Enumeration'), undefined)
  assert.throws(
    () => requiredValue(p, Tag.ObjectType, 'Enumeration'),
    code('ERR_KMIP_MISSING_FIELD'),
  )
  assert.throws(
    () => requiredValue(p, Tag.UniqueIdentifier, 'Integer'),
    code('ERR_KMIP_FIELD_TYPE'),
  )
})

test('messages: batch count must match; XML enum and mask names', () => {
  const m = buildRequestMessage({
    header: { protocolVersion: { major: 1, minor: 1 }, batchCount: 0 },
    items: [{ operation: Operation.Query, payload: structure(Tag.RequestPayload, []) }],
  })
  assert.equal(parseRequestMessage(m).header.batchCount, 1)
  const wrong = structure(Tag.RequestMessage, [
    structure(Tag.RequestHeader, [
      structure(Tag.ProtocolVersion, [
        int(Tag.ProtocolVersionMajor, 1),
        int(Tag.ProtocolVersionMinor, 0),
      ]),
      int(Tag.BatchCount, 2),
    ]),
  ])
  assert.throws(() => parseRequestMessage(wrong), code('ERR_KMIP_INVALID_FIELD'))
  const xml = ttlvToXml(
    structure(Tag.TemplateAttribute, [
      structure(Tag.Attribute, [
        text(Tag.AttributeName, 'Cryptographic Usage Mask'),
        int(Tag.AttributeValue, 12),
      ]),
    ]),
  )
  assert.match(xml, /value="Encrypt Decrypt"/)
  const json = JSON.stringify(
    ttlvToJson(
      int(
        Tag.CryptographicUsageMask,
        CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt,
      ),
    ),
  )
  assert.match(json, /Encrypt\|Decrypt/)
  assert.throws(
    () => ttlvFromXml('<ObjectType type="Enumeration" value="NoSuchThing"/>'),
    code('ERR_KMIP_ENUM'),
  )
  assert.throws(() => ttlvFromXml('<!DOCTYPE x><ObjectType/>'), code('ERR_KMIP_XML'))
  assert.throws(() => ttlvFromXml('<NoSuchTag/>'), code('ERR_KMIP_XML'))
  assert.throws(
    () => ttlvFromXml('<NameValue type="TextString" value="&#x110000;"/>'),
    code('ERR_KMIP_XML'),
  )
  assert.equal(ttlvFromXml('<NameValue type="TextString" value="a&amp;&#x41;&lt;"/>').value, 'a&A<')
  assert.throws(
    () => ttlvFromJson('{"tag":"ObjectType","type":"Enumeration"}'),
    code('ERR_KMIP_JSON'),
  )
})

test('attributes: 1.x and 2.x encodings convert to one model, custom x- attributes included', () => {
  const attrs = [
    nameAttribute('k1'),
    attr('x-Product', text(0, 'VMware vSphere')),
    attr('Cryptographic Length', int(0, 256)),
  ]
  const v1 = buildAttributesFor(false, attrs)
  const v2 = buildAttributesFor(true, attrs)
  assert.equal(v1.tag, Tag.TemplateAttribute)
  assert.equal(v2.tag, Tag.Attributes)
  assert.deepEqual(parseAttributes(v1), parseAttributes(v2))
  assert.equal(parseAttributes(v2)[1]?.name, 'x-Product')
  assert.equal(parseAttributes(v2)[2]?.value.tag, Tag.CryptographicLength)
})
