// Properties of the crypto core: decrypt(encrypt(x)) = x for every supported cipher, and a stream
// cut at arbitrary points gives the one-shot answer (same data, same tag).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { decryptOnce, encryptOnce } from '../../src/crypto/symmetric.js'
import type { CipherSpec } from '../../src/crypto/symmetric.js'
import { openStream } from '../../src/crypto/streams.js'

const specs: { spec: CipherSpec; keyLen: number; block: number }[] = [
  ...[16, 24, 32].flatMap((keyLen) =>
    (['ECB', 'CBC'] as const).flatMap((mode) =>
      (['None', 'PKCS5'] as const).map((padding) => ({
        spec: { algorithm: 'AES' as const, mode, padding },
        keyLen,
        block: padding === 'None' ? 16 : 1,
      })),
    ),
  ),
  ...(['CFB', 'OFB', 'CTR', 'GCM', 'CCM'] as const).map((mode) => ({
    spec: { algorithm: 'AES' as const, mode, padding: 'None' as const },
    keyLen: 32,
    block: 1,
  })),
  { spec: { algorithm: 'DES3', mode: 'CBC', padding: 'PKCS5' }, keyLen: 24, block: 1 },
  { spec: { algorithm: 'DES3', mode: 'ECB', padding: 'None' }, keyLen: 24, block: 8 },
  { spec: { algorithm: 'ChaCha20', mode: 'Stream', padding: 'None' }, keyLen: 32, block: 1 },
  { spec: { algorithm: 'ChaCha20Poly1305', mode: 'AEAD', padding: 'None' }, keyLen: 32, block: 1 },
]

const arb = fc
  .record({
    i: fc.nat({ max: specs.length - 1 }),
    key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    data: fc.uint8Array({ maxLength: 200 }),
    aad: fc.option(fc.uint8Array({ maxLength: 40 }), { nil: undefined }),
    cuts: fc.array(fc.nat({ max: 200 }), { maxLength: 4 }),
  })
  .map((r) => {
    const s = specs[r.i]!
    const data = r.data.subarray(0, r.data.length - (r.data.length % s.block))
    const aead = ['GCM', 'CCM', 'AEAD'].includes(s.spec.mode)
    return {
      ...s,
      key: r.key.subarray(0, s.keyLen),
      data,
      aad: aead ? r.aad : undefined,
      cuts: r.cuts,
    }
  })

test('decrypt(encrypt(x)) = x; tampering an AEAD ciphertext or tag fails', () => {
  fc.assert(
    fc.property(arb, ({ spec, key, data, aad }) => {
      const e = encryptOnce(spec, key, data, { aad })
      const input = { iv: e.generatedIv, aad, tag: e.tag }
      assert.deepEqual(new Uint8Array(decryptOnce(spec, key, e.data, input)), data)
      if (e.tag !== undefined) {
        const t = Buffer.from(e.tag)
        t[0]! ^= 1
        assert.throws(() => decryptOnce(spec, key, e.data, { ...input, tag: t }))
      }
    }),
    { numRuns: 300 },
  )
})

test('a stream cut anywhere equals the one-shot result (CCM excluded: it cannot stream)', () => {
  fc.assert(
    fc.property(
      arb.filter((a) => a.spec.mode !== 'CCM'),
      ({ spec, key, data, aad, cuts }) => {
        const one = encryptOnce(spec, key, data, { aad })
        const iv = one.generatedIv
        const points = [...new Set(cuts.map((c) => Math.min(c, data.length)))].sort((a, b) => a - b)
        const enc = openStream({ direction: 'enc', spec, key, iv, aad, owner: 'a', objectId: 'k' })
        const dec = openStream({ direction: 'dec', spec, key, iv, aad, owner: 'a', objectId: 'k' })
        const parts: Buffer[] = []
        const back: Buffer[] = []
        let at = 0
        for (const p of points) {
          parts.push(enc.update(data.subarray(at, p)))
          at = p
        }
        const fin = enc.final(data.subarray(at))
        const ct = Buffer.concat([...parts, fin.data])
        assert.deepEqual(ct, one.data)
        assert.deepEqual(fin.tag, one.tag)
        at = 0
        for (const p of points) {
          back.push(dec.update(ct.subarray(at, p)))
          at = p
        }
        back.push(dec.final(ct.subarray(at), fin.tag).data)
        assert.deepEqual(new Uint8Array(Buffer.concat(back)), data)
      },
    ),
    { numRuns: 300 },
  )
})
