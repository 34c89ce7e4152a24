// The crypto operations over the wire against a real `ward kms` (mutual TLS, SQLite): modes beyond
// the OASIS cases, streaming Decrypt, stream binding, Result Reasons of crypto failures, RSA PKCS#1
// v1.5 decryption (implicit rejection).
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  HashingAlgorithm,
  KeyFormatType,
  Operation,
  PaddingMethod,
  ResultReason,
  Tag,
  bool,
  bytes,
  enumeration,
  find,
  int,
  requiredValue,
  structure,
} from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'
import { constants, createPublicKey, publicEncrypt } from 'node:crypto'
import { grantAccess } from '../../src/index.js'
import { startFixture, P, uid, registerSymmetric } from '../helpers.js'
import type { Fixture } from '../helpers.js'
import type { KmipTestClient } from '../../src/testing.js'

const h = (x: string): Buffer => Buffer.from(x.replace(/\s+/g, ''), 'hex')
const cp = (...c: TtlvItem[]) => structure(Tag.CryptographicParameters, c)
const hex = (t: TtlvItem | undefined, tag: number) =>
  Buffer.from(requiredValue(t, tag, 'ByteString')).toString('hex')
async function fails(p: Promise<unknown>, reason: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.equal((e as { reason?: number }).reason, reason)
    return true
  })
}

let f: Fixture
let c: KmipTestClient
before(async () => {
  f = await startFixture()
  c = await f.client('alice', 2, 1)
})
after(async () => {
  await f.close()
})

async function register(alg: number, key: Buffer, extra: TtlvItem[] = []): Promise<string> {
  const r = await c.call(
    Operation.Register,
    registerSymmetric({ key, usage: 12, algorithm: alg, extra }),
  )
  const id = requiredValue(r, Tag.UniqueIdentifier, 'TextString')
  await c.call(Operation.Activate, P(uid(id)))
  return id
}

// NIST SP 800-38A F.3.13 / F.4.1 / F.5.1, first block.
const K128 = h('2b7e151628aed2a6abf7158809cf4f3c')
const PT1 = h('6bc1bee22e409f96e93d7e117393172a')

test('AES CFB, OFB and CTR over the wire give the SP 800-38A answers', async () => {
  const id = await register(CryptographicAlgorithm.AES, K128)
  for (const [mode, iv, ct] of [
    [BlockCipherMode.CFB, '000102030405060708090a0b0c0d0e0f', '3b3fd92eb72dad20333449f8e83cfb4a'],
    [BlockCipherMode.OFB, '000102030405060708090a0b0c0d0e0f', '3b3fd92eb72dad20333449f8e83cfb4a'],
    [BlockCipherMode.CTR, 'f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff', '874d6191b620e3261bef6864990db6ce'],
  ] as const) {
    const e = await c.call(
      Operation.Encrypt,
      P(
        uid(id),
        cp(enumeration(Tag.BlockCipherMode, mode)),
        bytes(Tag.Data, PT1),
        bytes(Tag.IVCounterNonce, h(iv)),
      ),
    )
    assert.equal(hex(e, Tag.Data), ct)
    const d = await c.call(
      Operation.Decrypt,
      P(
        uid(id),
        cp(enumeration(Tag.BlockCipherMode, mode)),
        bytes(Tag.Data, h(ct)),
        bytes(Tag.IVCounterNonce, h(iv)),
      ),
    )
    assert.equal(hex(d, Tag.Data), PT1.toString('hex'))
  }
  // Missing IV on Decrypt: Invalid Message; bad IV length: Invalid Field; bad tag length: General Failure.
  await fails(
    c.call(
      Operation.Decrypt,
      P(uid(id), cp(enumeration(Tag.BlockCipherMode, BlockCipherMode.CTR)), bytes(Tag.Data, PT1)),
    ),
    ResultReason.InvalidMessage,
  )
  await fails(
    c.call(
      Operation.Encrypt,
      P(
        uid(id),
        cp(enumeration(Tag.BlockCipherMode, BlockCipherMode.CBC)),
        bytes(Tag.Data, PT1),
        bytes(Tag.IVCounterNonce, h('00')),
      ),
    ),
    ResultReason.InvalidField,
  )
  await fails(
    c.call(
      Operation.Encrypt,
      P(
        uid(id),
        cp(enumeration(Tag.BlockCipherMode, BlockCipherMode.GCM), int(Tag.TagLength, 7)),
        bytes(Tag.Data, PT1),
      ),
    ),
    ResultReason.GeneralFailure,
  )
})

