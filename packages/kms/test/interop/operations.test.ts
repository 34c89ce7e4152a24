/**
 * The operations beyond the PyKMIP/vCenter flows, in KMIP 2.1 and 1.4 forms: CreateKeyPair
 * (RSA, EC) + Sign/SignatureVerify, HMAC MAC/MACVerify, Register (symmetric, opaque), ReKey,
 * Get in Transparent formats and wrapped (AES-KW, AES-KWP, RSA-OAEP), vendor attributes and
 * SetAttribute in 2.x, Modify/Delete in 1.x, Locate offset/maximum, RNG Retrieve, secret data,
 * Revoke(compromise) → Compromised → Destroyed Compromised, activation by date.
 */
import assert from 'node:assert/strict'
import {
  constants,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  privateDecrypt,
  randomBytes,
  verify,
} from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import {
  Tag,
  Operation,
  ObjectType,
  CryptographicAlgorithm as Alg,
  State,
  KeyFormatType,
  BlockCipherMode,
  structure,
  text,
  enumeration,
  int,
  bytes,
  optionalValue,
  requiredValue,
  find,
  findAll,
  date,
} from '@ward/kmip'
import type { KmipTestClient, TtlvItem } from '../../src/testing.js'
import { startFixture, P, uid, idOf, attr1, attrs2, registerSymmetric } from '../helpers.js'
import type { Fixture } from '../helpers.js'

const keyBlock = (r: TtlvItem | undefined, objTag: number) => find(find(r, objTag), Tag.KeyBlock)

