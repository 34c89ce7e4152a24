// Known-answer tests for XTS: IEEE 1619-2007 Annex B, Wycheproof, Crypto++ and Botan, each run
// through BOTH backends (the native addon and the node:crypto baseline), both directions, and
// through the public API; vectors whose tweak is a sector number also go through the
// whole-sector (plain64) path.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { xtsTransform } from '../../src/xts/xts.js'
import { runSectors } from '../../src/xts/xts.js'
import { native } from '../../src/xts/native.js'
import { nodeUnit } from '../../src/xts/node-backend.js'
import { botan, cryptopp, ieee1619, wycheproof, type XtsVector } from './xts-data.js'

type Unit = (enc: boolean, key: Uint8Array, tweak: Uint8Array, data: Uint8Array) => void

function backends(): [string, Unit][] {
  assert.ok(native, 'native XTS addon not built: run `npm rebuild -w @ward/envelope`')
  const n = native
  return [
    ['native', (e, k, t, d) => n.transform(e, k, t, d)],
    ['node-crypto', nodeUnit],
    ['public xtsTransform', xtsTransform],
  ]
}

const halvesEqual = (k: Buffer): boolean =>
  k.subarray(0, k.length / 2).equals(k.subarray(k.length / 2))

/** plain64 sector number carried by a tweak, if it is one (high 8 bytes zero, below 2^53). */
function sectorOf(tweak: Buffer): number | undefined {
  if (!tweak.subarray(8).equals(Buffer.alloc(8))) return undefined
  const n = tweak.readBigUInt64LE(0)
  return n < 2n ** 53n ? Number(n) : undefined
}

/** `raw`: straight from the addon, a plain Error with `code` (the wrapper adds `expose`). */
function expectCode(fn: () => unknown, code: string, what: string, raw = false): void {
  assert.throws(fn, (e: { code?: string; expose?: boolean; name?: string }) => {
    assert.equal(e.code, code, what)
    if (!raw) assert.equal(e.name, 'EnvelopeError', what)
    if (!raw) assert.equal(e.expose, false)
    return true
  })
}

/** Runs one vector; returns 'ran' or the reason it was rejected (asserted, never silently skipped). */
function check(v: XtsVector): 'ran' | 'duplicated-keys' | 'unsupported-key-size' {
  if (v.key.length !== 32 && v.key.length !== 64) {
    // XTS-AES-192: OpenSSL has none, and Ward only ever uses XTS-AES-256.
    for (const enc of [true, false])
      expectCode(
        () => xtsTransform(enc, v.key, v.tweak, Buffer.from(v.pt)),
        'ERR_XTS_KEY_LENGTH',
        v.id,
      )
    return 'unsupported-key-size'
  }
  if (halvesEqual(v.key)) {
    for (const enc of [true, false]) {
      expectCode(
        () => xtsTransform(enc, v.key, v.tweak, Buffer.from(v.pt)),
        'ERR_XTS_DUPLICATED_KEYS',
        v.id,
      )
      expectCode(
        () => native!.transform(enc, v.key, v.tweak, Buffer.from(v.pt)),
        'ERR_XTS_DUPLICATED_KEYS',
        `${v.id} (addon's own check)`,
        true,
      )
    }
    return 'duplicated-keys'
  }
  for (const [name, unit] of backends()) {
    const buf = Buffer.from(v.pt)
    unit(true, v.key, v.tweak, buf)
    assert.equal(buf.toString('hex'), v.ct.toString('hex'), `${v.id} encrypt, ${name}`)
    unit(false, v.key, v.tweak, buf)
    assert.equal(buf.toString('hex'), v.pt.toString('hex'), `${v.id} decrypt, ${name}`)
  }
  const sector = sectorOf(v.tweak)
  if (v.key.length === 64 && sector !== undefined)
    for (const impl of [native, undefined]) {
      const name = impl ? 'native' : 'node-crypto'
      const buf = Buffer.from(v.pt)
      runSectors(impl, true, v.key, buf, sector, buf.length)
      assert.ok(buf.equals(v.ct), `${v.id} as plain64 sector ${sector}, ${name}`)
      runSectors(impl, false, v.key, buf, sector, buf.length)
      assert.ok(buf.equals(v.pt), `${v.id} as plain64 sector ${sector}, ${name}, decrypt`)
    }
  return 'ran'
}

function tally(vs: XtsVector[]): Record<string, number> {
  const t: Record<string, number> = {}
  for (const v of vs) {
    const r = check(v)
    t[r] = (t[r] ?? 0) + 1
  }
  return t
}

test('IEEE 1619-2007 Annex B: 18 vectors pass, vector 1 (key1 = key2) is refused', () => {
  const vs = ieee1619()
  assert.equal(vs.length, 19)
  assert.deepEqual(tally(vs), { ran: 18, 'duplicated-keys': 1 })
  // The XTS-AES-256 vectors (10-14) carry sector numbers up to 2^40-1: plain64 path exercised.
  assert.equal(vs.filter((v) => v.key.length === 64 && sectorOf(v.tweak) !== undefined).length, 5)
})

test('Wycheproof aes_xts_test (v1): every XTS-AES-128/256 case passes, XTS-AES-192 is refused', () => {
  const vs = wycheproof()
  for (const v of vs) assert.equal(v.result, 'valid', `${v.id}: unexpected result kind`)
  const t = tally(vs)
  assert.equal(t['duplicated-keys'], undefined)
  assert.equal(t.ran, vs.filter((v) => v.keySize === 256 || v.keySize === 512).length)
  assert.equal(t['unsupported-key-size'], vs.filter((v) => v.keySize === 384).length)
  assert.ok((t.ran ?? 0) >= 82)
  // Ciphertext stealing is covered: lengths that are not a multiple of 16.
  assert.ok(vs.some((v) => v.keySize === 512 && v.pt.length % 16 !== 0))
})

test('Crypto++ xts.txt (IEEE 1619 + generated): all pass except the all-zero key', () => {
  const vs = cryptopp()
  assert.equal(vs.length, 500)
  const t = tally(vs)
  assert.equal(t['duplicated-keys'], vs.filter((v) => halvesEqual(v.key)).length)
  assert.equal(t.ran, vs.length - (t['duplicated-keys'] ?? 0))
  assert.equal(t['unsupported-key-size'], undefined)
})

test('Botan xts.vec AES-128/AES-256 sections: all pass except the all-zero key', () => {
  const vs = botan()
  assert.ok(vs.length > 100)
  const t = tally(vs)
  assert.equal(t.ran, vs.length - (t['duplicated-keys'] ?? 0))
  assert.ok(vs.filter((v) => v.key.length === 64).length >= 50)
})

test('a flipped ciphertext bit changes the decrypted data unit (XTS has no integrity)', () => {
  const v = ieee1619().find((x) => x.key.length === 64)!
  const buf = Buffer.from(v.ct)
  buf[100]! ^= 1
  xtsTransform(false, v.key, v.tweak, buf)
  assert.ok(!buf.equals(v.pt))
  // Only the 16-byte block holding the flipped bit is garbled.
  assert.ok(buf.subarray(0, 96).equals(v.pt.subarray(0, 96)))
  assert.ok(buf.subarray(112).equals(v.pt.subarray(112)))
})