test('3DES key (SP 800-67 example) encrypts in ECB over the wire', async () => {
  const id = await register(
    CryptographicAlgorithm.DES3,
    h('0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123'),
  )
  const e = await c.call(
    Operation.Encrypt,
    P(
      uid(id),
      cp(
        enumeration(Tag.BlockCipherMode, BlockCipherMode.ECB),
        enumeration(Tag.PaddingMethod, PaddingMethod.None),
      ),
      bytes(Tag.Data, Buffer.from('The qufck brown fox jump')),
    ),
  )
  assert.equal(hex(e, Tag.Data), 'a826fd8ce53b855fcce21c8112256fe668d5c05dd9b6b900')
})

test('streaming GCM Decrypt in three requests; streams are bound to key, direction and identity', async () => {
  const key = h('feffe9928665731c6d6a8f9467308308')
  const id = await register(CryptographicAlgorithm.AES, key)
  const gcm = cp(enumeration(Tag.BlockCipherMode, BlockCipherMode.GCM), int(Tag.TagLength, 16))
  const iv = h('cafebabefacedbad')
  const aad = h('feedfacedeadbeeffeedfacedeadbeefabaddad2')
  const ct = h(
    '61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c742373806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598',
  )
  const tag = h('3612d2e79e3b0785561be14aaca2fccb')
  const r1 = await c.call(
    Operation.Decrypt,
    P(
      uid(id),
      gcm,
      bytes(Tag.Data, ct.subarray(0, 20)),
      bytes(Tag.IVCounterNonce, iv),
      bool(Tag.InitIndicator, true),
      bytes(Tag.AuthenticatedEncryptionAdditionalData, aad),
    ),
  )
  const corr = Buffer.from(requiredValue(r1, Tag.CorrelationValue, 'ByteString'))
  // Another key, the other direction, or another identity (even with a grant) cannot continue it.
  const other = await register(CryptographicAlgorithm.AES, key)
  await fails(
    c.call(
      Operation.Decrypt,
      P(uid(other), gcm, bytes(Tag.Data, ct), bytes(Tag.CorrelationValue, corr)),
    ),
    ResultReason.InvalidField,
  )
  await fails(
    c.call(
      Operation.Encrypt,
      P(uid(id), gcm, bytes(Tag.Data, ct), bytes(Tag.CorrelationValue, corr)),
    ),
    ResultReason.InvalidField,
  )
  await grantAccess(f.dir, id, 'bob', ['decrypt'])
  const bob = await f.client('bob', 2, 1)
  await fails(
    bob.call(
      Operation.Decrypt,
      P(uid(id), gcm, bytes(Tag.Data, ct), bytes(Tag.CorrelationValue, corr)),
    ),
    ResultReason.InvalidField,
  )
  const r2 = await c.call(
    Operation.Decrypt,
    P(uid(id), gcm, bytes(Tag.Data, ct.subarray(20, 41)), bytes(Tag.CorrelationValue, corr)),
  )
  const r3 = await c.call(
    Operation.Decrypt,
    P(
      uid(id),
      gcm,
      bytes(Tag.Data, ct.subarray(41)),
      bytes(Tag.CorrelationValue, corr),
      bool(Tag.FinalIndicator, true),
      bytes(Tag.AuthenticatedEncryptionTag, tag),
    ),
  )
  assert.equal(
    hex(r1, Tag.Data) + hex(r2, Tag.Data) + hex(r3, Tag.Data),
    'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
  )
  // Finished: the value is gone.
  await fails(
    c.call(
      Operation.Decrypt,
      P(uid(id), gcm, bytes(Tag.Data, ct), bytes(Tag.CorrelationValue, corr)),
    ),
    ResultReason.InvalidField,
  )
  // A wrong tag at Final is a Cryptographic Failure, and the stream is dropped.
  const s1 = await c.call(
    Operation.Decrypt,
    P(
      uid(id),
      gcm,
      bytes(Tag.Data, ct),
      bytes(Tag.IVCounterNonce, iv),
      bool(Tag.InitIndicator, true),
    ),
  )
  const c2 = Buffer.from(requiredValue(s1, Tag.CorrelationValue, 'ByteString'))
  await fails(
    c.call(
      Operation.Decrypt,
      P(
        uid(id),
        gcm,
        bytes(Tag.Data, Buffer.alloc(0)),
        bytes(Tag.CorrelationValue, c2),
        bool(Tag.FinalIndicator, true),
        bytes(Tag.AuthenticatedEncryptionTag, tag),
      ),
    ),
    ResultReason.CryptographicFailure,
  )
})

