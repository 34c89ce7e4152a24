import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import {
  decryptDisk,
  describeDisk,
  encryptDisk,
  encryptInPlace,
  isLuks2,
  rekeyDeep,
  rekeyShallow,
} from '../../src/index.js'
import { Journal, journalPath } from '../../src/disk/journal.js'
import { same, SMALL_ARGON2, SMALL_PBKDF2, tmp } from './luks2-fixtures.js'

const t = tmp()
after(() => t.cleanup())
const KiB = 1024
const kek = new Uint8Array(randomBytes(32))
const otherKek = new Uint8Array(randomBytes(32))
const pass = new TextEncoder().encode('break glass')
const raw = t.random('raw', 300 * KiB + 4096 * 3) // not a multiple of the segment size
const small = { segmentBytes: 64 * KiB }

test('encrypt then decrypt with the KEK and with the recovery passphrase gives the image back', async () => {
  const d = t.path('a.luks')
  const r = await encryptDisk(raw, d, {
    kek,
    providerId: 'prov',
    kekId: 'kid',
    recoveryPassphrase: pass,
    recoveryKdf: SMALL_ARGON2,
    ...small,
  })
  assert.equal(r.dataBytes, statSync(raw).size)
  assert.equal(statSync(d).size, 16 * 1048576 + statSync(raw).size)
  assert.ok(isLuks2(d))
  assert.ok(!isLuks2(raw))
  assert.ok(!isLuks2(t.path('missing')))
  const desc = describeDisk(d)
  assert.equal(desc.cipher, 'aes-xts-plain64')
  assert.equal(desc.keyBits, 512)
  assert.equal(desc.sectorSize, 4096)
  assert.equal(desc.providerId, 'prov')
  assert.equal(desc.kekId, 'kid')
  assert.deepEqual(desc.keyslots, [
    { id: '0', type: 'luks2', kdf: 'argon2id', iterations: 4, memoryKiB: 32768, parallelism: 1 },
  ])
  assert.ok(!JSON.stringify(desc).includes('wrapped'), 'describe never shows key material')
  await decryptDisk(d, t.path('a.kek'), { unlock: { kek }, ...small })
  assert.ok(same(t.path('a.kek'), raw))
  await decryptDisk(d, t.path('a.pass'), { unlock: { passphrase: pass } })
  assert.ok(same(t.path('a.pass'), raw))
  assert.equal(statSync(t.path('a.kek')).mode & 0o777, 0o600)
  // ciphertext is not the plaintext
  assert.ok(
    !readFileSync(d)
      .subarray(16 * 1048576, 16 * 1048576 + 4096)
      .equals(readFileSync(raw).subarray(0, 4096)),
  )
})

test('wrong KEK and wrong passphrase are clear coded errors, and no output is left behind', async () => {
  const d = t.path('b.luks')
  await encryptDisk(raw, d, {
    kek,
    providerId: 'p',
    kekId: 'k',
    recoveryPassphrase: pass,
    recoveryKdf: SMALL_PBKDF2,
  })
  await assert.rejects(decryptDisk(d, t.path('b.out'), { unlock: { kek: otherKek } }), {
    code: 'ERR_DISK_WRONG_KEK',
  })
  await assert.rejects(
    decryptDisk(d, t.path('b.out'), { unlock: { passphrase: new Uint8Array([1]) } }),
    { code: 'ERR_DISK_WRONG_PASSPHRASE' },
  )
  assert.ok(!existsSync(t.path('b.out')))
  assert.ok(!readdirSync(t.dir).some((f) => f.includes('ward-tmp')), 'no temporary file left')
})

test('outputs are never overwritten; unaligned images are refused', async () => {
  const d = t.path('c.luks')
  writeFileSync(d, 'precious')
  await assert.rejects(encryptDisk(raw, d, { kek, providerId: 'p', kekId: 'k' }), {
    code: 'ERR_DISK_EXISTS',
  })
  assert.equal(readFileSync(d, 'utf8'), 'precious')
  const odd = t.random('odd', 5000)
  await assert.rejects(encryptDisk(odd, t.path('odd.luks'), { kek, providerId: 'p', kekId: 'k' }), {
    code: 'ERR_DISK_UNALIGNED',
  })
  await assert.rejects(encryptInPlace(odd, { kek, providerId: 'p', kekId: 'k' }), {
    code: 'ERR_DISK_UNALIGNED',
  })
  await assert.rejects(
    encryptDisk(raw, t.path('e.luks'), { kek: new Uint8Array(16), providerId: 'p', kekId: 'k' }),
    { code: 'ERR_DISK_OPTIONS' },
  )
})

