// Cryptographic Parameters → crypto core mapping (src/operations/crypto-params.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  HashingAlgorithm,
  PaddingMethod,
  Tag,
  bytes,
  enumeration,
  int,
  structure,
} from '@ward/kmip'
import { CryptographicParameters, decodeStructure, find } from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'
import type { ManagedObject } from '../../src/model/object.js'
import { cipherSpec, macHashFor, params, rsaParams } from '../../src/operations/crypto-params.js'

/** The Cryptographic Parameters of a request payload, decoded as the operations decode them. */
const requested = (payload: TtlvItem) =>
  decodeStructure(CryptographicParameters, find(payload, Tag.CryptographicParameters), {
    major: 1,
    minor: 4,
  })
const code = (c: string) => (e: unknown) => {
  assert.equal((e as { code?: string }).code, c)
  return true
}
const obj = (alg: number, cp?: ReturnType<typeof structure>): ManagedObject =>
  ({
    id: 'k',
    attrs: [
      { name: 'Cryptographic Algorithm', value: enumeration(Tag.AttributeValue, alg) },
      ...(cp !== undefined ? [{ name: 'Cryptographic Parameters', value: cp }] : []),
    ],
  }) as unknown as ManagedObject

test('request fields override the key default field by field', () => {
  const o = obj(
    CryptographicAlgorithm.AES,
    structure(Tag.AttributeValue, [
      enumeration(Tag.BlockCipherMode, BlockCipherMode.CBC),
      enumeration(Tag.PaddingMethod, PaddingMethod.PKCS5),
    ]),
  )
  const req = structure(Tag.RequestPayload, [
    structure(Tag.CryptographicParameters, [enumeration(Tag.BlockCipherMode, BlockCipherMode.ECB)]),
  ])
  assert.deepEqual(params(o, requested(req)), {
    mode: BlockCipherMode.ECB,
    padding: PaddingMethod.PKCS5,
  })
  assert.deepEqual(cipherSpec(CryptographicAlgorithm.AES, params(o, requested(req))), {
    algorithm: 'AES',
    mode: 'ECB',
    padding: 'PKCS5',
  })
  // No parameters anywhere: AES-GCM, no padding; ChaCha20 streams; ChaCha20-Poly1305 is AEAD.
  assert.equal(cipherSpec(CryptographicAlgorithm.AES, {}).mode, 'GCM')
  assert.equal(cipherSpec(CryptographicAlgorithm.ChaCha20, {}).mode, 'Stream')
  assert.equal(cipherSpec(CryptographicAlgorithm.ChaCha20Poly1305, {}).mode, 'AEAD')
  assert.equal(cipherSpec(CryptographicAlgorithm.DES3, {}).mode, 'CBC')
  assert.throws(
    () => cipherSpec(CryptographicAlgorithm.AES, { mode: BlockCipherMode.XTS }),
    code('ERR_KMS_NOT_SUPPORTED'),
  )
  assert.throws(
    () => cipherSpec(CryptographicAlgorithm.AES, { padding: PaddingMethod.ANSIX9_23 }),
    code('ERR_KMS_NOT_SUPPORTED'),
  )
  assert.throws(() => cipherSpec(CryptographicAlgorithm.RSA, {}), code('ERR_KMS_NOT_SUPPORTED'))
  assert.equal(
    cipherSpec(CryptographicAlgorithm.AES, { mode: BlockCipherMode.GCM, tagLength: 12 }).tagLength,
    12,
  )
})

test('RSA parameters: OAEP default SHA-1, MGF1 hash and P Source carried, PKCS#1 v1.5', () => {
  assert.deepEqual(rsaParams({}), { padding: 'OAEP', hash: 'sha1', mgf1Hash: 'sha1' })
  const o = obj(
    CryptographicAlgorithm.RSA,
    structure(Tag.AttributeValue, [
      enumeration(Tag.PaddingMethod, PaddingMethod.OAEP),
      enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_384),
      enumeration(Tag.MaskGeneratorHashingAlgorithm, HashingAlgorithm.SHA_256),
      bytes(Tag.PSource, Buffer.from('L')),
    ]),
  )
  assert.deepEqual(rsaParams(params(o, undefined)), {
    padding: 'OAEP',
    hash: 'sha384',
    mgf1Hash: 'sha256',
    label: Buffer.from('L'),
  })
  assert.deepEqual(rsaParams({ padding: PaddingMethod.PKCS1V1_5 }), { padding: 'PKCS1v15' })
  assert.throws(() => rsaParams({ padding: PaddingMethod.PSS }), code('ERR_KMS_NOT_SUPPORTED'))
  assert.throws(() => rsaParams({ hash: HashingAlgorithm.MD2 }), code('ERR_KMS_NOT_SUPPORTED'))
})

test('MAC hash: from an HMAC key, else from the parameters; tag length read as Integer', () => {
  assert.equal(macHashFor(obj(CryptographicAlgorithm.HMAC_SHA512), {}), 'sha512')
  const aes = obj(
    CryptographicAlgorithm.AES,
    structure(Tag.AttributeValue, [
      enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.HMAC_SHA256),
    ]),
  )
  assert.equal(macHashFor(aes, params(aes, undefined)), 'sha256')
  assert.throws(
    () => macHashFor(obj(CryptographicAlgorithm.AES), {}),
    code('ERR_KMS_NOT_SUPPORTED'),
  )
  const p = params(
    obj(CryptographicAlgorithm.AES),
    requested(
      structure(Tag.RequestPayload, [
        structure(Tag.CryptographicParameters, [int(Tag.TagLength, 13)]),
      ]),
    ),
  )
  assert.equal(p.tagLength, 13)
})
