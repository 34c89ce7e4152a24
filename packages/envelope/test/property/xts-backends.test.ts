// Property tests: for random keys, sector sizes, sector numbers and data, the native addon and
// the node:crypto baseline agree, encryption round-trips, and random bad arguments only ever
// produce coded errors.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { runSectors, runSectorsAsync, xtsTransform } from '../../src/xts/xts.js'
import { native } from '../../src/xts/native.js'
import { nodeUnit } from '../../src/xts/node-backend.js'

const distinctHalves = (k: Uint8Array): boolean =>
  !Buffer.from(k.subarray(0, k.length / 2)).equals(Buffer.from(k.subarray(k.length / 2)))
const key64 = fc.uint8Array({ minLength: 64, maxLength: 64 }).filter(distinctHalves)

const sectorRun = fc
  .record({
    key: key64,
    ss: fc.oneof(fc.constantFrom(16, 512, 4096), fc.integer({ min: 16, max: 1500 })),
    n: fc.integer({ min: 0, max: 12 }),
    first: fc.oneof(
      fc.nat({ max: 1000 }),
      fc.integer({ min: 2 ** 32 - 20, max: 2 ** 32 + 20 }),
      fc.integer({ min: 2 ** 53 - 100, max: 2 ** 53 - 12 }),
    ),
    seed: fc.integer(),
  })
  .map(({ key, ss, n, first, seed }) => {
    const data = Buffer.alloc(ss * n)
    for (let i = 0; i < data.length; i++) data[i] = (seed + i * 2654435761) >>> 24
    return { key, ss, first, data }
  })

test('native == node:crypto, and decrypt(encrypt(x)) == x, sync and async', async () => {
  assert.ok(native)
  await fc.assert(
    fc.asyncProperty(sectorRun, async ({ key, ss, first, data }) => {
      const a = Buffer.from(data)
      const b = Buffer.from(data)
      const c = Buffer.from(data)
      runSectors(native, true, key, a, first, ss)
      runSectors(undefined, true, key, b, first, ss)
      await runSectorsAsync(native, true, key, c, first, ss)
      assert.ok(a.equals(b) && a.equals(c))
      runSectors(native, false, key, a, first, ss)
      assert.ok(a.equals(data))
    }),
    { numRuns: 150 },
  )
})

test('xtsTransform (ciphertext stealing) agrees with node:crypto on any length 16..600', () => {
  fc.assert(
    fc.property(
      fc.oneof(key64, fc.uint8Array({ minLength: 32, maxLength: 32 }).filter(distinctHalves)),
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      fc.uint8Array({ minLength: 16, maxLength: 600 }),
      (key, tweak, pt) => {
        const a = Buffer.from(pt)
        const b = Buffer.from(pt)
        xtsTransform(true, key, tweak, a)
        nodeUnit(true, key, tweak, b)
        assert.ok(a.equals(b))
        xtsTransform(false, key, tweak, a)
        assert.ok(a.equals(pt))
      },
    ),
    { numRuns: 300 },
  )
})

test('random argument garbage gives ERR_XTS_* errors, never a crash or another error', async () => {
  const anything = fc.oneof(
    fc.uint8Array({ maxLength: 80 }),
    fc.integer(),
    fc.double(),
    fc.string(),
    fc.constant(undefined),
    fc.constant(null),
  )
  await fc.assert(
    fc.asyncProperty(anything, anything, anything, anything, async (k, d, f, s) => {
      for (const impl of [native, undefined])
        try {
          await runSectorsAsync(
            impl,
            true,
            k as Uint8Array,
            d as Uint8Array,
            f as number,
            s as number,
          )
          runSectors(impl, false, k as Uint8Array, d as Uint8Array, f as number, s as number)
        } catch (e) {
          assert.match(String((e as { code?: unknown }).code), /^ERR_XTS_[A-Z_]+$/)
        }
    }),
    { numRuns: 300 },
  )
})
