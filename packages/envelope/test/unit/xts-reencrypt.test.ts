// Deep-rekey primitive: re-encryption in one sweep equals decrypt-then-encrypt, on both
// backends, sync and async; its keys are checked like the others'.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import {
  runReencrypt,
  runReencryptAsync,
  xtsEncryptSectors,
  xtsReencryptSectors,
  xtsReencryptSectorsAsync,
} from '../../src/xts/xts.js'
import { native } from '../../src/xts/native.js'

test('re-encrypt == decrypt(old) then encrypt(new), both backends, sync and async', async () => {
  for (const [ss, n, first] of [
    [4096, 700, 2 ** 32 - 300], // 2.7 MiB: async splits it
    [512, 33, 9],
    [528, 5, 0], // ciphertext stealing in every sector
  ] as const) {
    const oldKey = randomBytes(64)
    const newKey = randomBytes(64)
    const pt = randomBytes(ss * n)
    const underOld = Buffer.from(pt)
    xtsEncryptSectors(oldKey, underOld, first, ss)
    const underNew = Buffer.from(pt)
    xtsEncryptSectors(newKey, underNew, first, ss)
    for (const impl of [native, undefined]) {
      const name = `${impl ? 'native' : 'node-crypto'} ss=${ss}`
      const a = Buffer.from(underOld)
      runReencrypt(impl, oldKey, newKey, a, first, ss)
      assert.ok(a.equals(underNew), `${name} sync`)
      const b = Buffer.from(underOld)
      const ok = Buffer.from(oldKey)
      const nk = Buffer.from(newKey)
      const p = runReencryptAsync(impl, ok, nk, b, first, ss)
      ok.fill(0) // keys are copied at call time
      nk.fill(0)
      await p
      assert.ok(b.equals(underNew), `${name} async`)
    }
  }
  // The exported wrappers run the native backend.
  const k1 = randomBytes(64)
  const k2 = randomBytes(64)
  const d = randomBytes(4096 * 3)
  const e = Buffer.from(d)
  xtsEncryptSectors(k1, e, 1, 4096)
  const viaSync = Buffer.from(e)
  xtsReencryptSectors(k1, k2, viaSync, 1, 4096)
  const viaAsync = Buffer.from(e)
  await xtsReencryptSectorsAsync(k1, k2, viaAsync, 1, 4096)
  const want = Buffer.from(d)
  xtsEncryptSectors(k2, want, 1, 4096)
  assert.ok(viaSync.equals(want) && viaAsync.equals(want))
})

test('re-encrypt checks both keys and leaves data untouched on refusal', async () => {
  const good = randomBytes(64)
  const dup = Buffer.concat([good.subarray(0, 32), good.subarray(0, 32)])
  const data = randomBytes(4096)
  const before = Buffer.from(data)
  const coded = (code: string) => (e: unknown) => {
    assert.equal((e as { code?: string }).code, code)
    assert.equal((e as { name?: string }).name, 'EnvelopeError')
    return true
  }
  for (const [o, n, code] of [
    [good, dup, 'ERR_XTS_DUPLICATED_KEYS'],
    [dup, good, 'ERR_XTS_DUPLICATED_KEYS'],
    [good, randomBytes(32), 'ERR_XTS_KEY_LENGTH'],
    [randomBytes(63), good, 'ERR_XTS_KEY_LENGTH'],
  ] as const) {
    assert.throws(() => xtsReencryptSectors(o, n, data, 0, 4096), coded(code))
    await assert.rejects(xtsReencryptSectorsAsync(o, n, data, 0, 4096), coded(code))
    await assert.rejects(runReencryptAsync(undefined, o, n, data, 0, 4096), coded(code))
  }
  assert.throws(
    () => xtsReencryptSectors(good, randomBytes(64), data, 0, 1000),
    coded('ERR_XTS_DATA_LENGTH'),
  )
  assert.ok(data.equals(before))
  // The addon's own fence: a duplicated new key rejects on the pool thread.
  assert.ok(native)
  await assert.rejects(native.reencryptAsync(good, dup, data, 0, 4096), (e: unknown) => {
    assert.equal((e as { code?: string }).code, 'ERR_XTS_DUPLICATED_KEYS')
    return true
  })
  assert.throws(
    () => native!.reencrypt(good, randomBytes(32), data, 0, 4096),
    (e: unknown) => (e as { code?: string }).code === 'ERR_XTS_KEY_LENGTH',
  )
  assert.ok(data.equals(before))
})
