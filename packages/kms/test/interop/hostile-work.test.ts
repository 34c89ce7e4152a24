/**
 * Issue 10, finding 1: one crafted request must not freeze the server. A 512 KiB Big Integer
 * stalled every other client for 21 s (quadratic decode, before any authorisation); Locate
 * filters, Get Attributes names, Create/Re-key attribute lists, RSA key generation and batches of
 * signatures held the event loop for seconds too. Each attack below runs while a bystander sends
 * Query after Query on its own connection: every one of them is answered within 2 s, the attacker
 * gets its answer (Invalid Message for oversized Big Integers), and the server keeps serving.
 */
import assert from 'node:assert/strict'
import { createPrivateKey, randomBytes } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import {
  CryptographicAlgorithm,
  KeyFormatType,
  ObjectType,
  Operation,
  QueryFunction,
  ResultReason,
  Tag,
  bytes,
  decodeTtlv,
  enumeration,
  encodeTtlv,
  int,
  requiredValue,
  structure,
  text,
} from '@ward/kmip'
import type { BatchResult, KmipTestClient, TtlvItem } from '../../src/testing.js'
import { parseResponse } from '../../src/testing.js'
import { P, attr1, createAes, frame, idOf, startFixture, uid } from '../helpers.js'
import type { Fixture } from '../helpers.js'

const struct = (tag: number, ...children: Buffer[]): Buffer =>
  frame(tag, 0x01, Buffer.concat(children))
const enc = (item: TtlvItem): Buffer => Buffer.from(encodeTtlv(item))

/** A 1.4 Register of a Transparent RSA private key whose components are `bigs` (raw values). */
function registerWithBigs(bigs: Buffer[]): Buffer {
  const header = enc(
    structure(Tag.RequestHeader, [
      structure(Tag.ProtocolVersion, [
        int(Tag.ProtocolVersionMajor, 1),
        int(Tag.ProtocolVersionMinor, 4),
      ]),
      int(Tag.BatchCount, 1),
    ]),
  )
  return struct(
    Tag.RequestMessage,
    header,
    struct(
      Tag.BatchItem,
      enc(enumeration(Tag.Operation, Operation.Register)),
      struct(
        Tag.RequestPayload,
        enc(enumeration(Tag.ObjectType, ObjectType.PrivateKey)),
        struct(
          Tag.PrivateKey,
          struct(
            Tag.KeyBlock,
            enc(enumeration(Tag.KeyFormatType, KeyFormatType.TransparentRSAPrivateKey)),
            struct(
              Tag.KeyValue,
              struct(Tag.KeyMaterial, ...bigs.map((b) => frame(Tag.Modulus, 0x04, b))),
            ),
          ),
        ),
      ),
    ),
  )
}

/** An RSA private key (PKCS#1 DER) of about `bits` bits from random odd "primes": parses, never used. */
function fakeRsaKey(bits: number): Buffer {
  const half = (n: number): bigint => {
    const b = randomBytes(n / 8)
    b[0] = b[0]! | 0xc0
    b[b.length - 1] = b[b.length - 1]! | 1
    return BigInt('0x' + b.toString('hex'))
  }
  const p = half(bits / 2)
  const q = half(bits / 2)
  const b64 = (x: bigint): string => {
    const h = x.toString(16)
    return Buffer.from(h.length % 2 ? '0' + h : h, 'hex').toString('base64url')
  }
  const d = half(bits) % (p * q)
  const jwk = {
    kty: 'RSA',
    n: b64(p * q),
    e: b64(65537n),
    d: b64(d),
    p: b64(p),
    q: b64(q),
    dp: b64(d % (p - 1n)),
    dq: b64(d % (q - 1n)),
    qi: b64(half(bits / 2) % p),
  }
  return createPrivateKey({ key: jwk, format: 'jwk' }).export({ format: 'der', type: 'pkcs1' })
}

