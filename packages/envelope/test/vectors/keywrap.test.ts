import assert from 'node:assert/strict'
import { test } from 'node:test'
import { unwrapKw, unwrapKwp, wrapKw, wrapKwp } from '../../src/index.js'
import { botanVec, caught, hex, isCoded, loadJson, toHex, wycheproof } from './primitives-data.js'

type Wrap = (kek: Uint8Array, key: Uint8Array) => Uint8Array
const KW = { wrap: wrapKw, unwrap: unwrapKw }
const KWP = { wrap: wrapKwp, unwrap: unwrapKwp }

/**
 * Wycheproof key-wrap semantics: valid cases wrap to `ct` and unwrap back; invalid cases with an
 * empty `ct` must refuse to wrap `msg`, the others must refuse to unwrap `ct`; acceptable cases may
 * go either way but, when accepted, must be right.
 */
function runWycheproof(rel: string, alg: { wrap: Wrap; unwrap: Wrap }) {
  const counts = { valid: 0, invalid: 0, acceptedAcceptable: 0, rejectedAcceptable: 0 }
  const failures: string[] = []
  for (const { t } of wycheproof(rel)) {
    const key = hex(t.key as string)
    const msg = hex(t.msg as string)
    const ct = hex(t.ct as string)
    const id = `tcId ${t.tcId} (${t.comment})`
    if (t.result === 'valid') {
      const w = caught(() => assert.equal(toHex(alg.wrap(key, msg)), t.ct))
      const u = caught(() => assert.equal(toHex(alg.unwrap(key, ct)), t.msg))
      if (w || u) failures.push(`${id}: valid case failed`)
      else counts.valid++
    } else if (t.result === 'invalid') {
      const e =
        ct.length === 0 ? caught(() => alg.wrap(key, msg)) : caught(() => alg.unwrap(key, ct))
      if (!isCoded(e, 'ERR_KEYWRAP_'))
        failures.push(`${id}: invalid case not rejected with a coded error`)
      else counts.invalid++
    } else {
      const e = caught(() => {
        assert.equal(toHex(alg.wrap(key, msg)), t.ct)
        assert.equal(toHex(alg.unwrap(key, ct)), t.msg)
      })
      if (e === undefined) counts.acceptedAcceptable++
      else if (isCoded(e, 'ERR_KEYWRAP_')) counts.rejectedAcceptable++
      else failures.push(`${id}: acceptable case gave a wrong result`)
    }
  }
  return { counts, failures }
}

const expected = {
  'wycheproof/testvectors_v1/aes_wrap_test.json': {
    alg: KW,
    valid: 36,
    invalid: 126,
    acceptable: 3,
  },
  'wycheproof/testvectors/kw_test.json': { alg: KW, valid: 36, invalid: 126, acceptable: 0 },
  'wycheproof/testvectors_v1/aes_kwp_test.json': {
    alg: KWP,
    valid: 77,
    invalid: 177,
    acceptable: 0,
  },
  'wycheproof/testvectors/kwp_test.json': { alg: KWP, valid: 20, invalid: 174, acceptable: 60 },
} as const

for (const [rel, exp] of Object.entries(expected)) {
  test(`Wycheproof ${rel}: every valid case, every invalid case rejected`, (t) => {
    const { counts, failures } = runWycheproof(rel, exp.alg)
    assert.deepEqual(failures, [])
    assert.equal(counts.valid, exp.valid)
    assert.equal(counts.invalid, exp.invalid)
    assert.equal(counts.acceptedAcceptable + counts.rejectedAcceptable, exp.acceptable)
    t.diagnostic(JSON.stringify(counts))
  })
}

test('Wycheproof KW acceptable 8-byte keys are refused by our KW (RFC 3394 needs n >= 2 blocks)', () => {
  const { counts } = runWycheproof('wycheproof/testvectors_v1/aes_wrap_test.json', KW)
  assert.equal(counts.rejectedAcceptable, 3)
})

interface RfcFile {
  readonly vectors: readonly { section: string; kek: string; keyData: string; ciphertext: string }[]
}

