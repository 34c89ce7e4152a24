// The payload declarations (src/operations/) and the one generic codec over them (src/schema/).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  AddAttributeRequest,
  CreateKeyPairRequest,
  CreateRequest,
  DeleteAttributeRequest,
  EncryptRequest,
  FrameReader,
  GetAttributesRequest,
  GetAttributesResponse,
  KmipError,
  LocateRequest,
  ObjectType,
  QueryResponse,
  Tag,
  attr,
  bytes,
  decodeStructure,
  decodeTtlv,
  encodeStructure,
  encodeTtlv,
  enumeration,
  find,
  int,
  KeyBlock,
  KeyFormatType,
  KeyValue,
  Link,
  Name,
  SecretData,
  operationPayloads,
  structure,
  text,
  Operation,
} from '../../src/index.js'
import type { Member, StructField, TtlvItem } from '../../src/index.js'
import { sample } from './samples.js'

const V14 = { major: 1, minor: 4 }
const V21 = { major: 2, minor: 1 }
const code = (c: string) => (e: unknown) => e instanceof KmipError && e.code === c
const tags = (i: TtlvItem): number[] => (i.type === 'Structure' ? i.value.map((c) => c.tag) : [])

/** The sample as it decodes: the codec normalises KmipAttribute values to their own tag. */
const roundTrip = (s: StructField, v: { major: number; minor: number }, input: unknown) =>
  decodeStructure(s, decodeTtlv(encodeTtlv(encodeStructure(s, input as never, v))), v)

test('every operation Ward speaks has both payloads declared, and each round-trips in 1.4 and 2.1', () => {
  assert.equal(operationPayloads.size, 28)
  for (const [op, { request, response }] of operationPayloads)
    for (const s of [request, response])
      for (const v of [V14, V21]) {
        assert.equal(s.tag, s === request ? Tag.RequestPayload : Tag.ResponsePayload)
        const input = sample(s.members, v.major >= 2)
        const back = roundTrip(s, v, input)
        // a second pass is byte-identical: decoding keeps everything encoding wrote
        assert.deepEqual(
          encodeTtlv(encodeStructure(s, back as never, v)),
          encodeTtlv(encodeStructure(s, input as never, v)),
          `operation 0x${op.toString(16)} in ${v.major}.${v.minor}`,
        )
        for (const [name, m] of Object.entries(s.members) as [string, Member][])
          if (m.only === undefined || (m.only === 'v2') === v.major >= 2)
            assert.ok(name in back, `operation 0x${op.toString(16)}: ${name} came back`)
      }
})

test('new objects: Template-Attribute in 1.x, Attributes in 2.x; either is read in any version', () => {
  const input = {
    objectType: ObjectType.SymmetricKey,
    attributes: [attr('Cryptographic Length', int(0, 256))],
  }
  const v1 = encodeStructure(CreateRequest, input, V14)
  const v2 = encodeStructure(CreateRequest, input, V21)
  assert.deepEqual(tags(v1), [Tag.ObjectType, Tag.TemplateAttribute])
  assert.deepEqual(tags(v2), [Tag.ObjectType, Tag.Attributes])
  assert.deepEqual(tags(v2.type === 'Structure' ? v2.value[1]! : v2), [Tag.CryptographicLength])
  for (const item of [v1, v2])
    for (const v of [V14, V21]) {
      const d = decodeStructure(CreateRequest, item, v)
      assert.equal(d.attributes?.[0]?.name, 'Cryptographic Length')
      assert.equal(d.attributes?.[0]?.value.value, 256)
    }
  const pair = encodeStructure(
    CreateKeyPairRequest,
    { commonAttributes: [], privateKeyAttributes: [], publicKeyAttributes: [] },
    V14,
  )
  assert.deepEqual(tags(pair), [
    Tag.CommonTemplateAttribute,
    Tag.PrivateKeyTemplateAttribute,
    Tag.PublicKeyTemplateAttribute,
  ])
  // a named (1.x) Template is not supported
  const named = structure(Tag.RequestPayload, [
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
    structure(Tag.TemplateAttribute, [structure(Tag.Name, [text(Tag.NameValue, 't')])]),
  ])
  assert.throws(() => decodeStructure(CreateRequest, named, V14), code('ERR_KMIP_NOT_SUPPORTED'))
})