describe('operations (KMIP 2.1)', () => {
  let f: Fixture
  let c: KmipTestClient
  before(async () => {
    f = await startFixture()
    c = await f.client('ops', 2, 1)
  })
  after(async () => {
    await f.close()
  })

  const activate = (id: string) => c.call(Operation.Activate, P(uid(id)))

  test('RSA and EC key pairs sign and verify; public key exports verify locally', async () => {
    for (const [alg, extra] of [
      [Alg.RSA, int(Tag.CryptographicLength, 2048)],
      [Alg.EC, int(Tag.CryptographicLength, 384)],
    ] as const) {
      const r = await c.call(
        Operation.CreateKeyPair,
        P(
          structure(Tag.CommonAttributes, [
            enumeration(Tag.CryptographicAlgorithm, alg),
            extra,
            int(Tag.CryptographicUsageMask, 3),
          ]),
        ),
      )
      const sk = requiredValue(r, Tag.PrivateKeyUniqueIdentifier, 'TextString')
      const pk = requiredValue(r, Tag.PublicKeyUniqueIdentifier, 'TextString')
      await activate(sk)
      await activate(pk)
      const msg = Buffer.from('sign me')
      const params = structure(Tag.CryptographicParameters, [
        enumeration(Tag.DigitalSignatureAlgorithm, alg === Alg.RSA ? 5 : 15),
      ])
      const sig = requiredValue(
        await c.call(Operation.Sign, P(uid(sk), params, bytes(Tag.Data, msg))),
        Tag.SignatureData,
        'ByteString',
      )
      const v = await c.call(
        Operation.SignatureVerify,
        P(uid(pk), params, bytes(Tag.Data, msg), bytes(Tag.SignatureData, sig)),
      )
      assert.equal(optionalValue(v, Tag.ValidityIndicator, 'Enumeration'), 1)
      const bad = await c.call(
        Operation.SignatureVerify,
        P(uid(pk), params, bytes(Tag.Data, Buffer.from('other')), bytes(Tag.SignatureData, sig)),
      )
      assert.equal(optionalValue(bad, Tag.ValidityIndicator, 'Enumeration'), 2)
      const spki = requiredValue(
        find(
          keyBlock(
            await c.call(
              Operation.Get,
              P(uid(pk), enumeration(Tag.KeyFormatType, KeyFormatType.X_509)),
            ),
            Tag.PublicKey,
          ),
          Tag.KeyValue,
        ),
        Tag.KeyMaterial,
        'ByteString',
      )
      const pub = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' })
      assert.ok(verify(alg === Alg.RSA ? 'sha256' : 'sha384', msg, pub, sig))
      // Transparent private key for RSA / EC
      const tf =
        alg === Alg.RSA
          ? KeyFormatType.TransparentRSAPrivateKey
          : KeyFormatType.TransparentECPrivateKey
      const t = keyBlock(
        await c.call(Operation.Get, P(uid(sk), enumeration(Tag.KeyFormatType, tf))),
        Tag.PrivateKey,
      )
      assert.equal(optionalValue(t, Tag.KeyFormatType, 'Enumeration'), tf)
      assert.ok(
        find(
          find(find(t, Tag.KeyValue), Tag.KeyMaterial),
          alg === Alg.RSA ? Tag.Modulus : Tag.D,
        ) !== undefined,
      )
    }
  })

  test('HMAC MAC / MACVerify', async () => {
    const id = idOf(
      await c.call(
        Operation.Create,
        P(
          enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
          attrs2(
            enumeration(Tag.CryptographicAlgorithm, Alg.HMAC_SHA256),
            int(Tag.CryptographicLength, 256),
          ),
        ),
      ),
    )
    await activate(id)
    const m = requiredValue(
      await c.call(Operation.MAC, P(uid(id), bytes(Tag.Data, Buffer.from('x')))),
      Tag.MACData,
      'ByteString',
    )
    assert.equal(m.length, 32)
    const ok = await c.call(
      Operation.MACVerify,
      P(uid(id), bytes(Tag.Data, Buffer.from('x')), bytes(Tag.MACData, m)),
    )
    assert.equal(optionalValue(ok, Tag.ValidityIndicator, 'Enumeration'), 1)
    const no = await c.call(
      Operation.MACVerify,
      P(uid(id), bytes(Tag.Data, Buffer.from('y')), bytes(Tag.MACData, m)),
    )
    assert.equal(optionalValue(no, Tag.ValidityIndicator, 'Enumeration'), 2)
  })

  test('Get wrapped with AES-KW, AES-KWP and RSA-OAEP unwraps to the key', async () => {
    const key = randomBytes(32)
    const target = idOf(
      await c.call(Operation.Register, registerSymmetric({ key: key, usage: 12 })),
    )
    const kek = randomBytes(32)
    const kekId = idOf(await c.call(Operation.Register, registerSymmetric({ key: kek, usage: 16 })))
    await activate(kekId)
    for (const [mode, cipher, iv] of [
      [BlockCipherMode.NISTKeyWrap, 'id-aes256-wrap', 'a6a6a6a6a6a6a6a6'],
      [BlockCipherMode.AESKeyWrapPadding, 'id-aes256-wrap-pad', 'a65959a6'],
    ] as const) {
      const spec = structure(Tag.KeyWrappingSpecification, [
        enumeration(Tag.WrappingMethod, 1),
        structure(Tag.EncryptionKeyInformation, [
          uid(kekId),
          structure(Tag.CryptographicParameters, [enumeration(Tag.BlockCipherMode, mode)]),
        ]),
        enumeration(Tag.EncodingOption, 1),
      ])
      const kb = keyBlock(await c.call(Operation.Get, P(uid(target), spec)), Tag.SymmetricKey)
      const wrapped = requiredValue(kb, Tag.KeyValue, 'ByteString')
      const d = createDecipheriv(cipher, kek, Buffer.from(iv, 'hex'))
      assert.deepEqual(Buffer.concat([d.update(wrapped), d.final()]), key)
      assert.ok(find(kb, Tag.KeyWrappingData) !== undefined)
    }
    const r = await c.call(
      Operation.CreateKeyPair,
      P(
        structure(Tag.CommonAttributes, [
          enumeration(Tag.CryptographicAlgorithm, Alg.RSA),
          int(Tag.CryptographicLength, 2048),
        ]),
      ),
    )
    const sk = requiredValue(r, Tag.PrivateKeyUniqueIdentifier, 'TextString')
    const pk = requiredValue(r, Tag.PublicKeyUniqueIdentifier, 'TextString')
    await activate(pk)
    const spec = structure(Tag.KeyWrappingSpecification, [
      enumeration(Tag.WrappingMethod, 1),
      structure(Tag.EncryptionKeyInformation, [
        uid(pk),
        structure(Tag.CryptographicParameters, [
          enumeration(Tag.PaddingMethod, 2),
          enumeration(Tag.HashingAlgorithm, 6),
        ]),
      ]),
      enumeration(Tag.EncodingOption, 1),
    ])
    const wrapped = requiredValue(
      keyBlock(await c.call(Operation.Get, P(uid(target), spec)), Tag.SymmetricKey),
      Tag.KeyValue,
      'ByteString',
    )
    const skDer = requiredValue(
      find(
        keyBlock(
          await c.call(
            Operation.Get,
            P(uid(sk), enumeration(Tag.KeyFormatType, KeyFormatType.PKCS_8)),
          ),
          Tag.PrivateKey,
        ),
        Tag.KeyValue,
      ),
      Tag.KeyMaterial,
      'ByteString',
    )
    const priv = createPrivateKey({ key: Buffer.from(skDer), format: 'der', type: 'pkcs8' })
    assert.deepEqual(
      privateDecrypt(
        { key: priv, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
        wrapped,
      ),
      key,
    )
    // Transparent symmetric
    const t = keyBlock(
      await c.call(
        Operation.Get,
        P(uid(target), enumeration(Tag.KeyFormatType, KeyFormatType.TransparentSymmetricKey)),
      ),
      Tag.SymmetricKey,
    )
    assert.deepEqual(
      Buffer.from(
        requiredValue(find(find(t, Tag.KeyValue), Tag.KeyMaterial), Tag.Key, 'ByteString'),
      ),
      key,
    )
  })

  test('vendor attributes and SetAttribute (2.x forms), Locate with offset/maximum', async () => {
    const mk = () =>
      c.call(
        Operation.Create,
        P(
          enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
          attrs2(
            enumeration(Tag.CryptographicAlgorithm, Alg.AES),
            int(Tag.CryptographicLength, 128),
            structure(Tag.Name, [text(Tag.NameValue, 'group-2x'), enumeration(Tag.NameType, 1)]),
          ),
        ),
      )
    const ids = [idOf(await mk()), idOf(await mk()), idOf(await mk())]
    const vendor = structure(Tag.Attribute, [
      text(Tag.VendorIdentification, 'x'),
      text(Tag.AttributeName, 'Product'),
      text(Tag.AttributeValue, 'VMware vSphere'),
    ])
    await c.call(Operation.AddAttribute, P(uid(ids[0]!), structure(Tag.NewAttribute, [vendor])))
    const ga = await c.call(
      Operation.GetAttributes,
      P(
        uid(ids[0]!),
        structure(Tag.AttributeReference, [
          text(Tag.VendorIdentification, 'x'),
          text(Tag.AttributeName, 'Product'),
        ]),
      ),
    )
    const got = find(find(ga, Tag.Attributes), Tag.Attribute)
    assert.equal(optionalValue(got, Tag.AttributeValue, 'TextString'), 'VMware vSphere')
    await c.call(
      Operation.SetAttribute,
      P(uid(ids[0]!), structure(Tag.NewAttribute, [text(Tag.ContactInformation, 'ops@example')])),
    )
    const ci = await c.call(
      Operation.GetAttributes,
      P(uid(ids[0]!), enumeration(Tag.AttributeReference, Tag.ContactInformation)),
    )
    assert.equal(
      optionalValue(find(ci, Tag.Attributes), Tag.ContactInformation, 'TextString'),
      'ops@example',
    )
    await assert.rejects(
      c.call(
        Operation.SetAttribute,
        P(uid(ids[0]!), structure(Tag.NewAttribute, [enumeration(Tag.State, State.Active)])),
      ),
    )
    const loc = await c.call(
      Operation.Locate,
      P(
        int(Tag.OffsetItems, 1),
        int(Tag.MaximumItems, 1),
        attrs2(
          structure(Tag.Name, [text(Tag.NameValue, 'group-2x'), enumeration(Tag.NameType, 1)]),
        ),
      ),
    )
    assert.equal(optionalValue(loc, Tag.LocatedItems, 'Integer'), 3)
    assert.deepEqual(
      findAll(loc, Tag.UniqueIdentifier).map((x) => x.value),
      [ids[1]],
    )
  })

  test('lifecycle: activation date, compromise, tombstones, ReKey, RNG, secret data', async () => {
    const past = BigInt(Math.floor(Date.now() / 1000) - 10)
    const id = idOf(
      await c.call(
        Operation.Create,
        P(
          enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
          attrs2(
            enumeration(Tag.CryptographicAlgorithm, Alg.AES),
            int(Tag.CryptographicLength, 192),
            date(Tag.ActivationDate, past),
          ),
        ),
      ),
    )
    const st = async (x: string) =>
      optionalValue(
        find(
          await c.call(
            Operation.GetAttributes,
            P(uid(x), enumeration(Tag.AttributeReference, Tag.State)),
          ),
          Tag.Attributes,
        ),
        Tag.State,
        'Enumeration',
      )
    assert.equal(await st(id), State.Active, 'activation date in the past reads Active')
    const old = idOf(
      await c.call(
        Operation.Create,
        P(
          enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
          attrs2(
            enumeration(Tag.CryptographicAlgorithm, Alg.AES),
            int(Tag.CryptographicLength, 256),
            date(Tag.ActivationDate, past - 5n),
            date(Tag.DeactivationDate, past),
          ),
        ),
      ),
    )
    assert.equal(
      await st(old),
      State.Deactivated,
      'an Active key past its Deactivation Date reads Deactivated',
    )
    await assert.rejects(
      c.call(Operation.Encrypt, P(uid(old), bytes(Tag.Data, Buffer.from('x')))),
      (e: { reason?: number }) => e.reason === 0x43,
    )
    const nid = idOf(await c.call(Operation.ReKey, P(uid(id))))
    assert.notEqual(nid, id)
    await c.call(
      Operation.Revoke,
      P(uid(id), structure(Tag.RevocationReason, [enumeration(Tag.RevocationReasonCode, 2)])),
    )
    assert.equal(await st(id), State.Compromised)
    await c.call(Operation.Destroy, P(uid(id)))
    assert.equal(await st(id), State.DestroyedCompromised)
    await assert.rejects(c.call(Operation.Get, P(uid(id))))
    // Encrypt refused on a Pre-Active key with Wrong Key Lifecycle State (2.x)
    const pre = idOf(
      await c.call(
        Operation.Create,
        P(
          enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
          attrs2(
            enumeration(Tag.CryptographicAlgorithm, Alg.AES),
            int(Tag.CryptographicLength, 256),
          ),
        ),
      ),
    )
    await assert.rejects(
      c.call(Operation.Encrypt, P(uid(pre), bytes(Tag.Data, Buffer.from('x')))),
      (e: { reason?: number }) => e.reason === 0x43,
    )
    const rng = await c.call(Operation.RNGRetrieve, P(int(Tag.DataLength, 48)))
    assert.equal(requiredValue(rng, Tag.Data, 'ByteString').length, 48)
    const sd = idOf(
      await c.call(
        Operation.Create,
        P(
          enumeration(Tag.ObjectType, ObjectType.SecretData),
          attrs2(int(Tag.CryptographicLength, 256)),
        ),
      ),
    )
    const g = await c.call(Operation.Get, P(uid(sd)))
    assert.equal(
      requiredValue(
        find(find(find(g, Tag.SecretData), Tag.KeyBlock), Tag.KeyValue),
        Tag.KeyMaterial,
        'ByteString',
      ).length,
      32,
    )
    const op = idOf(
      await c.call(
        Operation.Register,
        P(
          enumeration(Tag.ObjectType, ObjectType.OpaqueObject),
          attrs2(),
          structure(Tag.OpaqueObject, [
            enumeration(Tag.OpaqueDataType, 0x80000001),
            bytes(Tag.OpaqueDataValue, Buffer.from('blob')),
          ]),
        ),
      ),
    )
    assert.deepEqual(
      Buffer.from(
        requiredValue(
          find(await c.call(Operation.Get, P(uid(op))), Tag.OpaqueObject),
          Tag.OpaqueDataValue,
          'ByteString',
        ),
      ),
      Buffer.from('blob'),
    )
  })

  test('1.x Modify/Delete attribute with indexes; Get Attribute List', async () => {
    const c1 = await f.client('ops', 1, 2)
    const id = idOf(
      await c1.call(
        Operation.Create,
        P(
          enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
          structure(Tag.TemplateAttribute, [
            attr1('Cryptographic Algorithm', enumeration(0, Alg.AES)),
            attr1('Cryptographic Length', int(0, 256)),
          ]),
        ),
      ),
    )
    await c1.call(Operation.AddAttribute, P(uid(id), attr1('x-tag', text(0, 'a'))))
    const added = await c1.call(Operation.AddAttribute, P(uid(id), attr1('x-tag', text(0, 'b'))))
    assert.equal(optionalValue(find(added, Tag.Attribute), Tag.AttributeIndex, 'Integer'), 1)
    await c1.call(
      Operation.ModifyAttribute,
      P(
        uid(id),
        structure(Tag.Attribute, [
          text(Tag.AttributeName, 'x-tag'),
          int(Tag.AttributeIndex, 1),
          text(Tag.AttributeValue, 'B'),
        ]),
      ),
    )
    await c1.call(
      Operation.DeleteAttribute,
      P(uid(id), text(Tag.AttributeName, 'x-tag'), int(Tag.AttributeIndex, 0)),
    )
    const ga = await c1.call(Operation.GetAttributes, P(uid(id), text(Tag.AttributeName, 'x-tag')))
    assert.deepEqual(
      findAll(ga, Tag.Attribute).map((a) => optionalValue(a, Tag.AttributeValue, 'TextString')),
      ['B'],
    )
    const list = await c1.call(Operation.GetAttributeList, P(uid(id)))
    const names = findAll(list, Tag.AttributeName).map((x) => x.value)
    for (const n of ['Unique Identifier', 'State', 'Cryptographic Algorithm', 'x-tag'])
      assert.ok(names.includes(n), n)
    await assert.rejects(
      c1.call(Operation.ModifyAttribute, P(uid(id), attr1('State', enumeration(0, 2)))),
    )
  })
})
