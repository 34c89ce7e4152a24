// encodeStructureTtlv (schema/codec.ts) and encodeResponseMessage (message/message.ts): a
// declaration and its values encoded straight to TTLV give the bytes of the item-tree path,
// encodeTtlv(encodeStructure(...)), for every payload, in both major versions, and refuse what
// it refuses.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  KmipError,
  ResultReason,
  ResultStatus,
  Tag,
  TransparentRSAPrivateKey,
  buildResponseMessage,
  bytes,
  encodeResponseMessage,
  encodeStructure,
  encodeStructureTtlv,
  encodeTtlv,
  decodeTtlv,
  find,
  int,
  operationPayloads,
  structure,
  text,
} from '../../src/index.js'
import type { StructField } from '../../src/index.js'
import { sample } from './samples.js'

const V14 = { major: 1, minor: 4 }
const V21 = { major: 2, minor: 1 }
const code = (c: string) => (e: unknown) => e instanceof KmipError && e.code === c
const viaTree = (s: StructField, v: { major: number; minor: number }, input: unknown) =>
  encodeTtlv(encodeStructure(s, input as never, v))

test('every payload encodes straight to the bytes of its item tree, in 1.4 and 2.1', () => {
  let n = 0
  for (const [op, { request, response }] of operationPayloads)
    for (const s of [request, response])
      for (const v of [V14, V21]) {
        const input = sample(s.members, v.major >= 2)
        assert.deepEqual(
          encodeStructureTtlv(s, input as never, v),
          viaTree(s, v, input),
          `operation 0x${op.toString(16)} in ${v.major}.${v.minor}`,
        )
        // and with every optional and repeated member left out
        const required = Object.fromEntries(
          Object.entries(input).filter(([k]) => s.members[k]?.presence === 'required'),
        )
        if (Object.values(s.members).some((m) => m.only !== undefined)) continue
        assert.deepEqual(encodeStructureTtlv(s, required as never, v), viaTree(s, v, required))
        n++
      }
  assert.ok(n > 50, `${n} payloads compared without their optional members`)
})

test('text of any UTF-8 length, long Big Integers and nested items are measured and written alike', () => {
  const key = {
    modulus: (1n << 2048n) - 12345n,
    privateExponent: -(1n << 100n),
    publicExponent: 65537n,
  }
  assert.deepEqual(
    encodeStructureTtlv(TransparentRSAPrivateKey, key, V14),
    viaTree(TransparentRSAPrivateKey, V14, key),
  )
  const msg = {
    header: { protocolVersion: V21, timeStamp: 1_700_000_000n, batchCount: 0 },
    items: [
      {
        operation: 10,
        uniqueBatchItemId: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]),
        resultStatus: ResultStatus.Success,
        payload: structure(Tag.ResponsePayload, [
          text(Tag.UniqueIdentifier, 'clé-ü-😀-\ud800-' + 'x'.repeat(13)),
          text(Tag.Name, ''),
          structure(Tag.SymmetricKey, [bytes(Tag.KeyMaterial, new Uint8Array(33))]),
        ]),
      },
      {
        resultStatus: ResultStatus.OperationFailed,
        resultReason: ResultReason.ItemNotFound,
        resultMessage: 'no such object [ERR_KMS_NOT_FOUND, request r/1]',
      },
    ],
  }
  const direct = encodeResponseMessage(msg)
  assert.deepEqual(direct, encodeTtlv(buildResponseMessage(msg)))
  // Batch Count is set from the items (given as 0), as buildResponseMessage does
  const header = find(decodeTtlv(direct), Tag.ResponseHeader)
  assert.equal(find(header, Tag.BatchCount)?.value, 2)
})

test('what the item-tree path refuses is refused: a missing required member, a value out of range', () => {
  const { request } = operationPayloads.get(1)!
  assert.throws(() => encodeStructureTtlv(request, {} as never, V14), code('ERR_TTLV_ENCODE'))
  assert.throws(
    () => encodeStructureTtlv(request, { objectType: -1 } as never, V14),
    code('ERR_TTLV_ENCODE'),
  )
  assert.throws(
    () =>
      encodeResponseMessage({
        header: { protocolVersion: V14, timeStamp: 1n, batchCount: 1 },
        items: [
          {
            resultStatus: ResultStatus.Success,
            payload: structure(Tag.ResponsePayload, [int(Tag.CryptographicLength, 2 ** 31)]),
          },
        ],
      }),
    code('ERR_TTLV_ENCODE'),
  )
})