describe('one request cannot freeze the server', () => {
  let f: Fixture
  let bystander: KmipTestClient
  let mallory: KmipTestClient
  before(async () => {
    f = await startFixture()
    bystander = await f.client('bystander')
    mallory = await f.client('mallory')
  })
  after(async () => {
    await f.close()
  })

  /**
   * Runs `attack` while the bystander sends Queries back to back; every Query must be answered
   * within 2 s (at least one is sent after the attack). Returns the attack's result.
   */
  async function whileAttacking<T>(attack: Promise<T>): Promise<T> {
    let done = false
    const settled = attack.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    )
    void settled.then(() => (done = true))
    let worst = 0
    let sent = 0
    while (!done || sent === 0) {
      const t = performance.now()
      await bystander.call(
        Operation.Query,
        P(enumeration(Tag.QueryFunction, QueryFunction.QueryObjects)),
      )
      worst = Math.max(worst, performance.now() - t)
      sent++
    }
    const r = await settled
    assert.ok(worst < 2000, `a bystander's Query waited ${worst.toFixed(0)} ms during the attack`)
    if ('error' in r) throw r.error
    return r.value
  }

  const invalidMessage = (raw: Buffer): void => {
    const [r] = parseResponse(decodeTtlv(raw))
    assert.equal(r?.status, 1)
    assert.equal(r?.reason, ResultReason.InvalidMessage)
    assert.match(r?.message ?? '', /ERR_KMS_TTLV_DECODE/)
  }

  test('a 512 KiB Big Integer: Invalid Message at once, others served', async () => {
    const wire = registerWithBigs([randomBytes(512 << 10)])
    invalidMessage(await whileAttacking(mallory.sendRaw(wire)))
  })

  test('a 16 MiB message of 15 Big Integers of 1 MiB: Invalid Message at once', async () => {
    // each exactly the 1 MiB an item may hold; together under the 16 MiB a message may hold
    const wire = registerWithBigs(Array.from({ length: 15 }, () => randomBytes(1 << 20)))
    assert.ok(wire.length > 15 << 20 && wire.length < 16 << 20)
    invalidMessage(await whileAttacking(mallory.sendRaw(wire)))
  })

  test('16 MiB of the largest allowed Big Integers (8 KiB each) decode; others served', async () => {
    // in a Query, which ignores them: what is measured is the decoding
    const wire = struct(
      Tag.RequestMessage,
      enc(
        structure(Tag.RequestHeader, [
          structure(Tag.ProtocolVersion, [
            int(Tag.ProtocolVersionMajor, 1),
            int(Tag.ProtocolVersionMinor, 4),
          ]),
          int(Tag.BatchCount, 1),
        ]),
      ),
      struct(
        Tag.BatchItem,
        enc(enumeration(Tag.Operation, Operation.Query)),
        struct(
          Tag.RequestPayload,
          enc(enumeration(Tag.QueryFunction, QueryFunction.QueryObjects)),
          ...Array.from({ length: 2000 }, () => frame(Tag.Modulus, 0x04, randomBytes(8192))),
        ),
      ),
    )
    assert.ok(wire.length > 15 << 20 && wire.length < 16 << 20)
    const [r] = parseResponse(decodeTtlv(await whileAttacking(mallory.sendRaw(wire))))
    assert.equal(r?.status, 0, r?.message)
  })

  test('Locate with 20,000 filters (identical, then distinct)', async () => {
    const ids: string[] = []
    for (let i = 0; i < 20; i++)
      ids.push(
        idOf(
          await mallory.call(
            Operation.Create,
            createAes({ extra: [attr1('x-tag', text(0, 'v'))] }),
          ),
        ),
      )
    const same = Array.from({ length: 20_000 }, () => attr1('x-tag', text(0, 'v')))
    const found = await whileAttacking(
      mallory.batch([{ op: Operation.Locate, payload: P(...same) }]),
    )
    assert.deepEqual(
      found[0]?.payload?.type === 'Structure' &&
        found[0].payload.value.map((c) => c.value as string).sort(),
      [...ids].sort(),
    )
    const distinct = Array.from({ length: 20_000 }, (_, i) => attr1('x-tag', text(0, `v${i}`)))
    const none = await whileAttacking(
      mallory.batch([{ op: Operation.Locate, payload: P(...distinct) }]),
    )
    assert.equal(none[0]?.status, 0)
    assert.equal(none[0]?.payload?.type === 'Structure' && none[0].payload.value.length, 0)
  })

  const long = 'a'.repeat(200)
  /** An AES key with 15,000 vendor attributes (long names) and 15,000 Contact Informations. */
  const bigObject = (): Promise<TtlvItem | undefined> =>
    mallory.call(
      Operation.Create,
      createAes({
        extra: [
          ...Array.from({ length: 15_000 }, (_, i) => attr1(`x-${long}${i}`, text(0, 'v'))),
          ...Array.from({ length: 15_000 }, (_, i) =>
            attr1('Contact Information', text(0, `c${i}`)),
          ),
        ],
      }),
    )

  test('Create with 15,000 vendor and 15,000 single-valued attributes', async () => {
    const id = idOf(await whileAttacking(bigObject()))
    // the last instance of a single-valued attribute is the one kept
    const got = await mallory.call(
      Operation.GetAttributes,
      P(uid(id), text(Tag.AttributeName, 'Contact Information')),
    )
    const attrs = got?.type === 'Structure' ? got.value.filter((c) => c.tag === Tag.Attribute) : []
    assert.equal(attrs.length, 1)
    assert.equal(requiredValue(attrs[0], Tag.AttributeValue, 'TextString'), 'c14999')
  })

  test('Get Attributes of 30,000 names from an object of 30,000 attributes', async () => {
    const id = idOf(await bigObject())
    const names = Array.from({ length: 30_000 }, (_, i) =>
      text(Tag.AttributeName, i === 0 ? 'Contact Information' : `x-${long}${i + 15_000}`),
    )
    const got = await whileAttacking(mallory.call(Operation.GetAttributes, P(uid(id), ...names)))
    const attrs = got?.type === 'Structure' ? got.value.filter((c) => c.tag === Tag.Attribute) : []
    assert.equal(attrs.length, 1)
  })

  test('Re-key with 30,000 attributes of an object with 15,000 vendor attributes', async () => {
    const id = idOf(await bigObject())
    const extra = Array.from({ length: 30_000 }, (_, i) => attr1(`x-${long}${i}`, text(0, 'w')))
    const rekeyed = await whileAttacking(
      mallory.call(Operation.ReKey, P(uid(id), structure(Tag.TemplateAttribute, extra))),
    )
    assert.notEqual(idOf(rekeyed), id)
  })

  const rsa4096 = (): { op: number; payload: TtlvItem } => ({
    op: Operation.CreateKeyPair,
    payload: P(
      structure(Tag.CommonTemplateAttribute, [
        attr1('Cryptographic Algorithm', enumeration(0, CryptographicAlgorithm.RSA)),
        attr1('Cryptographic Length', int(0, 4096)),
        attr1('Cryptographic Usage Mask', int(0, 3)),
      ]),
    ),
  })

  /** A private key made by the key-pair test (the signature test makes one if run alone). */
  let rsaKey: string | undefined

  test('a batch of RSA-4096 Create Key Pair: generated off the event loop', async () => {
    const made: BatchResult[] = await whileAttacking(mallory.batch([rsa4096(), rsa4096()]))
    assert.deepEqual(
      made.map((r) => r.status),
      [0, 0],
    )
    rsaKey = requiredValue(made[0]!.payload, Tag.PrivateKeyUniqueIdentifier, 'TextString')
  })

  test('a batch of 200 RSA-4096 signatures gives the event loop back between items', async () => {
    const sk =
      rsaKey ??
      requiredValue(
        (await mallory.batch([rsa4096()]))[0]!.payload,
        Tag.PrivateKeyUniqueIdentifier,
        'TextString',
      )
    await mallory.call(Operation.Activate, P(uid(sk)))
    const signs = Array.from({ length: 200 }, () => ({
      op: Operation.Sign,
      payload: P(uid(sk), bytes(Tag.Data, randomBytes(32))),
    }))
    const sigs = await whileAttacking(mallory.batch(signs))
    assert.ok(sigs.every((r) => r.status === 0))
  })

  test('Register refuses RSA keys above 8192 bits (cubic private-key operations)', async () => {
    const register = (der: Buffer) =>
      mallory.batch([
        {
          op: Operation.Register,
          payload: P(
            enumeration(Tag.ObjectType, ObjectType.PrivateKey),
            structure(Tag.PrivateKey, [
              structure(Tag.KeyBlock, [
                enumeration(Tag.KeyFormatType, KeyFormatType.PKCS_1),
                structure(Tag.KeyValue, [bytes(Tag.KeyMaterial, der)]),
                enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.RSA),
              ]),
            ]),
          ),
        },
      ])
    const [big] = await register(fakeRsaKey(8208))
    assert.equal(big?.status, 1)
    assert.equal(big?.reason, ResultReason.FeatureNotSupported)
    assert.match(big?.message ?? '', /at most 8192/)
    const [ok] = await register(fakeRsaKey(8192))
    assert.equal(ok?.status, 0, ok?.message)
    // and the server still serves everyone
    await bystander.call(
      Operation.Query,
      P(enumeration(Tag.QueryFunction, QueryFunction.QueryObjects)),
    )
  })
})
