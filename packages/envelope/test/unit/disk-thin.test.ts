import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { createThinDisk, decryptDisk, describeDisk, xtsEncryptSectors } from '../../src/index.js'
import { tmp } from './luks2-fixtures.js'

// createThinDisk: a VM's new encrypted disk, header only, the data area a hole.
const t = tmp()
after(() => t.cleanup())
const MiB = 1 << 20
const kek = new Uint8Array(randomBytes(32))

const newDek = (): Uint8Array => {
  const k = new Uint8Array(randomBytes(64))
  k[0] = k[32]! ^ 1 // halves differ
  return k
}

test('a thin disk takes only its header until written, and its DEK is the one given', async () => {
  const d = t.path('thin.luks')
  const dek = newDek()
  const r = await createThinDisk(d, { size: 64 * MiB, dek, kek, providerId: 'kp', kekId: 'k1' })
  assert.equal(r.dataBytes, 64 * MiB)
  assert.equal(r.dataOffset, 16 * MiB)
  const st = statSync(d)
  assert.equal(st.size, 16 * MiB + 64 * MiB)
  assert.ok(st.blocks * 512 <= 16 * MiB + MiB, `sparse: ${st.blocks * 512} bytes allocated`)
  const desc = describeDisk(d)
  assert.equal(desc.ward, true)
  assert.equal(desc.kekId, 'k1')
  assert.equal(desc.providerId, 'kp')
  assert.equal(desc.sectorSize, 4096)
  assert.equal(desc.recordedDataBytes, 64 * MiB)
  // write one sector the way the crypto filter does (XTS with the given DEK, tweak = sector no.)
  const plain = Buffer.alloc(4096, 0x5a)
  const ct = Buffer.from(plain)
  xtsEncryptSectors(dek, ct, 3, 4096) // in place
  const b = readFileSync(d)
  ct.copy(b, 16 * MiB + 3 * 4096)
  writeFileSync(d, b)
  const out = t.path('thin.out')
  await decryptDisk(d, out, { unlock: { kek } })
  const back = readFileSync(out)
  assert.equal(back.length, 64 * MiB)
  assert.ok(
    back.subarray(3 * 4096, 4 * 4096).equals(plain),
    'the DEK in the token is the one given',
  )
  assert.equal(
    dek.every((x) => x === 0),
    false,
    "the caller's DEK is not zeroed",
  )
})

test('thin disk refusals: bad sizes, bad DEK, an existing file', async () => {
  const o = { kek, providerId: 'kp', kekId: 'k1' }
  await assert.rejects(createThinDisk(t.path('x1'), { ...o, size: 4095 }), {
    code: 'ERR_DISK_OPTIONS',
  })
  await assert.rejects(createThinDisk(t.path('x2'), { ...o, size: 0 }), {
    code: 'ERR_DISK_OPTIONS',
  })
  await assert.rejects(createThinDisk(t.path('x3'), { ...o, size: 2 ** 60 }), {
    code: 'ERR_DISK_OPTIONS',
  })
  await assert.rejects(createThinDisk(t.path('x4'), { ...o, size: MiB, dek: new Uint8Array(32) }), {
    code: 'ERR_DISK_OPTIONS',
  })
  const there = t.path('there')
  writeFileSync(there, 'keep')
  await assert.rejects(createThinDisk(there, { ...o, size: MiB }))
  assert.equal(readFileSync(there, 'utf8'), 'keep')
})
