/**
 * KMIP's rules for attributes that protect a key (issue 10, Low), over mutual TLS, in 2.1 and 1.4
 * forms: Sensitive goes false → true only and Extractable true → false only, neither can be
 * deleted; the Cryptographic Usage Mask can lose bits, never gain them or be deleted; Usage Limits
 * can be added to an unlimited key, never raised, reset or deleted, and the Count is the server's;
 * Re-key keeps these protections; Get with a Key Wrapping Specification needs a wrapping key with
 * Wrap Key usage (and inside its Protect Stop Date); Register refuses key material whose length
 * does not fit its algorithm or its stated Cryptographic Length.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import {
  CryptographicAlgorithm as Alg,
  CryptographicUsageMask as Usage,
  KeyFormatType,
  ObjectType,
  Operation,
  ResultReason,
  Tag,
  bool,
  bytes,
  date,
  enumeration,
  find,
  int,
  long,
  optionalValue,
  structure,
  text,
} from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'
import type { KmipTestClient } from '../../src/testing.js'
import { P, idOf, startFixture, uid, attr1, registerSymmetric } from '../helpers.js'
import type { Fixture } from '../helpers.js'

const ENC_DEC = Usage.Encrypt | Usage.Decrypt
const GCM = structure(Tag.CryptographicParameters, [enumeration(Tag.BlockCipherMode, 9)])
const limits = (total: number, count?: number) =>
  structure(Tag.UsageLimits, [
    long(Tag.UsageLimitsTotal, total),
    count !== undefined ? long(Tag.UsageLimitsCount, count) : undefined,
    enumeration(Tag.UsageLimitsUnit, 1),
  ])
const reason =
  (r: number) =>
  (e: { reason?: number }): boolean =>
    e.reason === r

describe('attributes that only tighten, wrapping keys, key lengths', () => {
  let f: Fixture
  let c: KmipTestClient
  let c14: KmipTestClient
  before(async () => {
    f = await startFixture()
    c = await f.client('rules', 2, 1)
    c14 = await f.client('rules', 1, 4)
  })
  after(async () => {
    await f.close()
  })

  const register = async (
    key: Buffer,
    o: { alg?: number; len?: number; usage?: number; extra?: TtlvItem[] } = {},
  ) =>
    idOf(
      await c.call(
        Operation.Register,
        registerSymmetric({
          key,
          usage: o.usage ?? ENC_DEC,
          ...(o.alg !== undefined && { algorithm: o.alg }),
          ...(o.len !== undefined && { bits: o.len }),
          ...(o.extra !== undefined && { extra: o.extra }),
        }),
      ),
    )
  const attr = async (id: string, tag: number) =>
    find(
      find(
        await c.call(Operation.GetAttributes, P(uid(id), enumeration(Tag.AttributeReference, tag))),
        Tag.Attributes,
      ),
      tag,
    )
  const set = (id: string, item: TtlvItem) =>
    c.call(Operation.SetAttribute, P(uid(id), structure(Tag.NewAttribute, [item])))
  const modify = (id: string, item: TtlvItem) =>
    c.call(Operation.ModifyAttribute, P(uid(id), structure(Tag.NewAttribute, [item])))
  const del = (id: string, tag: number) =>
    c.call(Operation.DeleteAttribute, P(uid(id), enumeration(Tag.AttributeReference, tag)))
  const modify14 = (id: string, name: string, value: TtlvItem) =>
    c14.call(Operation.ModifyAttribute, P(uid(id), attr1(name, value)))
  const del14 = (id: string, name: string) =>
    c14.call(Operation.DeleteAttribute, P(uid(id), text(Tag.AttributeName, name)))
  const denied = reason(ResultReason.PermissionDenied)

  test('Extractable: true → false only; false stays false through Set, Modify and Delete', async () => {
    const id = await register(randomBytes(32))
    await set(id, bool(Tag.Extractable, false))
    await assert.rejects(set(id, bool(Tag.Extractable, true)), denied)
    await assert.rejects(modify(id, bool(Tag.Extractable, true)), denied)
    await assert.rejects(modify14(id, 'Extractable', bool(0, true)), denied)
    await assert.rejects(del(id, Tag.Extractable), denied)
    await assert.rejects(del14(id, 'Extractable'), denied)
    assert.equal((await attr(id, Tag.Extractable))?.value, false)
    await assert.rejects(c.call(Operation.Get, P(uid(id))), reason(ResultReason.NotExtractable))
    // setting the value it has is no change
    await set(id, bool(Tag.Extractable, false))
  })

  test('Sensitive: false → true only; true stays true through Set, Modify and Delete', async () => {
    const id = await register(randomBytes(32))
    await modify(id, bool(Tag.Sensitive, true))
    await assert.rejects(set(id, bool(Tag.Sensitive, false)), denied)
    await assert.rejects(modify(id, bool(Tag.Sensitive, false)), denied)
    await assert.rejects(modify14(id, 'Sensitive', bool(0, false)), denied)
    await assert.rejects(del(id, Tag.Sensitive), denied)
    await assert.rejects(del14(id, 'Sensitive'), denied)
    assert.equal((await attr(id, Tag.Sensitive))?.value, true)
    await assert.rejects(c.call(Operation.Get, P(uid(id))), reason(ResultReason.Sensitive))
  })

  test('Cryptographic Usage Mask: bits can be dropped, never added; it cannot be deleted', async () => {
    const id = await register(randomBytes(32), { usage: ENC_DEC })
    await assert.rejects(set(id, int(Tag.CryptographicUsageMask, ENC_DEC | Usage.WrapKey)), denied)
    await assert.rejects(
      modify14(id, 'Cryptographic Usage Mask', int(0, ENC_DEC | Usage.Sign)),
      denied,
    )
    await assert.rejects(del(id, Tag.CryptographicUsageMask), denied)
    await set(id, int(Tag.CryptographicUsageMask, Usage.Decrypt))
    assert.equal((await attr(id, Tag.CryptographicUsageMask))?.value, Usage.Decrypt)
    await assert.rejects(set(id, int(Tag.CryptographicUsageMask, ENC_DEC)), denied)
  })

  test('Usage Limits: the Count is the server’s; never raised, reset or deleted', async () => {
    // a Count above the Total sent at creation is not taken
    const id = await register(randomBytes(32), { extra: [limits(16, 1_000_000)] })
    assert.equal(
      optionalValue(await attr(id, Tag.UsageLimits), Tag.UsageLimitsCount, 'LongInteger'),
      16n,
    )
    await c.call(Operation.Activate, P(uid(id)))
    await c.call(Operation.Encrypt, P(uid(id), GCM, bytes(Tag.Data, Buffer.alloc(16))))
    await assert.rejects(
      c.call(Operation.Encrypt, P(uid(id), GCM, bytes(Tag.Data, Buffer.alloc(1)))),
      denied,
    )
    // resetting the spent allowance, by any route
    await assert.rejects(modify(id, limits(16, 16)), denied)
    await assert.rejects(modify(id, limits(1_000_000)), denied)
    await assert.rejects(set(id, limits(1_000_000, 1_000_000)), denied)
    await assert.rejects(modify14(id, 'Usage Limits', limits(32)), denied)
    await assert.rejects(del(id, Tag.UsageLimits), denied)
    await assert.rejects(del14(id, 'Usage Limits'), denied)
    assert.equal(
      optionalValue(await attr(id, Tag.UsageLimits), Tag.UsageLimitsCount, 'LongInteger'),
      0n,
    )
    await assert.rejects(
      c.call(Operation.Encrypt, P(uid(id), GCM, bytes(Tag.Data, Buffer.alloc(1)))),
      denied,
    )
    // an unlimited key may get limits (its Count starts at the Total), then only lower them
    const free = await register(randomBytes(32))
    await c.call(
      Operation.AddAttribute,
      P(uid(free), structure(Tag.NewAttribute, [limits(100, 5000)])),
    )
    assert.equal(
      optionalValue(await attr(free, Tag.UsageLimits), Tag.UsageLimitsCount, 'LongInteger'),
      100n,
    )
    await assert.rejects(modify(free, limits(200)), denied)
    await modify(free, limits(50))
    const l = await attr(free, Tag.UsageLimits)
    assert.equal(optionalValue(l, Tag.UsageLimitsTotal, 'LongInteger'), 50n)
    assert.equal(optionalValue(l, Tag.UsageLimitsCount, 'LongInteger'), 50n)
    await assert.rejects(
      modify(
        free,
        structure(Tag.UsageLimits, [
          long(Tag.UsageLimitsTotal, 50),
          enumeration(Tag.UsageLimitsUnit, 2),
        ]),
      ),
      denied,
      'the unit cannot change',
    )
  })

  test('Re-key keeps Sensitive, Extractable false and the Usage Limits Total', async () => {
    const id = await register(randomBytes(32), { extra: [limits(64)] })
    await set(id, bool(Tag.Sensitive, true))
    await set(id, bool(Tag.Extractable, false))
    await c.call(Operation.Activate, P(uid(id)))
    await c.call(Operation.Encrypt, P(uid(id), GCM, bytes(Tag.Data, Buffer.alloc(40))))
    const next = idOf(await c.call(Operation.ReKey, P(uid(id))))
    assert.equal((await attr(next, Tag.Sensitive))?.value, true)
    assert.equal((await attr(next, Tag.Extractable))?.value, false)
    const l = await attr(next, Tag.UsageLimits)
    assert.equal(optionalValue(l, Tag.UsageLimitsTotal, 'LongInteger'), 64n)
    assert.equal(optionalValue(l, Tag.UsageLimitsCount, 'LongInteger'), 64n, 'a fresh count')
    await assert.rejects(c.call(Operation.Get, P(uid(next))), reason(ResultReason.NotExtractable))
  })

  test('Get wrapped: the wrapping key needs Wrap Key usage and to be inside its Protect Stop Date', async () => {
    const target = await register(randomBytes(32))
    const wrapSpec = (kek: string) =>
      structure(Tag.KeyWrappingSpecification, [
        enumeration(Tag.WrappingMethod, 1),
        structure(Tag.EncryptionKeyInformation, [uid(kek)]),
      ])
    const encOnly = await register(randomBytes(32), { usage: ENC_DEC })
    await c.call(Operation.Activate, P(uid(encOnly)))
    await assert.rejects(
      c.call(Operation.Get, P(uid(target), wrapSpec(encOnly))),
      reason(ResultReason.IncompatibleCryptographicUsageMask),
    )
    await assert.rejects(c14.call(Operation.Get, P(uid(target), wrapSpec(encOnly))), denied)
    const kek = await register(randomBytes(32), { usage: Usage.WrapKey | Usage.UnwrapKey })
    await c.call(Operation.Activate, P(uid(kek)))
    const wrapped = await c.call(Operation.Get, P(uid(target), wrapSpec(kek)))
    assert.ok(find(find(find(wrapped, Tag.SymmetricKey), Tag.KeyBlock), Tag.KeyWrappingData))
    // RSA public keys too
    const pair = await c.call(
      Operation.CreateKeyPair,
      P(
        structure(Tag.CommonAttributes, [
          enumeration(Tag.CryptographicAlgorithm, Alg.RSA),
          int(Tag.CryptographicLength, 2048),
        ]),
        structure(Tag.PublicKeyAttributes, [
          int(Tag.CryptographicUsageMask, Usage.Encrypt | Usage.Verify),
        ]),
        structure(Tag.PrivateKeyAttributes, [
          int(Tag.CryptographicUsageMask, Usage.Decrypt | Usage.Sign),
        ]),
      ),
    )
    const pk = optionalValue(pair, Tag.PublicKeyUniqueIdentifier, 'TextString')!
    await c.call(Operation.Activate, P(uid(pk)))
    await assert.rejects(
      c.call(Operation.Get, P(uid(target), wrapSpec(pk))),
      reason(ResultReason.IncompatibleCryptographicUsageMask),
    )
    // past its Protect Stop Date a wrapping key no longer applies protection
    const old = await register(randomBytes(32), {
      usage: Usage.WrapKey,
      extra: [date(Tag.ProtectStopDate, 1_000_000_000n)],
    })
    await c.call(Operation.Activate, P(uid(old)))
    await assert.rejects(
      c.call(Operation.Get, P(uid(target), wrapSpec(old))),
      reason(ResultReason.WrongKeyLifecycleState),
    )
  })

  test('Register refuses key material that does not fit its algorithm or stated length', async () => {
    const invalid = reason(ResultReason.InvalidField)
    await assert.rejects(register(randomBytes(33)), invalid, '33-byte AES key')
    await assert.rejects(register(randomBytes(20), { len: 160 }), invalid, '20-byte AES key')
    await assert.rejects(register(randomBytes(32), { len: 128 }), invalid, 'length says 128')
    await assert.rejects(register(Buffer.alloc(0), { len: 0 }), invalid, 'empty key')
    await assert.rejects(register(randomBytes(32), { alg: Alg.RSA }), invalid, 'RSA symmetric')
    await assert.rejects(register(randomBytes(20), { alg: Alg.DES3, len: 160 }), invalid)
    await assert.rejects(register(randomBytes(16), { alg: Alg.ChaCha20 }), invalid)
    // a template Cryptographic Length that disagrees with the key
    await assert.rejects(
      c.call(
        Operation.Register,
        P(
          enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
          structure(Tag.Attributes, [
            enumeration(Tag.CryptographicAlgorithm, Alg.AES),
            int(Tag.CryptographicLength, 128),
          ]),
          structure(Tag.SymmetricKey, [
            structure(Tag.KeyBlock, [
              enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
              structure(Tag.KeyValue, [bytes(Tag.KeyMaterial, randomBytes(32))]),
            ]),
          ]),
        ),
      ),
      invalid,
    )
    // what fits is registered
    for (const [key, alg, len] of [
      [randomBytes(16), Alg.AES, 128],
      [randomBytes(24), Alg.AES, 192],
      [randomBytes(32), Alg.AES, 256],
      [randomBytes(16), Alg.DES3, 112],
      [randomBytes(24), Alg.DES3, 168],
      [randomBytes(24), Alg.DES3, 192],
      [randomBytes(32), Alg.ChaCha20, 256],
      [randomBytes(20), Alg.HMAC_SHA1, 160],
      [randomBytes(64), Alg.HMAC_SHA256, 512],
      [randomBytes(10), Alg.SKIPJACK, 80],
    ] as const)
      assert.ok(await register(key, { alg, len }))
  })
})