test('Hash: SHA-256 / SHA3-256 known answers, Hashing Algorithm required', async () => {
  const d = h('01020304050607080910111213141516')
  const hashOf = async (alg: number) =>
    hex(
      await c.call(
        Operation.Hash,
        P(
          structure(Tag.CryptographicParameters, [enumeration(Tag.HashingAlgorithm, alg)]),
          bytes(Tag.Data, d),
        ),
      ),
      Tag.Data,
    )
  // OASIS CS-AC-M-7-21 step 0.
  assert.equal(
    await hashOf(HashingAlgorithm.SHA_256),
    'ad41233d22cf9322e3a7ff49a13da434797abed3bab80950a1a0d4e582b7ea72',
  )
  // FIPS 202 SHA3-256 of the empty string checks the SHA-3 mapping.
  assert.equal(
    hex(
      await c.call(
        Operation.Hash,
        P(
          structure(Tag.CryptographicParameters, [
            enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA3_256),
          ]),
          bytes(Tag.Data, Buffer.alloc(0)),
        ),
      ),
      Tag.Data,
    ),
    'a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a',
  )
  await fails(c.call(Operation.Hash, P(bytes(Tag.Data, d))), ResultReason.MissingData)
  await fails(hashOf(HashingAlgorithm.MD2), ResultReason.FeatureNotSupported)
})

test('RSA PKCS#1 v1.5 Decrypt over the wire: local and server ciphertexts; bad padding is implicit rejection', async () => {
  const r = await c.call(
    Operation.CreateKeyPair,
    P(
      structure(Tag.CommonAttributes, [
        enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.RSA),
        int(Tag.CryptographicLength, 2048),
        int(Tag.CryptographicUsageMask, 12),
      ]),
    ),
  )
  const sk = requiredValue(r, Tag.PrivateKeyUniqueIdentifier, 'TextString')
  const pk = requiredValue(r, Tag.PublicKeyUniqueIdentifier, 'TextString')
  await c.call(Operation.Activate, P(uid(sk)))
  await c.call(Operation.Activate, P(uid(pk)))
  const got = await c.call(
    Operation.Get,
    P(uid(pk), enumeration(Tag.KeyFormatType, KeyFormatType.X_509)),
  )
  const block = find(find(got, Tag.PublicKey), Tag.KeyBlock)
  const spki = requiredValue(find(block, Tag.KeyValue), Tag.KeyMaterial, 'ByteString')
  const pub = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' })
  const pkcs1 = cp(enumeration(Tag.PaddingMethod, PaddingMethod.PKCS1V1_5))
  const dec = async (ct: Uint8Array) =>
    Buffer.from(
      requiredValue(
        await c.call(Operation.Decrypt, P(uid(sk), pkcs1, bytes(Tag.Data, ct))),
        Tag.Data,
        'ByteString',
      ),
    )
  const m = Buffer.from('a 32-byte data encryption key...')
  // Encrypted here with OpenSSL's encoder, and by the server's Encrypt with the public key.
  const local = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, m)
  assert.deepEqual(await dec(local), m)
  const remote = requiredValue(
    await c.call(Operation.Encrypt, P(uid(pk), pkcs1, bytes(Tag.Data, m))),
    Tag.Data,
    'ByteString',
  )
  assert.notDeepEqual(Buffer.from(remote), local, 'PKCS#1 v1.5 encryption is randomised')
  assert.deepEqual(await dec(remote), m)
  // A tampered ciphertext answers Success with a synthetic message (the same each time), not an
  // error: the server gives no padding oracle.
  const bad = Buffer.from(local)
  bad[100]! ^= 0x40
  const a = await dec(bad)
  assert.deepEqual(await dec(bad), a)
  assert.notDeepEqual(a, m)
  assert.ok(a.length <= 256 - 11)
  // A wrong length is visible without the key: Cryptographic Failure.
  await fails(dec(local.subarray(1)), ResultReason.CryptographicFailure)
})
