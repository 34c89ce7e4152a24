// The native addon is built and agrees with the node:crypto baseline byte for byte, sync and
// async, on sector sizes, offsets and sector numbers that stress the plain64 tweak.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import {
  runSectors,
  runSectorsAsync,
  xtsBackend,
  xtsDecryptSectors,
  xtsDecryptSectorsAsync,
  xtsEncryptSectors,
  xtsEncryptSectorsAsync,
} from '../../src/xts/xts.js'
import { native } from '../../src/xts/native.js'

function key64(): Buffer {
  return randomBytes(64) // halves equal with probability 2^-256
}

test('the native backend is built and selected (CI must build the addon)', () => {
  assert.ok(native, 'native/build/Release/ward_xts.node missing: `npm rebuild -w @ward/envelope`')
  assert.equal(xtsBackend(), 'native')
})

const cases: [sectorSize: number, sectors: number, first: number][] = [
  [4096, 33, 0],
  [512, 70, 1],
  [4096, 9, 2 ** 32 - 4], // crosses the 32-bit boundary of the sector number
  [4096, 3, 2 ** 53 - 3], // the last representable sectors
  [16, 40, 255], // one AES block per sector
  [520, 11, 77], // not a multiple of 16: ciphertext stealing inside every sector
  [65536, 2, 123456789],
]

test('native and node:crypto give identical ciphertext and both round-trip', () => {
  for (const [ss, n, first] of cases) {
    const key = key64()
    const pt = randomBytes(ss * n)
    const a = Buffer.from(pt)
    const b = Buffer.from(pt)
    runSectors(native, true, key, a, first, ss)
    runSectors(undefined, true, key, b, first, ss)
    assert.ok(a.equals(b), `ss=${ss} first=${first}: backends differ`)
    assert.ok(!a.equals(pt))
    runSectors(native, false, key, a, first, ss)
    runSectors(undefined, false, key, b, first, ss)
    assert.ok(a.equals(pt) && b.equals(pt), `ss=${ss} first=${first}: round trip`)
  }
})

test('each sector is independent: sector k alone encrypts as in the whole run', () => {
  const key = key64()
  const pt = randomBytes(4096 * 8)
  const all = Buffer.from(pt)
  xtsEncryptSectors(key, all, 1000, 4096)
  for (let k = 0; k < 8; k++) {
    const one = Buffer.from(pt.subarray(k * 4096, (k + 1) * 4096))
    xtsEncryptSectors(key, one, 1000 + k, 4096)
    assert.ok(one.equals(all.subarray(k * 4096, (k + 1) * 4096)), `sector ${k}`)
  }
  // Same plaintext in two sectors gives different ciphertext (the tweak differs).
  const twin = Buffer.concat([pt.subarray(0, 4096), pt.subarray(0, 4096)])
  xtsEncryptSectors(key, twin, 0, 4096)
  assert.ok(!twin.subarray(0, 4096).equals(twin.subarray(4096)))
})

test('works in place on a view into a larger buffer and touches nothing outside it', () => {
  const key = key64()
  const big = randomBytes(4096 * 6)
  const before = Buffer.from(big)
  const view = new Uint8Array(big.buffer, big.byteOffset + 4096, 4096 * 4)
  xtsEncryptSectors(key, view, 5, 4096)
  assert.ok(big.subarray(0, 4096).equals(before.subarray(0, 4096)))
  assert.ok(big.subarray(4096 * 5).equals(before.subarray(4096 * 5)))
  xtsDecryptSectors(key, view, 5, 4096)
  assert.ok(big.equals(before))
})

test('async matches sync, split across jobs on sector boundaries (odd counts too)', async () => {
  for (const [bytes, ss, first] of [
    [4096 * 1027, 4096, 3], // > 1 MiB: split; 1027 sectors do not divide evenly
    [512 * 4099, 512, 2 ** 32 - 2000],
    [4096 * 5, 4096, 9], // small: one job
    [0, 4096, 0], // nothing to do
  ] as const) {
    const key = key64()
    const pt = randomBytes(bytes)
    const sync = Buffer.from(pt)
    xtsEncryptSectors(key, sync, first, ss)
    const asy = Buffer.from(pt)
    await xtsEncryptSectorsAsync(key, asy, first, ss)
    assert.ok(asy.equals(sync), `bytes=${bytes}`)
    await xtsDecryptSectorsAsync(key, asy, first, ss)
    assert.ok(asy.equals(pt), `bytes=${bytes} round trip`)
    // The node:crypto fallback's async path agrees too.
    const fb = Buffer.from(pt)
    await runSectorsAsync(undefined, true, key, fb, first, ss)
    assert.ok(fb.equals(sync), `bytes=${bytes} fallback`)
  }
})

test('async copies the key at call time: zeroing it afterwards does not matter', async () => {
  const key = key64()
  const keep = Buffer.from(key)
  const pt = randomBytes(4096 * 600)
  const expected = Buffer.from(pt)
  xtsEncryptSectors(keep, expected, 0, 4096)
  for (const impl of [native, undefined]) {
    const data = Buffer.from(pt)
    const k = Buffer.from(keep)
    const p = runSectorsAsync(impl, true, k, data, 0, 4096)
    k.fill(0)
    await p
    assert.ok(data.equals(expected), impl ? 'native' : 'node-crypto')
  }
})

test('many concurrent async calls on separate buffers all complete correctly', async () => {
  const key = key64()
  const bufs = Array.from({ length: 16 }, () => randomBytes(4096 * 64))
  const want = bufs.map((b, i) => {
    const c = Buffer.from(b)
    xtsEncryptSectors(key, c, i * 64, 4096)
    return c
  })
  const got = bufs.map((b) => Buffer.from(b))
  await Promise.all(got.map((b, i) => xtsEncryptSectorsAsync(key, b, i * 64, 4096)))
  got.forEach((b, i) => assert.ok(b.equals(want[i]!), `buffer ${i}`))
})
