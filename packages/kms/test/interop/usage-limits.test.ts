// Concurrent changes to one object: the Usage Limits allowance (KMIP 1.4 §3.21) of a key is never
// exceeded when many connections use it at once, and no attribute change made meanwhile is lost.
// Runs against a real `ward kms` over mutual TLS.
import assert from 'node:assert/strict'
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
  long,
  bytes,
  find,
  findAll,
  optionalValue,
} from '@ward/kmip'
import type { KmipTestClient } from '../../src/testing.js'
import { startFixture, P, uid, idOf } from '../helpers.js'
import type { Fixture } from '../helpers.js'

describe('Usage Limits under concurrent use', () => {
  let f: Fixture
  let clients: KmipTestClient[]
  before(async () => {
    f = await startFixture()
    await f.tls('user')
    clients = await Promise.all(Array.from({ length: 8 }, () => f.client('user', 2, 1)))
  })
  after(async () => {
    await f.close()
  })

  const limitedKey = async (c: KmipTestClient, total: number, unit: number) => {
    const id = idOf(
      await c.call(
        Operation.Create,
        P(
          enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
          structure(Tag.Attributes, [
            enumeration(Tag.CryptographicAlgorithm, Alg.AES),
            int(Tag.CryptographicLength, 256),
            int(Tag.CryptographicUsageMask, 12),
            structure(Tag.UsageLimits, [
              long(Tag.UsageLimitsTotal, total),
              long(Tag.UsageLimitsCount, total),
              enumeration(Tag.UsageLimitsUnit, unit),
            ]),
          ]),
        ),
      ),
    )
    await c.call(Operation.Activate, P(uid(id)))
    return id
  }
  const countLeft = async (c: KmipTestClient, id: string) => {
    const attrs = find(
      await c.call(
        Operation.GetAttributes,
        P(uid(id), enumeration(Tag.AttributeReference, Tag.UsageLimits)),
      ),
      Tag.Attributes,
    )
    return optionalValue(find(attrs, Tag.UsageLimits), Tag.UsageLimitsCount, 'LongInteger')
  }

  test('40 concurrent 100-byte Encrypts against a 1000-byte allowance: exactly 10 succeed', async () => {
    const id = await limitedKey(clients[0]!, 1000, 1)
    const results = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) =>
        clients[i % clients.length]!.call(
          Operation.Encrypt,
          P(
            uid(id),
            structure(Tag.CryptographicParameters, [enumeration(Tag.BlockCipherMode, 9)]),
            bytes(Tag.Data, Buffer.alloc(100, i)),
          ),
        ),
      ),
    )
    const ok = results.filter((r) => r.status === 'fulfilled').length
    assert.equal(ok, 10, 'the allowance is spent exactly once')
    for (const r of results)
      if (r.status === 'rejected')
        assert.equal((r.reason as { reason?: number }).reason, ResultReason.PermissionDenied)
    assert.equal(await countLeft(clients[0]!, id), 0n)
  })

  test('an attribute added while the key is in use is kept', async () => {
    const id = await limitedKey(clients[0]!, 1_000_000, 1)
    await Promise.all([
      ...Array.from({ length: 16 }, (_, i) =>
        clients[i % clients.length]!.call(
          Operation.Encrypt,
          P(
            uid(id),
            structure(Tag.CryptographicParameters, [enumeration(Tag.BlockCipherMode, 9)]),
            bytes(Tag.Data, Buffer.alloc(10, i)),
          ),
        ),
      ),
      clients[1]!.call(
        Operation.AddAttribute,
        P(
          uid(id),
          structure(Tag.NewAttribute, [
            structure(Tag.Name, [
              text(Tag.NameValue, 'added-during-use'),
              enumeration(Tag.NameType, 1),
            ]),
          ]),
        ),
      ),
    ])
    const attrs = find(
      await clients[0]!.call(
        Operation.GetAttributes,
        P(uid(id), enumeration(Tag.AttributeReference, Tag.Name)),
      ),
      Tag.Attributes,
    )
    const names = findAll(attrs, Tag.Name).map((n) => optionalValue(n, Tag.NameValue, 'TextString'))
    assert.deepEqual(names, ['added-during-use'])
    assert.equal(await countLeft(clients[0]!, id), 1_000_000n - 160n)
  })

  test('20 concurrent AddAttributes on one key: none is lost', async () => {
    const id = await limitedKey(clients[0]!, 1000, 1)
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        clients[i % clients.length]!.call(
          Operation.AddAttribute,
          P(
            uid(id),
            structure(Tag.NewAttribute, [
              structure(Tag.Name, [text(Tag.NameValue, `name-${i}`), enumeration(Tag.NameType, 1)]),
            ]),
          ),
        ),
      ),
    )
    const attrs = find(
      await clients[0]!.call(
        Operation.GetAttributes,
        P(uid(id), enumeration(Tag.AttributeReference, Tag.Name)),
      ),
      Tag.Attributes,
    )
    const names = findAll(attrs, Tag.Name)
      .map((n) => optionalValue(n, Tag.NameValue, 'TextString') ?? '')
      .sort()
    assert.deepEqual(names, Array.from({ length: 20 }, (_, i) => `name-${i}`).sort())
  })
})
