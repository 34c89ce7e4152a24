import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  TPM_ALG,
  TPM_ST,
  decode,
  encode,
  structures as S,
  SRK_ECC_TEMPLATE,
  EK_RSA_TEMPLATE,
  AK_RSA_TEMPLATE,
  sealedObjectTemplate,
  struct,
  u16,
  list,
  u32,
  tpm2b,
  sized,
  constant,
  objectName,
} from '../../src/index.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

test('TPML_PCR_SELECTION encodes as Part 2 §10.9.7 (sha256:7 = 00000001 000b 03 800000)', () => {
  const b = encode(S.TPML_PCR_SELECTION, [
    { hash: TPM_ALG.SHA256, pcrSelect: Uint8Array.of(0x80, 0, 0) },
  ])
  assert.equal(hex(b), '00000001000b03800000')
  assert.deepEqual(decode(S.TPML_PCR_SELECTION, b), [
    { hash: TPM_ALG.SHA256, pcrSelect: Uint8Array.of(0x80, 0, 0) },
  ])
})

test('templates round-trip through TPMT_PUBLIC byte-exact', () => {
  for (const t of [
    SRK_ECC_TEMPLATE,
    EK_RSA_TEMPLATE,
    AK_RSA_TEMPLATE,
    sealedObjectTemplate(new Uint8Array(32)),
  ]) {
    const b = encode(S.TPMT_PUBLIC, t)
    const v = decode(S.TPMT_PUBLIC, b)
    assert.equal(hex(encode(S.TPMT_PUBLIC, v)), hex(b))
  }
})

test('EK template attributes are 0x000300B2 and SRK 0x00030472', () => {
  assert.equal(EK_RSA_TEMPLATE.objectAttributes, 0x000300b2)
  assert.equal(SRK_ECC_TEMPLATE.objectAttributes, 0x00030472)
  assert.equal(AK_RSA_TEMPLATE.objectAttributes, 0x00050072)
})

test('object name is nameAlg || SHA-256(public area)', () => {
  const b = encode(S.TPMT_PUBLIC, SRK_ECC_TEMPLATE)
  const n = objectName(b)
  assert.equal(n.length, 34)
  assert.equal(hex(n.subarray(0, 2)), '000b')
})

test('sized structures decode to { bytes, value } and keep the exact bytes', () => {
  const inner = encode(S.TPMT_PUBLIC, AK_RSA_TEMPLATE)
  const wire = encode(S.TPM2B_PUBLIC, { bytes: inner })
  assert.equal(wire.length, inner.length + 2)
  const d = decode(S.TPM2B_PUBLIC, wire)
  assert.equal(hex(d.bytes), hex(inner))
  assert.equal(d.value.type, TPM_ALG.RSA)
})

test('trailing bytes are an error (ERR_TPM_DECODE with offset)', () => {
  const b = Buffer.concat([encode(S.TPML_DIGEST, [new Uint8Array(32)]), Buffer.of(0)])
  assert.throws(
    () => decode(S.TPML_DIGEST, b),
    (e: { code: string; offset: number }) =>
      e.code === 'ERR_TPM_DECODE' && e.offset === b.length - 1,
  )
})

test('bounds: TPM2B over its limit, list count over its limit, truncated input', () => {
  const big = Buffer.from('0041' + '00'.repeat(65), 'hex') // TPM2B_DIGEST of 65 bytes (> 64)
  assert.throws(() => decode(S.TPM2B_DIGEST, big), { code: 'ERR_TPM_DECODE' })
  const many = Buffer.from('00000009', 'hex') // TPML_DIGEST count 9 (> 8), nothing allocated
  assert.throws(() => decode(S.TPML_DIGEST, many), { code: 'ERR_TPM_DECODE' })
  assert.throws(() => decode(S.TPML_DIGEST, Buffer.from('0000000100200000', 'hex')), {
    code: 'ERR_TPM_DECODE',
  })
  assert.throws(() => encode(S.TPM2B_DIGEST, new Uint8Array(65)), { code: 'ERR_TPM_ENCODE' })
  assert.throws(() => encode(S.TPMT_HA, { hashAlg: 0x1234, digest: new Uint8Array(1) }), {
    code: 'ERR_TPM_ENCODE',
  })
})

test('constants: a wrong TPMS_ATTEST magic is refused', () => {
  const att = {
    type: TPM_ST.ATTEST_QUOTE,
    qualifiedSigner: new Uint8Array(0),
    extraData: Uint8Array.of(1, 2, 3),
    clockInfo: { clock: 5n, resetCount: 1, restartCount: 0, safe: 1 },
    firmwareVersion: 7n,
    attested: { pcrSelect: [], pcrDigest: new Uint8Array(32) },
  }
  const b = encode(S.TPMS_ATTEST, att)
  assert.equal(hex(b.subarray(0, 4)), 'ff544347')
  assert.deepEqual(decode(S.TPMS_ATTEST, b).extraData, Uint8Array.of(1, 2, 3))
  const bad = Buffer.from(b)
  bad[0] = 0
  assert.throws(() => decode(S.TPMS_ATTEST, bad), { code: 'ERR_TPM_DECODE' })
})

test('unknown union selector is a decode error, not a crash', () => {
  const b = Buffer.from('1234' + '000b' + '00000000' + '0000', 'hex') // TPMT_PUBLIC with type 0x1234
  assert.throws(() => decode(S.TPMT_PUBLIC, b), { code: 'ERR_TPM_DECODE' })
})

test('depth limit stops deep nesting', () => {
  let f: Parameters<typeof decode>[0] = u16
  for (let i = 0; i < 40; i++) f = struct({ x: f })
  assert.throws(() => decode(f, Buffer.alloc(2)), { code: 'ERR_TPM_DECODE' })
  assert.doesNotThrow(() => decode(f, Buffer.alloc(2), { depth: 100 }))
})

test('a user-declared structure gets codec and types for free', () => {
  const T = struct({
    magic: constant(u32, 0xabcd),
    items: list(u16, 4),
    blob: tpm2b(8),
    inner: sized(struct({ a: u16 }), 16),
  })
  const b = encode(T, { items: [1, 2], blob: Uint8Array.of(9), inner: { value: { a: 7 } } })
  const v = decode(T, b)
  assert.deepEqual(v.items, [1, 2])
  assert.equal(v.inner.value.a, 7)
  assert.equal(v.magic, 0xabcd)
})
