import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { closeSync, openSync, readFileSync, truncateSync, writeFileSync, constants } from 'node:fs'
import {
  decryptDisk,
  describeDisk,
  encryptDisk,
  rekeyDeep,
  rekeyShallow,
  unwrapKwp,
} from '../../src/index.js'
import { readVolume } from '../../src/luks2/volume.js'
import { unlockWithPassphrase } from '../../src/luks2/unlock.js'
import { cryptsetup, dumpVolumeKey, pythonXts, same, tmp } from '../unit/luks2-fixtures.js'

// Interop with the real peers: Debian cryptsetup-bin (reads Ward's headers, keyslots and token)
// and python3-cryptography's XTS (an independent aes-xts-plain64).

const t = tmp()
after(() => t.cleanup())
const MiB = 1048576
const kek = randomBytes(32)
const pass = 'correct horse battery staple'
const passFile = t.secret('pass', pass) // no newline: cryptsetup --key-file takes the file verbatim
const passBytes = new TextEncoder().encode(pass)
const wrongFile = t.secret('wrong', 'Tr0ub4dor&3')
const raw = t.random('raw.img', 2 * MiB)

/** The DEK Ward used, read back through cryptsetup's own token export and unwrapped with the KEK. */
function tokenDek(disk: string, key: Uint8Array = kek): Uint8Array {
  const r = cryptsetup(['token', 'export', '--token-id', '0', disk])
  assert.equal(r.status, 0, r.stderr)
  const tok = JSON.parse(r.stdout) as { type: string; wrapped_dek: string }
  assert.equal(tok.type, 'ward')
  return unwrapKwp(key, new Uint8Array(Buffer.from(tok.wrapped_dek, 'base64')))
}

const disk = t.path('ward.luks')
test('setup: Ward encrypts a raw image with a recovery keyslot', async () => {
  await encryptDisk(raw, disk, {
    kek,
    providerId: 'prov-1',
    kekId: 'kek-1',
    recoveryPassphrase: passBytes,
    recoveryIterations: 1000,
  })
})

test('cryptsetup luksDump shows aes-xts-plain64, 512 bits, sector 4096 and the Ward token', () => {
  const r = cryptsetup(['luksDump', disk])
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /Version:\s+2/)
  assert.match(r.stdout, /cipher:\s+aes-xts-plain64/)
  assert.match(r.stdout, /sector:\s+4096 \[bytes\]/)
  assert.match(r.stdout, /offset:\s+16777216 \[bytes\]/)
  assert.match(r.stdout, /Key:\s+512 bits/)
  assert.match(r.stdout, /PBKDF:\s+pbkdf2/)
  assert.match(r.stdout, /Tokens:\s+0: ward/)
  const tok = JSON.parse(cryptsetup(['token', 'export', '--token-id', '0', disk]).stdout) as Record<
    string,
    unknown
  >
  assert.deepEqual(Object.keys(tok).sort(), [
    'kek_id',
    'keyslots',
    'provider_id',
    'type',
    'version',
    'wrapped_dek',
  ])
  assert.equal(tok.provider_id, 'prov-1')
  assert.equal(tok.kek_id, 'kek-1')
  assert.deepEqual(tok.keyslots, [])
})

test('cryptsetup open --test-passphrase accepts the recovery passphrase and refuses a wrong one', () => {
  assert.equal(cryptsetup(['open', '--test-passphrase', '--key-file', passFile, disk]).status, 0)
  assert.notEqual(
    cryptsetup(['open', '--test-passphrase', '--key-file', wrongFile, disk]).status,
    0,
  )
})

test('cryptsetup --dump-volume-key prints the DEK Ward wrapped in its token', () => {
  assert.deepEqual(dumpVolumeKey(disk, passFile), tokenDek(disk))
})

test('python3-cryptography XTS decrypts the data area back to the original image', () => {
  const out = t.path('py-plain.img')
  pythonXts('dec', tokenDek(disk), disk, 16 * MiB, 2 * MiB, out)
  assert.ok(same(out, raw))
})

test('shallow rekey: cryptsetup still reads it, same DEK under the new KEK, recovery keyslot kept', async () => {
  const d = t.path('shallow.luks')
  await encryptDisk(raw, d, {
    kek,
    providerId: 'p',
    kekId: 'k',
    recoveryPassphrase: passBytes,
    recoveryIterations: 1000,
  })
  const before = tokenDek(d)
  const data = readFileSync(d).subarray(16 * MiB)
  const kek2 = randomBytes(32)
  rekeyShallow(d, { kek, newKek: kek2, kekId: 'k2' })
  assert.equal(cryptsetup(['luksDump', d]).status, 0)
  assert.deepEqual(tokenDek(d, kek2), before)
  assert.throws(() => tokenDek(d, kek), { code: 'ERR_KEYWRAP_INTEGRITY' })
  assert.deepEqual(dumpVolumeKey(d, passFile), before)
  assert.ok(
    readFileSync(d)
      .subarray(16 * MiB)
      .equals(data),
    'data area untouched',
  )
  assert.equal(describeDisk(d).kekId, 'k2')
})

