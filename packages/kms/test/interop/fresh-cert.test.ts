// Fresh / Lease Time across Get, the 2.x derived attributes (Short Unique Identifier, Protection
// Storage Mask) and the certificate attributes set at Register (docs/kmip-conformance.md item 2
// and 15). Runs against a real `ward kms` over mutual TLS.
import assert from 'node:assert/strict'
import { createHash, randomBytes, X509Certificate } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import {
  Tag,
  Operation,
  ObjectType,
  CryptographicAlgorithm as Alg,
  ResultReason,
  structure,
  text,
  enumeration,
  int,
  bytes,
  bool,
  optionalValue,
  requiredValue,
  find,
} from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'
import type { KmipTestClient } from '../../src/testing.js'
import { startFixture, P, uid, idOf, registerSymmetric } from '../helpers.js'
import type { Fixture } from '../helpers.js'

const ref = (tag: number) => enumeration(Tag.AttributeReference, tag)

describe('Fresh, Lease Time, 2.x derived attributes, certificate attributes', () => {
  let f: Fixture
  let c: KmipTestClient
  let c10: KmipTestClient
  before(async () => {
    f = await startFixture()
    c = await f.client('fresh', 2, 1)
    c10 = await f.client('fresh', 1, 0)
  })
  after(async () => {
    await f.close()
  })

  const getAttrs = async (id: string, ...tags: number[]) =>
    find(await c.call(Operation.GetAttributes, P(uid(id), ...tags.map(ref))), Tag.Attributes)
  const create = async () =>
    idOf(
      await c.call(
        Operation.Create,
        P(
          enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
          structure(Tag.Attributes, [
            enumeration(Tag.CryptographicAlgorithm, Alg.AES),
            int(Tag.CryptographicLength, 256),
            int(Tag.CryptographicUsageMask, 12),
          ]),
        ),
      ),
    )
  const registerKey = async (extra: TtlvItem[]) =>
    idOf(
      await c.call(
        Operation.Register,
        registerSymmetric({ key: randomBytes(32), usage: 12, extra }),
      ),
    )
  const registerCert = async (der: Uint8Array) =>
    idOf(
      await c.call(
        Operation.Register,
        P(
          enumeration(Tag.ObjectType, ObjectType.Certificate),
          structure(Tag.Attributes, []),
          structure(Tag.Certificate, [
            enumeration(Tag.CertificateType, 1),
            bytes(Tag.CertificateValue, der),
          ]),
        ),
      ),
    )

  test('a created key is Fresh until its first Get; the Get sets Lease Time; later Gets change nothing', async () => {
    const id = await create()
    let a = await getAttrs(id, Tag.Fresh, Tag.LeaseTime)
    assert.equal(optionalValue(a, Tag.Fresh, 'Boolean'), true)
    assert.equal(find(a, Tag.LeaseTime), undefined)
    await c.call(Operation.Get, P(uid(id)))
    a = await getAttrs(id, Tag.Fresh, Tag.LeaseTime, Tag.LastChangeDate)
    assert.equal(optionalValue(a, Tag.Fresh, 'Boolean'), false)
    assert.equal(optionalValue(a, Tag.LeaseTime, 'Interval'), 3600)
    await c.call(Operation.Get, P(uid(id)))
    assert.deepEqual(await getAttrs(id, Tag.Fresh, Tag.LeaseTime, Tag.LastChangeDate), a)
    // a refused Get (Sensitive, unwrapped) returns nothing, so the key stays Fresh
    const sid = await registerKey([bool(Tag.Sensitive, true)])
    await assert.rejects(c.call(Operation.Get, P(uid(sid))))
    assert.equal(optionalValue(await getAttrs(sid, Tag.Fresh), Tag.Fresh, 'Boolean'), true)
  })

  test('Fresh may be set at Register but never modified; KMIP 1.0 clients do not see it', async () => {
    const id = await registerKey([bool(Tag.Fresh, false)])
    assert.equal(optionalValue(await getAttrs(id, Tag.Fresh), Tag.Fresh, 'Boolean'), false)
    await assert.rejects(
      c.call(
        Operation.SetAttribute,
        P(uid(id), structure(Tag.NewAttribute, [bool(Tag.Fresh, true)])),
      ),
    )
    const list = await c10.call(Operation.GetAttributeList, P(uid(id)))
    const names = (list?.type === 'Structure' ? list.value : []).map((i) => i.value)
    assert.ok(names.includes('Cryptographic Usage Mask'))
    assert.ok(!names.includes('Fresh'))
  })

  test('2.x: Short Unique Identifier is SHA-256 of the Unique Identifier; Protection Storage Mask Software', async () => {
    const id = await create()
    const a = await getAttrs(id, Tag.ShortUniqueIdentifier, Tag.ProtectionStorageMask)
    assert.deepEqual(
      Buffer.from(requiredValue(a, Tag.ShortUniqueIdentifier, 'ByteString')),
      createHash('sha256').update(id).digest(),
    )
    assert.equal(optionalValue(a, Tag.ProtectionStorageMask, 'Integer'), 1)
  })

  test('a registered X.509 certificate gets Certificate Length and Subject CN; garbage is refused', async () => {
    const tls = await f.tls('cert-subject')
    const cert = new X509Certificate(tls.cert)
    const id = await registerCert(cert.raw)
    const a = await getAttrs(id, Tag.CertificateLength, Tag.CertificateSubjectCN)
    assert.equal(optionalValue(a, Tag.CertificateLength, 'Integer'), cert.raw.length)
    assert.equal(optionalValue(a, Tag.CertificateSubjectCN, 'TextString'), 'cert-subject')
    await assert.rejects(registerCert(randomBytes(64)), (e: { reason?: number }) => {
      assert.equal(e.reason, ResultReason.InvalidField)
      return true
    })
  })

  test('Check: usage mask subset, Usage Limits Count and Lease Time; nothing is consumed', async () => {
    const id = await create() // usage mask Encrypt|Decrypt (12)
    const chk = (...items: TtlvItem[]) => c.call(Operation.Check, P(uid(id), ...items))
    assert.equal(idOf(await chk(int(Tag.CryptographicUsageMask, 8))), id)
    await assert.rejects(chk(int(Tag.CryptographicUsageMask, 1)), (e: { reason?: number }) => {
      assert.equal(e.reason, ResultReason.IncompatibleCryptographicUsageMask)
      return true
    })
    await c.call(Operation.Get, P(uid(id))) // starts a 3600 s lease
    assert.equal(idOf(await chk({ tag: Tag.LeaseTime, type: 'Interval', value: 3600 })), id)
    await assert.rejects(chk({ tag: Tag.LeaseTime, type: 'Interval', value: 3601 }))
    await assert.rejects(c.call(Operation.Check, P(uid('no-such-object'))))
  })

  test('Add Attribute of a Name the object already has: Non Unique Name Attribute; another Name is added', async () => {
    const id = await create()
    const name = (v: string) =>
      structure(Tag.NewAttribute, [
        structure(Tag.Name, [text(Tag.NameValue, v), enumeration(Tag.NameType, 1)]),
      ])
    await c.call(Operation.AddAttribute, P(uid(id), name('k3-a')))
    await assert.rejects(
      c.call(Operation.AddAttribute, P(uid(id), name('k3-a'))),
      (e: { reason?: number }) => {
        assert.equal(e.reason, ResultReason.NonUniqueNameAttribute)
        return true
      },
    )
    await c.call(Operation.AddAttribute, P(uid(id), name('k3-b')))
    const a = await getAttrs(id, Tag.Name)
    const names = (a?.type === 'Structure' ? a.value : []).map((n) =>
      optionalValue(n, Tag.NameValue, 'TextString'),
    )
    assert.deepEqual(names.sort(), ['k3-a', 'k3-b'])
  })
})
