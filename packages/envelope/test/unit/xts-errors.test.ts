// Bad arguments give coded EnvelopeErrors (sync throws, async rejects) and leave the data as it
// was; the addon's own checks (its second fence) hold when it is called directly.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import {
  runSectorsAsync,
  xtsDecryptSectors,
  xtsEncryptSectors,
  xtsEncryptSectorsAsync,
  xtsTransform,
} from '../../src/xts/xts.js'
import { native } from '../../src/xts/native.js'

const isCoded = (code: string) => (e: unknown) => {
  const err = e as { code?: string; name?: string; expose?: boolean; message?: string }
  assert.equal(err.code, code)
  assert.equal(err.name, 'EnvelopeError')
  assert.equal(err.expose, false)
  assert.ok((err.message ?? '').length > 10)
  return true
}

const key = randomBytes(64)
const dup = Buffer.concat([key.subarray(0, 32), key.subarray(0, 32)])

const bad: [what: string, code: string, args: [Uint8Array, Uint8Array, number, number]][] = [
  ['32-byte key', 'ERR_XTS_KEY_LENGTH', [randomBytes(32), Buffer.alloc(4096), 0, 4096]],
  ['65-byte key', 'ERR_XTS_KEY_LENGTH', [randomBytes(65), Buffer.alloc(4096), 0, 4096]],
  ['equal key halves', 'ERR_XTS_DUPLICATED_KEYS', [dup, Buffer.alloc(4096), 0, 4096]],
  ['zero key', 'ERR_XTS_DUPLICATED_KEYS', [Buffer.alloc(64), Buffer.alloc(4096), 0, 4096]],
  ['sector size 0', 'ERR_XTS_SECTOR_SIZE', [key, Buffer.alloc(4096), 0, 0]],
  ['sector size 15', 'ERR_XTS_SECTOR_SIZE', [key, Buffer.alloc(30), 0, 15]],
  ['sector size 4096.5', 'ERR_XTS_SECTOR_SIZE', [key, Buffer.alloc(4096), 0, 4096.5]],
  ['sector size NaN', 'ERR_XTS_SECTOR_SIZE', [key, Buffer.alloc(4096), 0, NaN]],
  ['sector size > 16 MiB', 'ERR_XTS_SECTOR_SIZE', [key, Buffer.alloc(0), 0, 2 ** 24 + 16]],
  ['partial sector', 'ERR_XTS_DATA_LENGTH', [key, Buffer.alloc(4097), 0, 4096]],
  ['half a sector', 'ERR_XTS_DATA_LENGTH', [key, Buffer.alloc(2048), 0, 4096]],
  ['negative sector', 'ERR_XTS_SECTOR_NUMBER', [key, Buffer.alloc(4096), -1, 4096]],
  ['fractional sector', 'ERR_XTS_SECTOR_NUMBER', [key, Buffer.alloc(4096), 1.5, 4096]],
  ['NaN sector', 'ERR_XTS_SECTOR_NUMBER', [key, Buffer.alloc(4096), NaN, 4096]],
  ['sector past 2^53', 'ERR_XTS_SECTOR_NUMBER', [key, Buffer.alloc(8192), 2 ** 53 - 1, 4096]],
]

test('sector functions: bad arguments are coded errors, data untouched', async () => {
  for (const [what, code, [k, data, first, ss]] of bad) {
    const before = Buffer.from(data)
    assert.throws(() => xtsEncryptSectors(k, data, first, ss), isCoded(code), what)
    assert.throws(() => xtsDecryptSectors(k, data, first, ss), isCoded(code), what)
    await assert.rejects(xtsEncryptSectorsAsync(k, data, first, ss), isCoded(code), what)
    await assert.rejects(runSectorsAsync(undefined, true, k, data, first, ss), isCoded(code), what)
    assert.ok(Buffer.from(data).equals(before), `${what}: data changed`)
  }
})

test('non-Uint8Array data is refused, not coerced', () => {
  const notBytes = 'x'.repeat(4096) as unknown as Uint8Array
  assert.throws(() => xtsEncryptSectors(key, notBytes, 0, 4096), isCoded('ERR_XTS_ARGUMENT'))
  const notKey = [...key] as unknown as Uint8Array
  assert.throws(
    () => xtsEncryptSectors(notKey, Buffer.alloc(4096), 0, 4096),
    isCoded('ERR_XTS_KEY_LENGTH'),
  )
})