test('deep rekey: new DEK seen by cryptsetup, python decrypts the re-encrypted data', async () => {
  const d = t.path('deep.luks')
  await encryptDisk(raw, d, {
    kek,
    providerId: 'p',
    kekId: 'k',
    recoveryPassphrase: passBytes,
    recoveryIterations: 1000,
  })
  const before = tokenDek(d)
  await rekeyDeep(d, {
    kek,
    recoveryPassphrase: passBytes,
    recoveryIterations: 1000,
    segmentBytes: 256 * 1024,
  })
  const after = tokenDek(d)
  assert.notDeepEqual(after, before)
  assert.deepEqual(dumpVolumeKey(d, passFile), after)
  const out = t.path('deep-plain.img')
  pythonXts('dec', after, d, 16 * MiB, 2 * MiB, out)
  assert.ok(same(out, raw))
  assert.equal(cryptsetup(['open', '--test-passphrase', '--key-file', passFile, d]).status, 0)
})

test('a damaged primary header is recovered from the secondary and rewritten; cryptsetup agrees', async () => {
  const d = t.path('damaged.luks')
  await encryptDisk(raw, d, { kek, providerId: 'p', kekId: 'k' })
  const fd = openSync(d, constants.O_RDWR)
  writeFileSync(fd, Buffer.from('garbage!'), { encoding: null }) // at offset 0: kills the magic
  closeSync(fd)
  assert.deepEqual(describeDisk(d).damagedHeaders, ['primary'])
  const out = t.path('damaged-plain.img')
  await decryptDisk(d, out, { unlock: { kek } })
  assert.ok(same(out, raw))
  rekeyShallow(d, { kek, newKek: kek }) // a read-write open repairs the primary copy
  assert.deepEqual(describeDisk(d).damagedHeaders, [])
  const r = cryptsetup(['luksDump', d])
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /0: ward/)
})

test('an image made by cryptsetup luksFormat (pbkdf2, sector 4096) opens in Ward with its passphrase', async () => {
  const img = t.path('cs.img')
  writeFileSync(img, '')
  truncateSync(img, 16 * MiB + 2 * MiB)
  const f = cryptsetup([
    'luksFormat',
    '--type',
    'luks2',
    '--pbkdf',
    'pbkdf2',
    '--pbkdf-force-iterations',
    '1000',
    '--sector-size',
    '4096',
    '--batch-mode',
    '--key-file',
    passFile,
    img,
  ])
  assert.equal(f.status, 0, f.stderr)
  const vk = dumpVolumeKey(img, passFile)
  const fd = openSync(img, constants.O_RDONLY)
  try {
    assert.deepEqual(unlockWithPassphrase(fd, readVolume(fd), passBytes), vk)
    assert.throws(
      () => unlockWithPassphrase(fd, readVolume(fd), new TextEncoder().encode('nope')),
      { code: 'ERR_DISK_WRONG_PASSPHRASE' },
    )
  } finally {
    closeSync(fd)
  }
  // no device-mapper here: write the data area with python's XTS under cryptsetup's key, read it with Ward
  pythonXts('enc', vk, raw, 0, 2 * MiB, t.path('cs-data.bin'))
  const fdw = openSync(img, constants.O_RDWR)
  writeFileSync(fdw, Buffer.alloc(0))
  closeSync(fdw)
  const data = readFileSync(t.path('cs-data.bin'))
  const whole = readFileSync(img)
  data.copy(whole, 16 * MiB)
  writeFileSync(img, whole)
  const out = t.path('cs-plain.img')
  await decryptDisk(img, out, { unlock: { passphrase: passBytes } })
  assert.ok(same(out, raw))
  await assert.rejects(decryptDisk(img, t.path('x'), { unlock: { kek } }), {
    code: 'ERR_DISK_NO_WARD_TOKEN',
  })
})

test('an argon2id keyslot gives a coded error naming the KDF and the luksAddKey --pbkdf pbkdf2 fix', async () => {
  const img = t.path('argon.img')
  writeFileSync(img, '')
  truncateSync(img, 17 * MiB)
  const f = cryptsetup([
    'luksFormat',
    '--type',
    'luks2',
    '--pbkdf',
    'argon2id',
    '--pbkdf-force-iterations',
    '4',
    '--pbkdf-memory',
    '32',
    '--sector-size',
    '4096',
    '--batch-mode',
    '--key-file',
    passFile,
    img,
  ])
  assert.equal(f.status, 0, f.stderr)
  await assert.rejects(
    decryptDisk(img, t.path('y'), { unlock: { passphrase: passBytes } }),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_LUKS2_KDF_UNSUPPORTED')
      assert.match(e.message, /argon2id/)
      assert.match(e.message, /cryptsetup luksAddKey --pbkdf pbkdf2/)
      return true
    },
  )
  assert.equal(describeDisk(img).keyslots[0]?.kdf, 'argon2id')
})

test('an interrupted deep rekey is marked for cryptsetup (mandatory requirement ward-rekey) until resumed', async () => {
  const d = t.path('marked.luks')
  await encryptDisk(raw, d, { kek, providerId: 'p', kekId: 'k' })
  const stop = (done: number): void => {
    if (done >= MiB) throw new Error('simulated crash')
  }
  await assert.rejects(rekeyDeep(d, { kek, segmentBytes: 256 * 1024, onProgress: stop }))
  assert.match(cryptsetup(['luksDump', d]).stdout, /Requirements:\s+ward-rekey/)
  await rekeyDeep(d, { kek })
  const r = cryptsetup(['luksDump', d])
  assert.equal(r.status, 0, r.stderr)
  assert.doesNotMatch(r.stdout, /ward-rekey/)
  const out = t.path('marked-plain.img')
  pythonXts('dec', tokenDek(d), d, 16 * MiB, 2 * MiB, out)
  assert.ok(same(out, raw))
})