test('one attribute and attribute names follow the version (Add, Delete, Get Attributes, Locate)', () => {
  const a = attr('x-Owner', text(0, 'vm-1'))
  const add1 = encodeStructure(AddAttributeRequest, { uniqueIdentifier: 'k', attribute: a }, V14)
  assert.deepEqual(tags(add1), [Tag.UniqueIdentifier, Tag.Attribute])
  const add2 = encodeStructure(
    AddAttributeRequest,
    { uniqueIdentifier: 'k', newAttribute: { attribute: a } },
    V21,
  )
  assert.deepEqual(tags(add2), [Tag.UniqueIdentifier, Tag.NewAttribute])
  assert.equal(
    decodeStructure(AddAttributeRequest, add2, V21).newAttribute?.attribute.name,
    'x-Owner',
  )
  // the 1.x member is not read in 2.x, nor the 2.x one in 1.x
  assert.throws(
    () => decodeStructure(AddAttributeRequest, add1, V21),
    code('ERR_KMIP_MISSING_FIELD'),
  )
  assert.throws(
    () => decodeStructure(AddAttributeRequest, add2, V14),
    code('ERR_KMIP_MISSING_FIELD'),
  )

  const names = ['Cryptographic Algorithm', 'x-Owner']
  const get1 = encodeStructure(GetAttributesRequest, { attributeNames: names }, V14)
  const get2 = encodeStructure(GetAttributesRequest, { attributeNames: names }, V21)
  assert.deepEqual(tags(get1), [Tag.AttributeName, Tag.AttributeName])
  assert.deepEqual(tags(get2), [Tag.AttributeReference, Tag.AttributeReference])
  assert.equal(get2.type === 'Structure' && get2.value[0]!.type, 'Enumeration')
  assert.equal(get2.type === 'Structure' && get2.value[1]!.type, 'Structure')
  for (const [item, v] of [
    [get1, V14],
    [get2, V21],
  ] as const)
    assert.deepEqual(decodeStructure(GetAttributesRequest, item, v).attributeNames, names)

  const del1 = encodeStructure(
    DeleteAttributeRequest,
    { attributeName: 'x-Owner', attributeIndex: 1, attributeReferences: ['x-Owner'] },
    V14,
  )
  assert.deepEqual(tags(del1), [Tag.AttributeName, Tag.AttributeIndex])

  const located = [attr('Object Type', enumeration(0, ObjectType.SymmetricKey))]
  const loc1 = encodeStructure(LocateRequest, { maximumItems: 1, attributes: located }, V14)
  const loc2 = encodeStructure(LocateRequest, { maximumItems: 1, attributes: located }, V21)
  assert.deepEqual(tags(loc1), [Tag.MaximumItems, Tag.Attribute])
  assert.deepEqual(tags(loc2), [Tag.MaximumItems, Tag.Attributes])
  const got = encodeStructure(GetAttributesResponse, { uniqueIdentifier: 'k', attributes: [] }, V21)
  assert.deepEqual(tags(got), [Tag.UniqueIdentifier, Tag.Attributes])
})

test('decoding checks presence and types, ignores unknown children, reads an absent payload as empty', () => {
  const missing = structure(Tag.RequestPayload, [text(Tag.UniqueIdentifier, 'k')])
  assert.throws(
    () => decodeStructure(CreateRequest, missing, V14),
    (e) => code('ERR_KMIP_MISSING_FIELD')(e) && (e as KmipError).tag === Tag.ObjectType,
  )
  assert.throws(
    () => decodeStructure(CreateRequest, undefined, V14),
    code('ERR_KMIP_MISSING_FIELD'),
  )
  const wrongType = structure(Tag.RequestPayload, [text(Tag.ObjectType, 'symmetric')])
  assert.throws(() => decodeStructure(CreateRequest, wrongType, V14), code('ERR_KMIP_FIELD_TYPE'))
  assert.throws(
    () => decodeStructure(CreateRequest, text(Tag.RequestPayload, 'x'), V14),
    code('ERR_KMIP_FIELD_TYPE'),
  )
  const extra = structure(Tag.RequestPayload, [
    text(Tag.VendorIdentification, 'ignored'),
    enumeration(Tag.ObjectType, ObjectType.SecretData),
    enumeration(Tag.ObjectType, ObjectType.SymmetricKey), // a later duplicate is not read
  ])
  assert.deepEqual(decodeStructure(CreateRequest, extra, V14), {
    objectType: ObjectType.SecretData,
  })
  // Encrypt's Data is checked by the server once the key is known (it may be absent on the wire)
  assert.deepEqual(decodeStructure(EncryptRequest, undefined, V21), {})
  // repeated members are [] when absent
  assert.deepEqual(decodeStructure(QueryResponse, undefined, V14), {
    operations: [],
    objectTypes: [],
    capabilityInformation: [],
  })
})