test('xtsTransform: key, tweak and length limits', () => {
  const t = Buffer.alloc(16)
  assert.throws(
    () => xtsTransform(true, randomBytes(48), t, Buffer.alloc(32)),
    isCoded('ERR_XTS_KEY_LENGTH'),
  )
  assert.throws(
    () => xtsTransform(true, dup, t, Buffer.alloc(32)),
    isCoded('ERR_XTS_DUPLICATED_KEYS'),
  )
  assert.throws(
    () => xtsTransform(false, dup, t, Buffer.alloc(32)),
    isCoded('ERR_XTS_DUPLICATED_KEYS'),
  )
  assert.throws(
    () => xtsTransform(true, key, Buffer.alloc(15), Buffer.alloc(32)),
    isCoded('ERR_XTS_TWEAK_LENGTH'),
  )
  assert.throws(() => xtsTransform(true, key, t, Buffer.alloc(15)), isCoded('ERR_XTS_DATA_LENGTH'))
  assert.throws(() => xtsTransform(true, key, t, Buffer.alloc(0)), isCoded('ERR_XTS_DATA_LENGTH'))
  assert.throws(
    () => xtsTransform(true, key, t, Buffer.alloc(2 ** 24 + 1)),
    isCoded('ERR_XTS_DATA_LENGTH'),
  )
  // The limits themselves are accepted: 16 bytes, 17 bytes (stealing) and a 32-byte key.
  for (const [k, n] of [
    [key, 16],
    [key, 17],
    [randomBytes(32), 31],
  ] as const) {
    const d = randomBytes(n)
    const copy = Buffer.from(d)
    xtsTransform(true, k, t, d)
    assert.ok(!d.equals(copy))
    xtsTransform(false, k, t, d)
    assert.ok(d.equals(copy))
  }
})

test('the addon checks its arguments itself (second fence, no crash on misuse)', async () => {
  assert.ok(native)
  const n = native
  const data = Buffer.alloc(4096)
  const raw = (code: string) => (e: unknown) => {
    assert.equal((e as { code?: string }).code, code)
    return true
  }
  const calls: [string, () => unknown][] = [
    ['ERR_XTS_ARGUMENT', () => (n.sectors as (...a: unknown[]) => void)(true, key)],
    ['ERR_XTS_ARGUMENT', () => n.sectors('yes' as unknown as boolean, key, data, 0, 4096)],
    ['ERR_XTS_ARGUMENT', () => n.sectors(true, key, 'x' as unknown as Uint8Array, 0, 4096)],
    [
      'ERR_XTS_ARGUMENT',
      () => n.sectors(true, key, new Uint16Array(2048) as unknown as Uint8Array, 0, 4096),
    ],
    ['ERR_XTS_KEY_LENGTH', () => n.sectors(true, randomBytes(32), data, 0, 4096)],
    ['ERR_XTS_DUPLICATED_KEYS', () => n.sectors(false, dup, data, 0, 4096)],
    ['ERR_XTS_SECTOR_SIZE', () => n.sectors(true, key, data, 0, 8)],
    ['ERR_XTS_SECTOR_SIZE', () => n.sectors(true, key, data, 0, 2 ** 25)],
    ['ERR_XTS_DATA_LENGTH', () => n.sectors(true, key, data, 0, 4000)],
    ['ERR_XTS_SECTOR_NUMBER', () => n.sectors(true, key, data, -1, 4096)],
    ['ERR_XTS_SECTOR_NUMBER', () => n.sectors(true, key, data, 2 ** 60, 4096)],
    ['ERR_XTS_SECTOR_NUMBER', () => n.sectors(true, key, data, 0.5, 4096)],
    ['ERR_XTS_SECTOR_SIZE', () => n.sectorsAsync(true, key, data, 0, 8)],
    ['ERR_XTS_TWEAK_LENGTH', () => n.transform(true, key, Buffer.alloc(8), data)],
    ['ERR_XTS_DATA_LENGTH', () => n.transform(true, key, Buffer.alloc(16), Buffer.alloc(8))],
    ['ERR_XTS_KEY_LENGTH', () => n.transform(true, randomBytes(48), Buffer.alloc(16), data)],
  ]
  for (const [code, call] of calls) assert.throws(call, raw(code), code)
  assert.ok(data.equals(Buffer.alloc(4096)))
  // The async job keys its cipher on the pool thread: a refusal there rejects the promise
  // (the public wrapper checks first; this exercises the addon's rejection path).
  await assert.rejects(n.sectorsAsync(true, dup, data, 0, 4096), raw('ERR_XTS_DUPLICATED_KEYS'))
  assert.ok(data.equals(Buffer.alloc(4096)))
})
