/**
 * vCenter's Standard Key Provider sequence (shared reference kmip-notes.md §1, from a vCenter
 * 7.0.3 capture): KMIP 1.1 headers, a new TLS connection per task, DiscoverVersions first, then
 * Query(Server Information), Create AES-256 (usage Encrypt|Decrypt), GetAttributes of
 * x-Product_Version, ONE batch of three AddAttribute with Unique Batch Item IDs `QLKC\x01\0\0\0`…,
 * Get (Raw) and Activate. Every item must succeed (PyKMIP fails the batch; we must not).
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { KmipTestClient } from '../../src/testing.js'
import {
  Tag,
  encodeTtlv,
  Operation,
  ObjectType,
  CryptographicAlgorithm,
  State,
  structure,
  text,
  enumeration,
  int,
  optionalValue,
  requiredValue,
  find,
  findAll,
} from '@ward/kmip'
import { startFixture, attr1 } from '../helpers.js'
import type { Fixture } from '../helpers.js'
import { repoRoot } from './pg.js'

const vec = JSON.parse(
  readFileSync(join(repoRoot, 'packages/kms/test/vectors/data/vcenter-sequence.json'), 'utf8'),
) as {
  discoverVersionsRequestHex: string
  attributes: { name: string; value: string }[]
  batchItemIds: string[]
}

describe('vCenter Standard Key Provider sequence (KMIP 1.1)', () => {
  let f: Fixture
  before(async () => {
    f = await startFixture()
  })
  after(async () => {
    await f.close()
  })

  /** One vCenter task: new TLS connection, DiscoverVersions (vCenter's exact bytes), then `fn`. */
  async function task<T>(fn: (c: KmipTestClient) => Promise<T>): Promise<T> {
    const c = await KmipTestClient.connect(f.server.port, await f.tls('vcenter'))
    c.major = 1
    c.minor = 1
    try {
      const wire = Buffer.from(vec.discoverVersionsRequestHex, 'hex')
      const res = (await import('../../src/testing.js')).decodeTtlv(await c.sendRaw(wire))
      const [item] = findAll(res, Tag.BatchItem)
      assert.equal(optionalValue(item, Tag.ResultStatus, 'Enumeration'), 0)
      const hdr = find(find(res, Tag.ResponseHeader), Tag.ProtocolVersion)
      assert.equal(
        optionalValue(hdr, Tag.ProtocolVersionMinor, 'Integer'),
        1,
        'response uses the request version',
      )
      const versions = findAll(find(item, Tag.ResponsePayload), Tag.ProtocolVersion)
      assert.ok(versions.length >= 5, 'offers all versions when asked without a list')
      return await fn(c)
    } finally {
      c.close()
    }
  }

  test('every step and every batch item succeeds', async () => {
    // The DiscoverVersions vector is the request our own builder produces for that message.
    const built = structure(Tag.RequestMessage, [
      structure(Tag.RequestHeader, [
        structure(Tag.ProtocolVersion, [
          int(Tag.ProtocolVersionMajor, 1),
          int(Tag.ProtocolVersionMinor, 1),
        ]),
        int(Tag.BatchCount, 1),
      ]),
      structure(Tag.BatchItem, [
        enumeration(Tag.Operation, Operation.DiscoverVersions),
        structure(Tag.RequestPayload, []),
      ]),
    ])
    assert.equal(Buffer.from(encodeTtlv(built)).toString('hex'), vec.discoverVersionsRequestHex)

    await task(async (c) => {
      const q = await c.call(
        Operation.Query,
        structure(Tag.RequestPayload, [enumeration(Tag.QueryFunction, 3)]),
      )
      assert.equal(optionalValue(q, Tag.VendorIdentification, 'TextString'), 'Ward')
    })
    const id = await task(async (c) => {
      const r = await c.call(
        Operation.Create,
        structure(Tag.RequestPayload, [
          enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
          structure(Tag.TemplateAttribute, [
            attr1('Cryptographic Algorithm', enumeration(0, CryptographicAlgorithm.AES)),
            attr1('Cryptographic Length', int(0, 256)),
            attr1('Cryptographic Usage Mask', int(0, 12)),
          ]),
        ]),
      )
      return requiredValue(r, Tag.UniqueIdentifier, 'TextString')
    })
    await task(async (c) => {
      const r = await c.call(
        Operation.GetAttributes,
        structure(Tag.RequestPayload, [
          text(Tag.UniqueIdentifier, id),
          text(Tag.AttributeName, 'x-Product_Version'),
        ]),
      )
      assert.equal(requiredValue(r, Tag.UniqueIdentifier, 'TextString'), id)
      assert.equal(findAll(r, Tag.Attribute).length, 0, 'not set yet')
    })
    await task(async (c) => {
      const results = await c.batch(
        vec.attributes.map((a, i) => ({
          op: Operation.AddAttribute,
          id: Buffer.from(vec.batchItemIds[i]!, 'hex'),
          payload: structure(Tag.RequestPayload, [
            text(Tag.UniqueIdentifier, id),
            attr1(a.name, text(0, a.value)),
          ]),
        })),
      )
      assert.equal(results.length, 3)
      results.forEach((r, i) => {
        assert.equal(r.status, 0, `item ${i}: ${r.message}`)
        assert.equal(
          Buffer.from(r.batchId!).toString('hex'),
          vec.batchItemIds[i],
          'Unique Batch Item ID echoed',
        )
        assert.equal(r.operation, Operation.AddAttribute)
      })
    })
    await task(async (c) => {
      const r = await c.call(
        Operation.GetAttributes,
        structure(Tag.RequestPayload, [
          text(Tag.UniqueIdentifier, id),
          ...vec.attributes.map((a) => text(Tag.AttributeName, a.name)),
        ]),
      )
      const got = findAll(r, Tag.Attribute).map((a) => [
        optionalValue(a, Tag.AttributeName, 'TextString'),
        optionalValue(a, Tag.AttributeValue, 'TextString'),
      ])
      assert.deepEqual(
        got,
        vec.attributes.map((a) => [a.name, a.value]),
      )
    })
    await task(async (c) => {
      const r = await c.call(
        Operation.Get,
        structure(Tag.RequestPayload, [text(Tag.UniqueIdentifier, id)]),
      )
      const block = find(find(r, Tag.SymmetricKey), Tag.KeyBlock)
      assert.equal(optionalValue(block, Tag.KeyFormatType, 'Enumeration'), 1)
      assert.equal(
        requiredValue(find(block, Tag.KeyValue), Tag.KeyMaterial, 'ByteString').length,
        32,
      )
    })
    await task(async (c) => {
      await c.call(
        Operation.Activate,
        structure(Tag.RequestPayload, [text(Tag.UniqueIdentifier, id)]),
      )
      const r = await c.call(
        Operation.GetAttributes,
        structure(Tag.RequestPayload, [
          text(Tag.UniqueIdentifier, id),
          text(Tag.AttributeName, 'State'),
        ]),
      )
      assert.equal(
        optionalValue(find(r, Tag.Attribute), Tag.AttributeValue, 'Enumeration'),
        State.Active,
      )
    })
  })

  test('batch semantics: ID placeholder, Stop and Continue', async () => {
    const c = await f.client('batcher', 1, 1)
    const create = structure(Tag.RequestPayload, [
      enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      structure(Tag.TemplateAttribute, [
        attr1('Cryptographic Algorithm', enumeration(0, CryptographicAlgorithm.AES)),
        attr1('Cryptographic Length', int(0, 128)),
      ]),
    ])
    const r = await c.batch([
      { op: Operation.Create, payload: create },
      { op: Operation.Activate, payload: structure(Tag.RequestPayload, []) },
    ])
    assert.deepEqual(
      r.map((x) => x.status),
      [0, 0],
      'Activate used the ID placeholder',
    )
    const bad = structure(Tag.RequestPayload, [text(Tag.UniqueIdentifier, 'no-such-object')])
    const stop = await c.batch([
      { op: Operation.Get, payload: bad },
      { op: Operation.Create, payload: create },
    ])
    assert.deepEqual(
      stop.map((x) => x.status),
      [1, 1],
      'Stop (default): later items answered, not run',
    )
    assert.equal(stop[0]!.reason, 1)
    assert.equal(stop[1]!.reason, 9)
    const cont = await c.batch(
      [
        { op: Operation.Get, payload: bad },
        { op: Operation.Create, payload: create },
      ],
      [enumeration(Tag.BatchErrorContinuationOption, 1)],
    )
    assert.deepEqual(
      cont.map((x) => x.status),
      [1, 0],
      'Continue: later items run',
    )
  })
})
