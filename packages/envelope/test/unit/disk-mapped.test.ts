import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { decryptDisk, encryptDisk } from '../../src/disk/index.js'
import { same, tmp } from './luks2-fixtures.js'

// New-file runs read their input through a mapping (native addon) unless `mapInput: false`:
// both ways must produce disks and images the other way reads back.
const t = tmp('ward-disk-mapped-')
after(() => t.cleanup())
const kek = new Uint8Array(randomBytes(32))
const ids = { providerId: 'p', kekId: 'k' }
const raw = t.random('raw', 9 * 1048576 + 3 * 4096) // several 4 MiB segments, a short last one

test('mapped and read() inputs give disks that decrypt, either way, to the same image', async () => {
  await encryptDisk(raw, t.path('mapped.luks'), { kek, ...ids })
  await encryptDisk(raw, t.path('read.luks'), { kek, ...ids, mapInput: false })
  for (const disk of ['mapped.luks', 'read.luks'])
    for (const mapInput of [true, false]) {
      const out = t.path(`${disk}.${String(mapInput)}.raw`)
      await decryptDisk(t.path(disk), out, { unlock: { kek }, mapInput })
      assert.ok(same(out, raw), `${disk} decrypted with mapInput=${String(mapInput)}`)
    }
  // fresh DEKs: the two disks differ, and neither holds the plaintext
  const a = readFileSync(t.path('mapped.luks')).subarray(16 * 1048576)
  const b = readFileSync(t.path('read.luks')).subarray(16 * 1048576)
  assert.ok(!a.equals(b))
  assert.ok(!a.subarray(0, 4096).equals(readFileSync(raw).subarray(0, 4096)))
})

test('a mapped output (forced here; by default only on huge-page tmpfs) decrypts to the image', async () => {
  await encryptDisk(raw, t.path('mapout.luks'), { kek, ...ids, mapOutput: true })
  await encryptDisk(raw, t.path('mapout-small.luks'), {
    kek,
    ...ids,
    mapOutput: true,
    segmentBytes: 12288,
  })
  for (const d of ['mapout.luks', 'mapout-small.luks']) {
    await decryptDisk(t.path(d), t.path(`${d}.raw`), { unlock: { kek } })
    assert.ok(same(t.path(`${d}.raw`), raw), d)
  }
})

test('small segments with two transforms in flight (mapped path) still round-trip', async () => {
  await encryptDisk(raw, t.path('small.luks'), { kek, ...ids, segmentBytes: 12288 })
  await decryptDisk(t.path('small.luks'), t.path('small.raw'), {
    unlock: { kek },
    segmentBytes: 8192,
  })
  assert.ok(same(t.path('small.raw'), raw))
})
