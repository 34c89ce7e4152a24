import assert from 'node:assert/strict'
import { test } from 'node:test'
import { hkdfSha256, pbkdf2Sha256, pbkdf2Sha256Sync } from '../../src/index.js'
import { caught, hex, isCoded, loadJson, toHex, wycheproof } from './primitives-data.js'

for (const [rel, valid, invalid] of [
  ['wycheproof/testvectors_v1/hkdf_sha256_test.json', 83, 3],
  ['wycheproof/testvectors/hkdf_sha256_test.json', 102, 3],
] as const) {
  test(`Wycheproof ${rel}: every case, output-too-long rejected`, () => {
    let ok = 0
    let rejected = 0
    for (const { t } of wycheproof(rel)) {
      const run = (): Uint8Array =>
        hkdfSha256(
          hex(t.ikm as string),
          hex(t.salt as string),
          hex(t.info as string),
          t.size as number,
        )
      if (t.result === 'invalid') {
        assert.ok(isCoded(caught(run), 'ERR_KDF_LENGTH'), `tcId ${t.tcId}`)
        rejected++
      } else {
        assert.equal(toHex(run()), t.okm, `tcId ${t.tcId}`)
        ok++
      }
    }
    assert.equal(ok, valid)
    assert.equal(rejected, invalid)
  })
}

interface Rfc5869 {
  readonly vectors: readonly {
    section: string
    hash: string
    IKM: string
    salt: string
    info: string
    L: number
    OKM: string
  }[]
}

test('RFC 5869 Appendix A SHA-256 cases (A.1-A.3)', () => {
  const cases = loadJson<Rfc5869>('rfc/rfc5869_hkdf.json').vectors.filter(
    (v) => v.hash === 'SHA-256',
  )
  assert.equal(cases.length, 3)
  for (const v of cases)
    assert.equal(
      toHex(hkdfSha256(hex(v.IKM), hex(v.salt), hex(v.info), v.L)),
      v.OKM.toLowerCase(),
      v.section,
    )
})

test('Wycheproof v1 pbkdf2_hmacsha256_test: all 60 cases, sync and async', async () => {
  let n = 0
  for (const { t } of wycheproof('wycheproof/testvectors_v1/pbkdf2_hmacsha256_test.json')) {
    assert.equal(t.result, 'valid')
    const args = [
      hex(t.password as string),
      hex(t.salt as string),
      t.iterationCount as number,
      t.dkLen as number,
    ] as const
    assert.equal(toHex(pbkdf2Sha256Sync(...args)), t.dk, `tcId ${t.tcId}`)
    if (n % 10 === 0) assert.equal(toHex(await pbkdf2Sha256(...args)), t.dk, `tcId ${t.tcId} async`)
    n++
  }
  assert.equal(n, 60)
})

interface Rfc7914 {
  readonly pbkdf2_hmac_sha256: readonly {
    section: string
    password: string
    salt: string
    c: number
    dkLen: number
    DK: string
  }[]
}

test('RFC 7914 §11 PBKDF2-HMAC-SHA256 vectors', async () => {
  const cases = loadJson<Rfc7914>('rfc/rfc7914_scrypt_pbkdf2.json').pbkdf2_hmac_sha256
  assert.equal(cases.length, 2)
  const enc = new TextEncoder()
  for (const v of cases)
    assert.equal(
      toHex(await pbkdf2Sha256(enc.encode(v.password), enc.encode(v.salt), v.c, v.dkLen)),
      v.DK,
    )
})

test('KDF parameter bounds are coded errors', () => {
  const k = new Uint8Array(32)
  for (const n of [0, -1, 8161, 1.5])
    assert.throws(() => hkdfSha256(k, k, k, n), { code: 'ERR_KDF_LENGTH' })
  assert.throws(() => hkdfSha256(k, k, new Uint8Array(1025), 32), { code: 'ERR_KDF_PARAMS' })
  for (const c of [0, 1e9, 2.5])
    assert.throws(() => pbkdf2Sha256Sync(k, k, c, 32), { code: 'ERR_KDF_PARAMS' })
  for (const l of [0, 1025])
    assert.throws(() => pbkdf2Sha256Sync(k, k, 1, l), { code: 'ERR_KDF_LENGTH' })
})
