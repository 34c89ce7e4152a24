// KMIP conformance behaviour added for the OASIS profiles (docs/kmip-conformance.md): Digest,
// Original Creation Date, Random Number Generator, 3DES, Interop, Locate paging and tombstones,
// lifecycle-frozen dates. Runs against a real `ward kms` over mutual TLS.
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import {
  Tag,
  Operation,
  ObjectType,
  CryptographicAlgorithm as Alg,
  HashingAlgorithm,
  InteropFunction,
  KeyFormatType,
  RNGAlgorithm,
  ResultReason,
  State,
  structure,
  text,
  enumeration,
  int,
  bool,
  date,
  optionalValue,
  requiredValue,
  find,
  findAll,
} from '@ward/kmip'
import type { KmipTestClient } from '../../src/testing.js'
import { startFixture, P, uid, idOf, attrs2, registerSymmetric } from '../helpers.js'
import type { Fixture } from '../helpers.js'

const ref = (tag: number) => enumeration(Tag.AttributeReference, tag)

describe('conformance behaviour (KMIP 2.1 and 1.x)', () => {
  let f: Fixture
  let c: KmipTestClient
  let c10: KmipTestClient
  before(async () => {
    f = await startFixture()
    c = await f.client('conf', 2, 1)
    c10 = await f.client('conf', 1, 0)
  })
  after(async () => {
    await f.close()
  })

  const register = async (key: Buffer, alg: number, len: number, usage = 12) =>
    idOf(
      await c.call(
        Operation.Register,
        registerSymmetric({ key, usage, algorithm: alg, bits: len }),
      ),
    )
  const getAttrs = async (id: string, ...tags: number[]) =>
    find(await c.call(Operation.GetAttributes, P(uid(id), ...tags.map(ref))), Tag.Attributes)

  test('Register sets Digest = SHA-256 of the Raw key bytes, Original Creation Date; 2.x Key Format Type', async () => {
    const key = randomBytes(32)
    const id = await register(key, Alg.AES, 256)
    const a = await getAttrs(id, Tag.Digest, Tag.OriginalCreationDate, Tag.KeyFormatType)
    assert.equal(optionalValue(a, Tag.KeyFormatType, 'Enumeration'), KeyFormatType.Raw)
    const d = find(a, Tag.Digest)
    assert.equal(optionalValue(d, Tag.HashingAlgorithm, 'Enumeration'), HashingAlgorithm.SHA_256)
    assert.equal(optionalValue(d, Tag.KeyFormatType, 'Enumeration'), KeyFormatType.Raw)
    assert.deepEqual(
      Buffer.from(requiredValue(d, Tag.DigestValue, 'ByteString')),
      createHash('sha256').update(key).digest(),
    )
    const ocd = optionalValue(a, Tag.OriginalCreationDate, 'DateTime')
    assert.ok(ocd !== undefined && Math.abs(Number(ocd) - Date.now() / 1000) < 60)
  })

  test('Create of 3DES: 24 key bytes with odd parity, Random Number Generator set', async () => {
    const id = idOf(
      await c.call(
        Operation.Create,
        P(
          enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
          attrs2(
            enumeration(Tag.CryptographicAlgorithm, Alg.DES3),
            int(Tag.CryptographicLength, 168),
            int(Tag.CryptographicUsageMask, 12),
          ),
        ),
      ),
    )
    const got = await c.call(Operation.Get, P(uid(id)))
    const kv = find(find(find(got, Tag.SymmetricKey), Tag.KeyBlock), Tag.KeyValue)
    const key = Buffer.from(requiredValue(kv, Tag.KeyMaterial, 'ByteString'))
    assert.equal(key.length, 24)
    for (const b of key) {
      let ones = 0
      for (let x = b; x !== 0; x >>= 1) ones += x & 1
      assert.equal(ones % 2, 1, `byte ${b.toString(16)} has even parity`)
    }
    const a = await getAttrs(id, Tag.RandomNumberGenerator, Tag.Digest)
    const rng = find(a, Tag.RandomNumberGenerator)
    assert.equal(optionalValue(rng, Tag.RNGAlgorithm, 'Enumeration'), RNGAlgorithm.DRBG)
    assert.deepEqual(
      Buffer.from(requiredValue(find(a, Tag.Digest), Tag.DigestValue, 'ByteString')),
      createHash('sha256').update(key).digest(),
    )
    await assert.rejects(
      c.call(
        Operation.Create,
        P(
          enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
          attrs2(
            enumeration(Tag.CryptographicAlgorithm, Alg.DES3),
            int(Tag.CryptographicLength, 128),
          ),
        ),
      ),
    )
  })

  test('KMIP 1.0 never sees the 1.2+/1.3+ attributes', async () => {
    const id = await register(randomBytes(16), Alg.AES, 128)
    const list = await c10.call(Operation.GetAttributeList, P(uid(id)))
    const names = findAll(list, Tag.AttributeName).map((x) => x.value)
    assert.ok(names.includes('Digest'))
    assert.ok(!names.includes('Original Creation Date'))
  })

  test('Interop Begin/End/Reset succeed in 2.x, refuse bad functions, and do not exist in 1.x', async () => {
    for (const fn of [InteropFunction.Begin, InteropFunction.End, InteropFunction.Reset]) {
      const r = await c.call(
        Operation.Interop,
        P(enumeration(Tag.InteropFunction, fn), text(Tag.InteropIdentifier, 'BL-M-1-21')),
      )
      assert.deepEqual(r?.type === 'Structure' && r.value, [])
    }
    await assert.rejects(
      c.call(
        Operation.Interop,
        P(enumeration(Tag.InteropFunction, 9), text(Tag.InteropIdentifier, 'x')),
      ),
    )
    await assert.rejects(c.call(Operation.Interop, P(enumeration(Tag.InteropFunction, 1))))
    const c14 = await f.client('conf', 1, 4)
    await assert.rejects(
      c14.call(
        Operation.Interop,
        P(enumeration(Tag.InteropFunction, 1), text(Tag.InteropIdentifier, 'x')),
      ),
    )
  })

  test('Locate: Located Items only when paging; destroyed objects only when asked', async () => {
    const name = `loc-${randomBytes(4).toString('hex')}`
    const nameAttr = structure(Tag.Name, [text(Tag.NameValue, name), enumeration(Tag.NameType, 1)])
    const ids: string[] = []
    for (let i = 0; i < 2; i++) {
      ids.push(
        idOf(
          await c.call(
            Operation.Create,
            P(
              enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
              attrs2(
                enumeration(Tag.CryptographicAlgorithm, Alg.AES),
                int(Tag.CryptographicLength, 128),
                int(Tag.CryptographicUsageMask, 12),
                nameAttr,
              ),
            ),
          ),
        ),
      )
    }
    const plain = await c.call(Operation.Locate, P(attrs2(nameAttr)))
    assert.equal(find(plain, Tag.LocatedItems), undefined)
    assert.equal(findAll(plain, Tag.UniqueIdentifier).length, 2)
    const paged = await c.call(Operation.Locate, P(int(Tag.MaximumItems, 1), attrs2(nameAttr)))
    assert.equal(optionalValue(paged, Tag.LocatedItems, 'Integer'), 2)
    assert.equal(findAll(paged, Tag.UniqueIdentifier).length, 1)
    await c.call(Operation.Destroy, P(uid(ids[0]!)))
    const after = await c.call(Operation.Locate, P(attrs2(nameAttr)))
    assert.deepEqual(
      findAll(after, Tag.UniqueIdentifier).map((x) => x.value),
      [ids[1]],
    )
    const tomb = await c.call(
      Operation.Locate,
      P(attrs2(nameAttr, enumeration(Tag.State, State.Destroyed))),
    )
    assert.deepEqual(
      findAll(tomb, Tag.UniqueIdentifier).map((x) => x.value),
      [ids[0]],
    )
    const masked = await c.call(
      Operation.Locate,
      P(int(Tag.StorageStatusMask, 5), attrs2(nameAttr)),
    )
    assert.equal(findAll(masked, Tag.UniqueIdentifier).length, 2)
  })

  test('Activation Date is frozen once Active (Wrong Key Lifecycle State in 2.x)', async () => {
    const id = await register(randomBytes(16), Alg.AES, 128)
    await c.call(
      Operation.SetAttribute,
      P(
        uid(id),
        structure(Tag.NewAttribute, [
          date(Tag.ActivationDate, BigInt(Math.floor(Date.now() / 1000) + 3600)),
        ]),
      ),
    )
    await c.call(Operation.Activate, P(uid(id)))
    await assert.rejects(
      c.call(
        Operation.ModifyAttribute,
        P(uid(id), structure(Tag.NewAttribute, [date(Tag.ActivationDate, 1n)])),
      ),
      (e: { reason?: number }) => e.reason === 0x43,
    )
    // still Pre-Active objects may move their Activation Date
    const other = await register(randomBytes(16), Alg.AES, 128)
    await c.call(
      Operation.SetAttribute,
      P(uid(other), structure(Tag.NewAttribute, [date(Tag.ActivationDate, 4_000_000_000n)])),
    )
    await c.call(
      Operation.ModifyAttribute,
      P(uid(other), structure(Tag.NewAttribute, [date(Tag.ActivationDate, 4_000_000_001n)])),
    )
  })

  test('Sensitive keys leave only wrapped, non-Extractable ones never; Always Sensitive tracks it', async () => {
    const id = await register(randomBytes(16), Alg.AES, 128)
    await c.call(Operation.Activate, P(uid(id)))
    let a = await getAttrs(id, Tag.Sensitive, Tag.AlwaysSensitive, Tag.Extractable)
    assert.equal(optionalValue(a, Tag.Sensitive, 'Boolean'), false)
    assert.equal(optionalValue(a, Tag.AlwaysSensitive, 'Boolean'), false)
    assert.equal(optionalValue(a, Tag.Extractable, 'Boolean'), true)
    await c.call(
      Operation.SetAttribute,
      P(uid(id), structure(Tag.NewAttribute, [bool(Tag.Sensitive, true)])),
    )
    await assert.rejects(
      c.call(Operation.Get, P(uid(id))),
      (e: { reason?: number }) => e.reason === ResultReason.Sensitive,
    )
    // Wrapping needs a key whose Cryptographic Usage Mask has Wrap Key (0x10): an Encrypt /
    // Decrypt key is refused (issue 10), a key-encryption key serves.
    const dek = await register(randomBytes(32), Alg.AES, 256)
    await c.call(Operation.Activate, P(uid(dek)))
    await assert.rejects(
      c.call(
        Operation.Get,
        P(
          uid(id),
          structure(Tag.KeyWrappingSpecification, [
            enumeration(Tag.WrappingMethod, 1),
            structure(Tag.EncryptionKeyInformation, [uid(dek)]),
          ]),
        ),
      ),
      (e: { reason?: number }) => e.reason === ResultReason.IncompatibleCryptographicUsageMask,
    )
    const kek = await register(randomBytes(32), Alg.AES, 256, 12 | 0x10)
    await c.call(Operation.Activate, P(uid(kek)))
    const wrapped = await c.call(
      Operation.Get,
      P(
        uid(id),
        structure(Tag.KeyWrappingSpecification, [
          enumeration(Tag.WrappingMethod, 1),
          structure(Tag.EncryptionKeyInformation, [uid(kek)]),
        ]),
      ),
    )
    assert.ok(find(find(find(wrapped, Tag.SymmetricKey), Tag.KeyBlock), Tag.KeyWrappingData))
    a = await getAttrs(id, Tag.AlwaysSensitive)
    assert.equal(
      optionalValue(a, Tag.AlwaysSensitive, 'Boolean'),
      false,
      'was not Sensitive at creation',
    )
    await c.call(
      Operation.SetAttribute,
      P(uid(id), structure(Tag.NewAttribute, [bool(Tag.Extractable, false)])),
    )
    await assert.rejects(
      c.call(
        Operation.Get,
        P(
          uid(id),
          structure(Tag.KeyWrappingSpecification, [
            enumeration(Tag.WrappingMethod, 1),
            structure(Tag.EncryptionKeyInformation, [uid(kek)]),
          ]),
        ),
      ),
      (e: { reason?: number }) => e.reason === ResultReason.NotExtractable,
    )
    a = await getAttrs(id, Tag.NeverExtractable)
    assert.equal(optionalValue(a, Tag.NeverExtractable, 'Boolean'), false)
    await assert.rejects(
      c.call(
        Operation.SetAttribute,
        P(uid(id), structure(Tag.NewAttribute, [bool(Tag.AlwaysSensitive, true)])),
      ),
      (e: { reason?: number }) => e.reason === ResultReason.AttributeReadOnly,
    )
  })

  test('Locate: two instances of a date attribute select the range between them', async () => {
    const group = `range-${randomBytes(4).toString('hex')}`
    const ids: string[] = []
    for (const stop of [1_000_000_000n, 1_000_000_500n, 1_000_001_000n]) {
      const id = await register(randomBytes(16), Alg.AES, 128)
      await c.call(
        Operation.SetAttribute,
        P(uid(id), structure(Tag.NewAttribute, [date(Tag.ProtectStopDate, stop)])),
      )
      await c.call(
        Operation.AddAttribute,
        P(uid(id), structure(Tag.NewAttribute, [text(Tag.ObjectGroup, group)])),
      )
      ids.push(id)
    }
    const found = await c.call(
      Operation.Locate,
      P(
        attrs2(
          text(Tag.ObjectGroup, group),
          date(Tag.ProtectStopDate, 1_000_001_000n),
          date(Tag.ProtectStopDate, 1_000_000_400n),
        ),
      ),
    )
    assert.deepEqual(
      findAll(found, Tag.UniqueIdentifier).map((x) => x.value),
      [ids[1], ids[2]],
    )
    await assert.rejects(
      c.call(Operation.Get, P(uid('no-such-object'))),
      (e: { reason?: number }) => e.reason === ResultReason.ObjectNotFound,
    )
    await assert.rejects(
      c10.call(Operation.Get, P(uid('no-such-object'))),
      (e: { reason?: number }) => e.reason === ResultReason.ItemNotFound,
    )
  })

  test('Get without a Key Format Type returns the key as registered (Transparent Symmetric Key)', async () => {
    const key = randomBytes(16)
    const id = idOf(
      await c.call(
        Operation.Register,
        registerSymmetric({ key, usage: 12, format: 'transparent' }),
      ),
    )
    const block = find(
      find(await c.call(Operation.Get, P(uid(id))), Tag.SymmetricKey),
      Tag.KeyBlock,
    )
    assert.equal(
      optionalValue(block, Tag.KeyFormatType, 'Enumeration'),
      KeyFormatType.TransparentSymmetricKey,
    )
    const km = find(find(block, Tag.KeyValue), Tag.KeyMaterial)
    assert.deepEqual(Buffer.from(requiredValue(km, Tag.Key, 'ByteString')), key)
    const raw = find(
      find(
        await c.call(Operation.Get, P(uid(id), enumeration(Tag.KeyFormatType, KeyFormatType.Raw))),
        Tag.SymmetricKey,
      ),
      Tag.KeyBlock,
    )
    assert.equal(optionalValue(raw, Tag.KeyFormatType, 'Enumeration'), KeyFormatType.Raw)
    const a = await getAttrs(id, Tag.KeyFormatType)
    assert.equal(
      optionalValue(a, Tag.KeyFormatType, 'Enumeration'),
      KeyFormatType.TransparentSymmetricKey,
    )
  })
})
