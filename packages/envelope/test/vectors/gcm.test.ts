import assert from 'node:assert/strict'
import { test } from 'node:test'
import { gcmOpen, gcmSeal } from '../../src/index.js'
import { caught, hex, isCoded, toHex, wycheproof } from './primitives-data.js'

/**
 * Counts: `ok` valid 96-bit cases, `invalid` invalid cases rejected (by tag check, or the 6
 * zero-length IVs by the nonce policy), `ivPolicy` valid cases refused for their IV size,
 * `acceptable` legacy "SmallIv" cases (all refused by the nonce policy).
 *
 * Wycheproof AES-GCM through our helper. Ward only accepts 96-bit nonces, so every case with
 * another IV size must be refused with ERR_AEAD_IV_LENGTH (on seal and open); those are counted
 * apart. Every 96-bit valid case must seal to ct||tag and open back; every invalid case must fail.
 */
const expected = {
  'wycheproof/testvectors_v1/aes_gcm_test.json': {
    ok: 116,
    invalid: 87,
    ivPolicy: 113,
    acceptable: 0,
  },
  'wycheproof/testvectors/aes_gcm_test.json': {
    ok: 62,
    invalid: 87,
    ivPolicy: 77,
    acceptable: 30,
  },
} as const

for (const [rel, exp] of Object.entries(expected)) {
  test(`Wycheproof ${rel}: valid cases round-trip, invalid ones are rejected`, (t) => {
    const counts = { ok: 0, invalid: 0, ivPolicy: 0, acceptable: 0 }
    const failures: string[] = []
    for (const { group, t: v } of wycheproof(rel)) {
      assert.equal(group.tagSize, 128)
      const [key, iv, aad, msg] = [v.key, v.iv, v.aad, v.msg].map((x) => hex(x as string)) as [
        Uint8Array,
        Uint8Array,
        Uint8Array,
        Uint8Array,
      ]
      const sealed = hex((v.ct as string) + (v.tag as string))
      const id = `tcId ${v.tcId} (${v.comment}, iv ${iv.length} bytes)`
      if (iv.length !== 12) {
        const e1 = caught(() => gcmSeal(key, iv, msg, aad))
        const e2 = caught(() => gcmOpen(key, iv, sealed, aad))
        if (isCoded(e1, 'ERR_AEAD_IV_LENGTH') && isCoded(e2, 'ERR_AEAD_IV_LENGTH')) {
          if (v.result === 'invalid')
            counts.invalid++ // the zero-length IV cases
          else if (v.result === 'acceptable') counts.acceptable++
          else counts.ivPolicy++
        } else failures.push(`${id}: not refused by the 12-byte nonce policy`)
        continue
      }
      if (v.result === 'invalid') {
        if (
          isCoded(
            caught(() => gcmOpen(key, iv, sealed, aad)),
            'ERR_AEAD_AUTH',
          )
        )
          counts.invalid++
        else failures.push(`${id}: invalid case accepted`)
        continue
      }
      const e = caught(() => {
        assert.equal(toHex(gcmSeal(key, iv, msg, aad)), toHex(sealed))
        assert.equal(toHex(gcmOpen(key, iv, sealed, aad)), toHex(msg))
      })
      if (e) failures.push(`${id}: ${String(e)}`)
      else counts.ok++
    }
    assert.deepEqual(failures, [])
    t.diagnostic(JSON.stringify(counts))
    assert.equal(counts.ok, exp.ok)
    assert.equal(counts.invalid, exp.invalid)
    assert.equal(counts.ivPolicy, exp.ivPolicy)
    assert.equal(counts.acceptable, exp.acceptable)
  })
}

test('gcmOpen rejects a short input, a wrong key and a changed AAD with ERR_AEAD_AUTH', () => {
  const key = new Uint8Array(32).fill(3)
  const iv = new Uint8Array(12)
  const sealed = gcmSeal(key, iv, new Uint8Array([1, 2, 3]), new Uint8Array([9]))
  assert.throws(() => gcmOpen(key, iv, sealed.subarray(0, 15), new Uint8Array([9])), {
    code: 'ERR_AEAD_AUTH',
  })
  assert.throws(() => gcmOpen(new Uint8Array(32), iv, sealed, new Uint8Array([9])), {
    code: 'ERR_AEAD_AUTH',
  })
  assert.throws(() => gcmOpen(key, iv, sealed, new Uint8Array([8])), { code: 'ERR_AEAD_AUTH' })
  assert.throws(() => gcmSeal(new Uint8Array(31), iv, new Uint8Array(1)), {
    code: 'ERR_AEAD_KEY_LENGTH',
  })
})