for (const [file, alg, count] of [
  ['rfc/rfc3394_aes_kw.json', KW, 6],
  ['rfc/rfc5649_aes_kwp.json', KWP, 2],
] as const) {
  test(`${file}: wrap, unwrap, and a one-bit change is rejected`, () => {
    const { vectors } = loadJson<RfcFile>(file)
    assert.equal(vectors.length, count)
    for (const v of vectors) {
      const kek = hex(v.kek)
      assert.equal(toHex(alg.wrap(kek, hex(v.keyData))), v.ciphertext, v.section)
      assert.equal(toHex(alg.unwrap(kek, hex(v.ciphertext))), v.keyData, v.section)
      for (const bit of [0, 77, v.ciphertext.length * 4 - 1]) {
        const bad = hex(v.ciphertext)
        bad[bit >> 3]! ^= 1 << (bit & 7)
        assert.throws(() => alg.unwrap(kek, bad), { code: 'ERR_KEYWRAP_INTEGRITY' })
      }
    }
  })
}

test('botan rfc3394.vec and nist_key_wrap.vec (KW and KWP)', () => {
  let n = 0
  for (const file of ['botan/rfc3394.vec', 'botan/nist_key_wrap.vec']) {
    for (const { section, fields } of botanVec(file)) {
      const alg = section === 'KWP' ? KWP : KW
      // rfc3394.vec names the KEK `KEK` and the key data `Key`; nist_key_wrap.vec says `Key`/`Input`.
      const kek = hex(fields.KEK ?? fields.Key!)
      const input = hex(fields.KEK ? fields.Key! : fields.Input!)
      if (alg === KW && input.length < 16) {
        // Botan carries Wycheproof's 8-byte KW key; RFC 3394 §2 needs n >= 2 blocks and we refuse it.
        assert.throws(() => KW.wrap(kek, input), { code: 'ERR_KEYWRAP_INPUT_LENGTH' })
        n++
        continue
      }
      assert.equal(toHex(alg.wrap(kek, input)), fields.Output!.toLowerCase(), `${file} ${section}`)
      assert.equal(toHex(alg.unwrap(kek, hex(fields.Output!))), toHex(input))
      n++
    }
  }
  assert.ok(n > 130, `${n} botan vectors`)
})

test('botan nist_key_wrap_invalid.vec: every wrapped input is rejected', () => {
  const recs = botanVec('botan/nist_key_wrap_invalid.vec')
  assert.ok(recs.length >= 9)
  for (const { section, fields } of recs) {
    const alg = section === 'KWP' ? KWP : KW
    assert.throws(() => alg.unwrap(hex(fields.Key!), hex(fields.Input!)), { code: /^ERR_KEYWRAP_/ })
  }
})

test('the checks Node omits: empty keys, short or ragged wrapped input, bad KEK sizes', () => {
  const kek = new Uint8Array(32).fill(7)
  assert.throws(() => wrapKwp(kek, new Uint8Array(0)), { code: 'ERR_KEYWRAP_INPUT_LENGTH' })
  assert.throws(() => wrapKw(kek, new Uint8Array(0)), { code: 'ERR_KEYWRAP_INPUT_LENGTH' })
  assert.throws(() => wrapKw(kek, new Uint8Array(20)), { code: 'ERR_KEYWRAP_INPUT_LENGTH' })
  for (const n of [0, 8, 16, 25, 31])
    assert.throws(() => unwrapKw(kek, new Uint8Array(n)), { code: 'ERR_KEYWRAP_INPUT_LENGTH' })
  for (const n of [0, 8, 15, 17])
    assert.throws(() => unwrapKwp(kek, new Uint8Array(n)), { code: 'ERR_KEYWRAP_INPUT_LENGTH' })
  for (const n of [0, 15, 33])
    assert.throws(() => wrapKwp(new Uint8Array(n), new Uint8Array(32)), {
      code: 'ERR_KEYWRAP_KEK_LENGTH',
    })
  const w = wrapKwp(kek, new Uint8Array(32).fill(1))
  assert.throws(() => unwrapKwp(new Uint8Array(32).fill(8), w), { code: 'ERR_KEYWRAP_INTEGRITY' })
})