test('encoding writes declaration order, leaves absent optional members out, refuses absent required ones', () => {
  const e = encodeStructure(
    EncryptRequest,
    {
      data: new Uint8Array([1]),
      uniqueIdentifier: 'k',
      ivCounterNonce: undefined,
      cryptographicParameters: { paddingMethod: 1, blockCipherMode: 2 },
    },
    V14,
  )
  assert.deepEqual(tags(e), [Tag.UniqueIdentifier, Tag.CryptographicParameters, Tag.Data])
  const cp = e.type === 'Structure' ? e.value[1]! : e
  assert.deepEqual(tags(cp), [Tag.BlockCipherMode, Tag.PaddingMethod])
  assert.throws(() => encodeStructure(CreateRequest, {} as never, V14), code('ERR_TTLV_ENCODE'))
  assert.equal(operationPayloads.get(Operation.Encrypt)?.request, EncryptRequest)
})

test('frame reader hooks: the length check refuses a header, admit holds a frame until resume', () => {
  const msg = encodeTtlv(structure(Tag.RequestMessage, [int(Tag.BatchCount, 1)]))
  const refusing = new FrameReader(1024, {
    length: () => {
      throw new Error('refused')
    },
  })
  assert.throws(() => refusing.push(msg), /refused/)
  const asked: number[] = []
  let allow = false
  const r = new FrameReader(1024, {
    admit: (n) => {
      asked.push(n)
      return allow
    },
  })
  const two = new Uint8Array([...msg, ...msg])
  assert.deepEqual(r.push(two), [])
  assert.equal(r.held, true)
  assert.equal(r.pending, msg.length)
  assert.equal(r.buffered, two.length)
  assert.deepEqual(r.push(new Uint8Array([0x42])), []) // kept behind the held frame
  allow = true
  const out = r.resume()
  assert.equal(out.length, 2)
  assert.deepEqual(out[0], msg)
  assert.deepEqual(asked, [msg.length, msg.length]) // a held frame is admitted by resume
  assert.equal(r.held, false)
  assert.equal(r.buffered, 1)
  r.clear()
  assert.equal(r.buffered, 0)
})

test('objects and attribute values: the declarations write the spec layout (Key Block, Secret Data, Name, Link)', () => {
  const material = new Uint8Array(16).fill(7)
  const keyValue = encodeStructure(KeyValue, { keyMaterial: bytes(Tag.KeyMaterial, material) }, V14)
  const secret = encodeStructure(
    SecretData,
    { secretDataType: 2, keyBlock: { keyFormatType: KeyFormatType.Opaque, keyValue } },
    V14,
  )
  const byHand = structure(Tag.SecretData, [
    enumeration(Tag.SecretDataType, 2),
    structure(Tag.KeyBlock, [
      enumeration(Tag.KeyFormatType, KeyFormatType.Opaque),
      structure(Tag.KeyValue, [bytes(Tag.KeyMaterial, material)]),
    ]),
  ])
  assert.deepEqual(encodeTtlv(secret), encodeTtlv(byHand))
  const block = decodeStructure(KeyBlock, find(secret, Tag.KeyBlock), V21)
  assert.equal(block.keyFormatType, KeyFormatType.Opaque)
  assert.equal(block.keyValue?.tag, Tag.KeyValue)
  assert.deepEqual(
    encodeTtlv(encodeStructure(Name, { nameValue: 'k', nameType: 1 }, V14)),
    encodeTtlv(structure(Tag.Name, [text(Tag.NameValue, 'k'), enumeration(Tag.NameType, 1)])),
  )
  assert.deepEqual(
    decodeStructure(
      Link,
      encodeStructure(Link, { linkType: 0x102, linkedObjectIdentifier: 'p' }, V14),
      V14,
    ),
    {
      linkType: 0x102,
      linkedObjectIdentifier: 'p',
    },
  )
})
