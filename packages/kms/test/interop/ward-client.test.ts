import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import {
  Tag,
  Operation,
  State,
  BlockCipherMode,
  PaddingMethod,
  structure,
  text,
  enumeration,
  int,
  bytes,
  optionalValue,
  requiredValue,
  find,
  findAll,
} from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'
import { startFixture, uid, attr1, createAes, requestMessage } from '../helpers.js'
import type { Fixture } from '../helpers.js'

const payload = (...c: (TtlvItem | undefined)[]) => structure(Tag.RequestPayload, c)

/** Encrypt and Decrypt. */
const usage12 = attr1('Cryptographic Usage Mask', int(0, 12))

describe('ward kms with the test client (KMIP 1.4 and 2.1)', () => {
  let f: Fixture
  before(async () => {
    f = await startFixture()
  })
  after(async () => {
    await f.close()
  })

  test('create, get, lifecycle, attributes, locate (1.4)', async () => {
    const c = await f.client('alice')
    const r = await c.call(
      Operation.Create,
      createAes({
        extra: [
          usage12,
          attr1(
            'Name',
            structure(0, [text(Tag.NameValue, 'k-alice'), enumeration(Tag.NameType, 1)]),
          ),
        ],
      }),
    )
    const id = requiredValue(r, Tag.UniqueIdentifier, 'TextString')
    const g = await c.call(Operation.Get, payload(uid(id)))
    const kv = find(find(find(g, Tag.SymmetricKey), Tag.KeyBlock), Tag.KeyValue)
    const km = requiredValue(kv, Tag.KeyMaterial, 'ByteString')
    assert.equal(km.length, 32)
    const ga = await c.call(
      Operation.GetAttributes,
      payload(uid(id), text(Tag.AttributeName, 'State')),
    )
    const st = findAll(ga, Tag.Attribute).map((a) =>
      optionalValue(a, Tag.AttributeValue, 'Enumeration'),
    )
    assert.deepEqual(st, [State.PreActive])
    await c.call(Operation.Activate, payload(uid(id)))
    const loc = await c.call(
      Operation.Locate,
      payload(
        attr1('Name', structure(0, [text(Tag.NameValue, 'k-alice'), enumeration(Tag.NameType, 1)])),
      ),
    )
    assert.deepEqual(
      findAll(loc, Tag.UniqueIdentifier).map((x) => x.value),
      [id],
    )
    // AES-GCM and CBC round trips
    const pt = Buffer.from('hello kms')
    const e = await c.call(
      Operation.Encrypt,
      payload(
        uid(id),
        structure(Tag.CryptographicParameters, [
          enumeration(Tag.BlockCipherMode, BlockCipherMode.GCM),
        ]),
        bytes(Tag.Data, pt),
      ),
    )
    const d = await c.call(
      Operation.Decrypt,
      payload(
        uid(id),
        structure(Tag.CryptographicParameters, [
          enumeration(Tag.BlockCipherMode, BlockCipherMode.GCM),
        ]),
        bytes(Tag.Data, requiredValue(e, Tag.Data, 'ByteString')),
        bytes(Tag.IVCounterNonce, requiredValue(e, Tag.IVCounterNonce, 'ByteString')),
        bytes(
          Tag.AuthenticatedEncryptionTag,
          requiredValue(e, Tag.AuthenticatedEncryptionTag, 'ByteString'),
        ),
      ),
    )
    assert.deepEqual(Buffer.from(requiredValue(d, Tag.Data, 'ByteString')), pt)
    const cbc = structure(Tag.CryptographicParameters, [
      enumeration(Tag.BlockCipherMode, BlockCipherMode.CBC),
      enumeration(Tag.PaddingMethod, PaddingMethod.PKCS5),
    ])
    const e2 = await c.call(Operation.Encrypt, payload(uid(id), cbc, bytes(Tag.Data, pt)))
    const d2 = await c.call(
      Operation.Decrypt,
      payload(
        uid(id),
        cbc,
        bytes(Tag.Data, requiredValue(e2, Tag.Data, 'ByteString')),
        bytes(Tag.IVCounterNonce, requiredValue(e2, Tag.IVCounterNonce, 'ByteString')),
      ),
    )
    assert.deepEqual(Buffer.from(requiredValue(d2, Tag.Data, 'ByteString')), pt)
    // Destroy of an Active key is refused; Revoke then Destroy leaves a tombstone
    await assert.rejects(c.call(Operation.Destroy, payload(uid(id))))
    await c.call(
      Operation.Revoke,
      payload(uid(id), structure(Tag.RevocationReason, [enumeration(Tag.RevocationReasonCode, 6)])),
    )
    await c.call(Operation.Destroy, payload(uid(id)))
    await assert.rejects(c.call(Operation.Get, payload(uid(id))))
    const ga2 = await c.call(
      Operation.GetAttributes,
      payload(uid(id), text(Tag.AttributeName, 'State')),
    )
    assert.deepEqual(
      findAll(ga2, Tag.Attribute).map((a) => optionalValue(a, Tag.AttributeValue, 'Enumeration')),
      [State.Destroyed],
    )
  })
})

describe('connection handling', () => {
  let f: Fixture
  before(async () => {
    f = await startFixture({ idleTimeoutMs: 400 })
  })
  after(async () => {
    await f.close()
  })

  test('pipelined messages on one connection are answered in order', async () => {
    const c = await f.client('pipeline', 2, 1)
    const { decodeTtlv, parseResponse } = await import('../../src/testing.js')
    const msg = (q: number) =>
      requestMessage(
        Operation.RNGRetrieve,
        structure(Tag.RequestPayload, [int(Tag.DataLength, q)]),
        {
          version: [2, 1],
        },
      )
    // three messages in one write; responses come back one frame each, in order
    const all = Buffer.concat([msg(8), msg(16), msg(24)])
    const first = c.sendRaw(all)
    const second = c.sendRaw(new Uint8Array(0))
    const third = c.sendRaw(new Uint8Array(0))
    const lens = (await Promise.all([first, second, third])).map(
      (b) => requiredValue(parseResponse(decodeTtlv(b))[0]!.payload, Tag.Data, 'ByteString').length,
    )
    assert.deepEqual(lens, [8, 16, 24])
  })

  test('idle connections are closed', async () => {
    const c = await f.client('idle')
    await new Promise((r) => setTimeout(r, 800))
    await assert.rejects(
      c.call(Operation.Query, payload(enumeration(Tag.QueryFunction, 3))),
      /closed|EPIPE|ECONNRESET/,
    )
  })
})