test('in-place encryption grows the file by 16 MiB, decrypts back, and a re-run reports done', async () => {
  const f = t.path('inplace')
  writeFileSync(f, readFileSync(raw))
  const r = await encryptInPlace(f, { kek, providerId: 'p', kekId: 'k', ...small })
  assert.equal(r.alreadyDone, undefined)
  assert.equal(statSync(f).size, statSync(raw).size + 16 * 1048576)
  assert.ok(!existsSync(journalPath(f)))
  // SECURITY: the old plaintext in the header area is wiped
  const head = readFileSync(f).subarray(0, 16 * 1048576)
  assert.equal(head.indexOf(readFileSync(raw).subarray(200 * KiB, 200 * KiB + 64)), -1)
  const again = await encryptInPlace(f, { kek, providerId: 'p', kekId: 'k' })
  assert.equal(again.alreadyDone, true)
  await assert.rejects(encryptInPlace(f, { kek: otherKek, providerId: 'p', kekId: 'k' }), {
    code: 'ERR_DISK_WRONG_KEK',
  })
  await decryptDisk(f, t.path('inplace.out'), { unlock: { kek } })
  assert.ok(same(t.path('inplace.out'), raw))
})

test('shallow rekey changes only the header: the data area is byte-identical', async () => {
  const d = t.path('s.luks')
  await encryptDisk(raw, d, { kek, providerId: 'p', kekId: 'k' })
  const before = readFileSync(d).subarray(16 * 1048576)
  const r = rekeyShallow(d, { kek, newKek: otherKek, providerId: 'p2', kekId: 'k2' })
  assert.equal(r.kekId, 'k2')
  assert.ok(
    readFileSync(d)
      .subarray(16 * 1048576)
      .equals(before),
  )
  await assert.rejects(decryptDisk(d, t.path('s.old'), { unlock: { kek } }), {
    code: 'ERR_DISK_WRONG_KEK',
  })
  await decryptDisk(d, t.path('s.new'), { unlock: { kek: otherKek } })
  assert.ok(same(t.path('s.new'), raw))
  assert.equal(
    rekeyShallow(d, { kek, newKek: otherKek, providerId: 'p2', kekId: 'k2' }).alreadyDone,
    true,
  )
  assert.throws(() => rekeyShallow(d, { kek: new Uint8Array(32), newKek: kek, kekId: 'k' }), {
    code: 'ERR_DISK_WRONG_KEK',
  })
})

test('deep rekey re-encrypts every sector under a new DEK; the recovery keyslot follows', async () => {
  const d = t.path('deep.luks')
  await encryptDisk(raw, d, {
    kek,
    providerId: 'p',
    kekId: 'k',
    recoveryPassphrase: pass,
    recoveryKdf: SMALL_ARGON2,
  })
  const before = readFileSync(d).subarray(16 * 1048576)
  await assert.rejects(rekeyDeep(d, { kek }), { code: 'ERR_DISK_RECOVERY_PASSPHRASE_NEEDED' })
  await assert.rejects(rekeyDeep(d, { kek, recoveryPassphrase: new Uint8Array([9]) }), {
    code: 'ERR_DISK_WRONG_PASSPHRASE',
  })
  await assert.rejects(rekeyDeep(d, { kek: otherKek, recoveryPassphrase: pass }), {
    code: 'ERR_DISK_WRONG_KEK',
  })
  assert.ok(!existsSync(journalPath(d)))
  await rekeyDeep(d, { kek, recoveryPassphrase: pass, recoveryKdf: SMALL_ARGON2, ...small })
  const afterData = readFileSync(d).subarray(16 * 1048576)
  for (let off = 0; off < before.length; off += 4096)
    assert.ok(
      !afterData.subarray(off, off + 4096).equals(before.subarray(off, off + 4096)),
      `sector ${off / 4096} re-encrypted`,
    )
  await decryptDisk(d, t.path('deep.kek'), { unlock: { kek } })
  assert.ok(same(t.path('deep.kek'), raw))
  await decryptDisk(d, t.path('deep.pass'), { unlock: { passphrase: pass } })
  assert.ok(same(t.path('deep.pass'), raw))
  assert.deepEqual(describeDisk(d).requirements, [])
})

