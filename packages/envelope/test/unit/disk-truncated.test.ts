import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs'
import {
  decryptDisk,
  describeDisk,
  encryptDisk,
  encryptInPlace,
  hasLuks2Magic,
  rekeyDeep,
  rekeyShallow,
} from '../../src/index.js'
import { journalPath } from '../../src/disk/journal.js'
import { same, SMALL_PBKDF2, tmp } from './luks2-fixtures.js'

// Issue 11, item 10: a disk cut inside its data area (at a sector boundary, so the dynamic
// segment alone cannot tell) is ERR_LUKS2_TRUNCATED for every operation, with the expected and
// actual sizes, and nothing is written; the token records the data size (`data_size`).

const t = tmp()
after(() => t.cleanup())
const MiB = 1048576
const kek = new Uint8Array(randomBytes(32))
const kek2 = new Uint8Array(randomBytes(32))
const pass = new TextEncoder().encode('break glass')
const raw = t.random('raw', 2 * MiB)
const digest = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex')

async function cutDisk(name: string): Promise<string> {
  const d = t.path(name)
  await encryptDisk(raw, d, {
    kek,
    providerId: 'p',
    kekId: 'k',
    recoveryPassphrase: pass,
    recoveryKdf: SMALL_PBKDF2,
  })
  truncateSync(d, 16 * MiB + MiB) // half the data, on a sector boundary
  return d
}

const truncated = (re: RegExp = /2097152 bytes of data.*1048576 missing/) => ({
  code: 'ERR_LUKS2_TRUNCATED',
  message: re,
})

test('decrypt of a disk cut inside its data area: ERR_LUKS2_TRUNCATED with the sizes, no output', async () => {
  const d = await cutDisk('cut.luks')
  const out = t.path('cut.out')
  await assert.rejects(decryptDisk(d, out, { unlock: { kek } }), truncated())
  await assert.rejects(decryptDisk(d, out, { unlock: { passphrase: pass } }), truncated())
  assert.ok(!existsSync(out))
  const desc = describeDisk(d)
  assert.deepEqual([desc.truncated, desc.recordedDataBytes, desc.dataBytes], [true, 2 * MiB, MiB])
})

test('rekeys and in-place encryption refuse a cut disk and leave it as it was', async () => {
  const d = await cutDisk('cut2.luks')
  const before = digest(d)
  assert.throws(() => rekeyShallow(d, { kek, newKek: kek2, kekId: 'k2' }), truncated())
  await assert.rejects(rekeyDeep(d, { kek, recoveryPassphrase: pass }), truncated())
  await assert.rejects(encryptInPlace(d, { kek, providerId: 'p', kekId: 'k' }), truncated())
  assert.equal(digest(d), before)
  assert.ok(!existsSync(journalPath(d)))
})

test('a grown disk still opens, and rekeys record its new size', async () => {
  const d = t.path('grown.luks')
  await encryptDisk(raw, d, { kek, providerId: 'p', kekId: 'k' })
  assert.equal(describeDisk(d).recordedDataBytes, 2 * MiB)
  truncateSync(d, 16 * MiB + 3 * MiB)
  const out = t.path('grown.out')
  await decryptDisk(d, out, { unlock: { kek } })
  assert.ok(
    readFileSync(out)
      .subarray(0, 2 * MiB)
      .equals(readFileSync(raw)),
  )
  rekeyShallow(d, { kek, newKek: kek2, kekId: 'k2' })
  assert.equal(describeDisk(d).recordedDataBytes, 3 * MiB)
  truncateSync(d, 16 * MiB + 2 * MiB) // back to the old size: now short of what was recorded
  await assert.rejects(
    decryptDisk(d, t.path('grown.out2'), { unlock: { kek: kek2 } }),
    truncated(/3145728 bytes of data/),
  )
  assert.equal(describeDisk(d).truncated, true)
})

test('a whole disk is not truncated and opens', async () => {
  const d = t.path('whole.luks')
  await encryptDisk(raw, d, { kek, providerId: 'p', kekId: 'k' })
  assert.equal(describeDisk(d).truncated, false)
  const out = t.path('whole.out')
  await decryptDisk(d, out, { unlock: { kek } })
  assert.ok(same(out, raw))
})

test('a header cut short is a truncated LUKS2 volume, not "not LUKS"', async () => {
  const d = t.path('head.luks')
  await encryptDisk(raw, d, { kek, providerId: 'p', kekId: 'k' })
  for (const size of [1 * MiB, 20000, 4096 + 100, 1000]) {
    // shrinking only: each cut keeps the bytes of the one before
    truncateSync(d, size)
    assert.ok(hasLuks2Magic(d), String(size))
    assert.throws(() => describeDisk(d), { code: 'ERR_LUKS2_TRUNCATED' }, String(size))
  }
  writeFileSync(t.path('plain'), randomBytes(4096))
  assert.ok(!hasLuks2Magic(t.path('plain')))
})

test('a shallow rekey needs the new KEK id', () => {
  const d = t.path('nokid.luks')
  return encryptDisk(raw, d, { kek, providerId: 'p', kekId: 'k' }).then(() => {
    assert.throws(
      () => rekeyShallow(d, { kek, newKek: kek2 } as unknown as Parameters<typeof rekeyShallow>[1]),
      { code: 'ERR_DISK_OPTIONS' },
    )
    const r = rekeyShallow(d, { kek, newKek: kek2, kekId: 'k2' })
    assert.deepEqual(
      [r.kekId, r.providerId, r.previousKekId, r.previousProviderId],
      ['k2', 'p', 'k', 'p'],
    )
  })
})