test('an interrupted operation (journal present) blocks decrypt and shallow rekey with a clear code', async () => {
  const d = t.path('j.luks')
  await encryptDisk(raw, d, { kek, providerId: 'p', kekId: 'k' })
  writeFileSync(journalPath(d), 'x', { mode: 0o600 }) // Ward's own (mode 0600), but damaged
  await assert.rejects(decryptDisk(d, t.path('j.out'), { unlock: { kek } }), {
    code: 'ERR_DISK_REKEY_IN_PROGRESS',
  })
  assert.throws(() => rekeyShallow(d, { kek, newKek: otherKek, kekId: 'k2' }), {
    code: 'ERR_DISK_REKEY_IN_PROGRESS',
  })
  await assert.rejects(rekeyDeep(d, { kek }), { code: 'ERR_DISK_JOURNAL' })
})

const stopAfter = (bytes: number) => (done: number) => {
  if (done >= bytes) throw new Error('simulated crash')
}

test('in-place encryption resumes from its journal after an abort; a wrong KEK cannot resume it', async () => {
  const f = t.path('abort-inplace')
  writeFileSync(f, readFileSync(raw))
  await assert.rejects(
    encryptInPlace(f, {
      kek,
      providerId: 'p',
      kekId: 'k',
      ...small,
      onProgress: stopAfter(128 * KiB),
    }),
    { code: 'ERR_DISK_IO' },
  )
  assert.ok(existsSync(journalPath(f)))
  await assert.rejects(decryptDisk(f, t.path('abort-inplace.x'), { unlock: { kek } }), {
    code: 'ERR_DISK_REKEY_IN_PROGRESS',
  })
  await assert.rejects(encryptInPlace(f, { kek: otherKek, providerId: 'p', kekId: 'k' }), {
    code: 'ERR_DISK_WRONG_KEK',
  })
  await assert.rejects(rekeyDeep(f, { kek }), { code: 'ERR_DISK_JOURNAL_OTHER_OP' })
  const r = await encryptInPlace(f, { kek, providerId: 'p', kekId: 'k' })
  assert.equal(r.resumed, true)
  await decryptDisk(f, t.path('abort-inplace.out'), { unlock: { kek } })
  assert.ok(same(t.path('abort-inplace.out'), raw))
})

test('deep rekey resumes after an abort; a sector matching neither ciphertext is ERR_DISK_JOURNAL_TORN', async () => {
  const d = t.path('abort-deep.luks')
  await encryptDisk(raw, d, { kek, providerId: 'p', kekId: 'k' })
  await assert.rejects(rekeyDeep(d, { kek, ...small, onProgress: stopAfter(128 * KiB) }), {
    code: 'ERR_DISK_IO',
  })
  assert.ok(existsSync(journalPath(d)))
  assert.deepEqual(describeDisk(d).requirements, ['ward-rekey'])
  assert.equal(describeDisk(d).pendingOperation, true)
  // a copy whose segment in flight was changed behind Ward's back
  const j = Journal.open(journalPath(d))
  const inFlight = j?.lastRecord()?.n
  j?.close()
  assert.ok(inFlight !== undefined && inFlight > 0)
  const torn = t.path('torn.luks')
  const bytes = readFileSync(d)
  const at = 16 * 1048576 + inFlight * 64 * KiB + 4096 + 5 // in the 16 head bytes the journal keeps
  bytes[at] = (bytes[at] ?? 0) ^ 0xff
  writeFileSync(torn, bytes)
  writeFileSync(journalPath(torn), readFileSync(journalPath(d)), { mode: 0o600 })
  await assert.rejects(rekeyDeep(torn, { kek }), { code: 'ERR_DISK_JOURNAL_TORN' })
  await assert.rejects(rekeyDeep(d, { kek: otherKek }), { code: 'ERR_DISK_WRONG_KEK' })
  const r = await rekeyDeep(d, { kek })
  assert.equal(r.resumed, true)
  assert.deepEqual(describeDisk(d).requirements, [])
  await decryptDisk(d, t.path('abort-deep.out'), { unlock: { kek } })
  assert.ok(same(t.path('abort-deep.out'), raw))
})

test('an empty journal (killed while being created) is discarded: the operation starts afresh', async () => {
  const f = t.path('empty-journal')
  writeFileSync(f, readFileSync(raw))
  writeFileSync(journalPath(f), '', { mode: 0o600 })
  await encryptInPlace(f, { kek, providerId: 'p', kekId: 'k' })
  assert.ok(!existsSync(journalPath(f)))
  await decryptDisk(f, t.path('empty-journal.out'), { unlock: { kek } })
  assert.ok(same(t.path('empty-journal.out'), raw))
})
