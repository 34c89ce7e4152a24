import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import {
  closeSync,
  openSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
  constants,
} from 'node:fs'
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
import { availableParallelism } from 'node:os'
import { defaultMemoryKiB, WARD_KDF_DEFAULTS } from '../../src/luks2/kdf.js'
import {
  cryptsetup,
  dumpVolumeKey,
  pythonXts,
  same,
  SMALL_ARGON2,
  SMALL_PBKDF2,
  tmp,
} from '../unit/luks2-fixtures.js'

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
/** Ward's argon2id keyslot in these tests: small, but with two lanes, so `cpus` is exercised. */
const WARD_ARGON2 = { type: 'argon2id', memory: 65536, iterations: 4, parallelism: 2 } as const
test('setup: Ward encrypts a raw image with an argon2id recovery keyslot', async () => {
  await encryptDisk(raw, disk, {
    kek,
    providerId: 'prov-1',
    kekId: 'kek-1',
    recoveryPassphrase: passBytes,
    recoveryKdf: WARD_ARGON2,
  })
})

/** The PBKDF lines of `cryptsetup luksDump` for the (first) keyslot. */
function dumpKdf(d: string): Record<string, string> {
  const r = cryptsetup(['luksDump', d])
  assert.equal(r.status, 0, r.stderr)
  const out: Record<string, string> = {}
  const slots = r.stdout.slice(r.stdout.indexOf('Keyslots:'), r.stdout.indexOf('Tokens:'))
  for (const key of ['PBKDF', 'Time cost', 'Memory', 'Threads', 'Iterations', 'Hash']) {
    const m = new RegExp(`^\\s*${key}:\\s*(\\S+)`, 'm').exec(slots)
    if (m?.[1]) out[key] = m[1]
  }
  return out
}

test('cryptsetup luksDump shows aes-xts-plain64, 512 bits, sector 4096 and the Ward token', () => {
  const r = cryptsetup(['luksDump', disk])
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, /Version:\s+2/)
  assert.match(r.stdout, /cipher:\s+aes-xts-plain64/)
  assert.match(r.stdout, /sector:\s+4096 \[bytes\]/)
  assert.match(r.stdout, /offset:\s+16777216 \[bytes\]/)
  assert.match(r.stdout, /Key:\s+512 bits/)
  assert.match(r.stdout, /Tokens:\s+0: ward/)
  // the argon2id keyslot with exactly the parameters Ward wrote
  assert.deepEqual(dumpKdf(disk), {
    PBKDF: 'argon2id',
    'Time cost': '4',
    Memory: '65536',
    Threads: '2',
  })
  const tok = JSON.parse(cryptsetup(['token', 'export', '--token-id', '0', disk]).stdout) as Record<
    string,
    unknown
  >
  assert.deepEqual(Object.keys(tok).sort(), [
    'data_size',
    'kek_id',
    'keyslots',
    'provider_id',
    'type',
    'version',
    'wrapped_dek',
  ])
  assert.equal(tok.provider_id, 'prov-1')
  assert.equal(tok.kek_id, 'kek-1')
  assert.equal(tok.data_size, String(statSync(raw).size))
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

test('shallow rekey: cryptsetup still reads it, same DEK under the new KEK, pbkdf2 recovery keyslot kept', async () => {
  const d = t.path('shallow.luks')
  await encryptDisk(raw, d, {
    kek,
    providerId: 'p',
    kekId: 'k',
    recoveryPassphrase: passBytes,
    recoveryKdf: SMALL_PBKDF2,
  })
  assert.deepEqual(dumpKdf(d), { PBKDF: 'pbkdf2', Iterations: '1000', Hash: 'sha256' })
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

test('deep rekey (pbkdf2 keyslot rebuilt as argon2i): new DEK seen by cryptsetup, python decrypts the re-encrypted data', async () => {
  const d = t.path('deep.luks')
  await encryptDisk(raw, d, {
    kek,
    providerId: 'p',
    kekId: 'k',
    recoveryPassphrase: passBytes,
    recoveryKdf: SMALL_PBKDF2,
  })
  const before = tokenDek(d)
  await rekeyDeep(d, {
    kek,
    recoveryPassphrase: passBytes,
    recoveryKdf: { ...SMALL_ARGON2, type: 'argon2i' },
    segmentBytes: 256 * 1024,
  })
  assert.equal(dumpKdf(d).PBKDF, 'argon2i')
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
  rekeyShallow(d, { kek, newKek: kek, kekId: 'k' }) // a read-write open repairs the primary copy
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
    assert.deepEqual(await unlockWithPassphrase(fd, readVolume(fd), passBytes), vk)
    await assert.rejects(
      unlockWithPassphrase(fd, readVolume(fd), new TextEncoder().encode('nope')),
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

/** A fresh 18 MiB image formatted by cryptsetup with `args` (passphrase through --key-file). */
function luksFormat(name: string, args: readonly string[]): string {
  const img = t.path(name)
  writeFileSync(img, '')
  truncateSync(img, 18 * MiB)
  const f = cryptsetup([
    'luksFormat',
    '--type',
    'luks2',
    ...args,
    '--batch-mode',
    '--key-file',
    passFile,
    img,
  ])
  assert.equal(f.status, 0, f.stderr)
  return img
}

/** Ward's volume key through the passphrase (any keyslot, or `keyslot`). */
async function wardKey(img: string, pass: Uint8Array, keyslot?: string): Promise<Uint8Array> {
  const fd = openSync(img, constants.O_RDONLY)
  try {
    return await unlockWithPassphrase(
      fd,
      readVolume(fd),
      pass,
      keyslot !== undefined ? { keyslot } : {},
    )
  } finally {
    closeSync(fd)
  }
}

for (const variant of ['argon2id', 'argon2i'] as const)
  test(`a cryptsetup ${variant} keyslot (64 MiB, 4 iterations) opens in Ward: same volume key as --dump-volume-key`, async () => {
    const img = luksFormat(`${variant}.img`, [
      '--pbkdf',
      variant,
      '--pbkdf-memory',
      '65536',
      '--pbkdf-force-iterations',
      '4',
    ])
    const dump = dumpKdf(img)
    assert.equal(dump.PBKDF, variant)
    assert.deepEqual(await wardKey(img, passBytes), dumpVolumeKey(img, passFile))
    await assert.rejects(wardKey(img, new TextEncoder().encode('nope')), {
      code: 'ERR_DISK_WRONG_PASSPHRASE',
    })
    const k = describeDisk(img).keyslots[0]
    assert.deepEqual(
      [k?.kdf, k?.memoryKiB, k?.iterations, k?.parallelism],
      [variant, 65536, 4, Number(dump.Threads)],
    )
    assert.ok(k !== undefined && !('salt' in k), 'describe never shows the salt')
  })

test('a default-settings cryptsetup luksFormat (argon2id, --iter-time 100) opens in Ward; decrypt with the passphrase', async () => {
  const img = luksFormat('default.img', ['--iter-time', '100'])
  assert.equal(dumpKdf(img).PBKDF, 'argon2id')
  const vk = dumpVolumeKey(img, passFile)
  assert.deepEqual(await wardKey(img, passBytes), vk)
  // data written under cryptsetup's key by python's XTS (sector 4096: cryptsetup's default here)
  const sectorSize = Number(/sector:\s+(\d+)/.exec(cryptsetup(['luksDump', img]).stdout)?.[1])
  pythonXts('enc', vk, raw, 0, 2 * MiB, t.path('default-data.bin'), sectorSize)
  const whole = readFileSync(img)
  readFileSync(t.path('default-data.bin')).copy(whole, 16 * MiB)
  writeFileSync(img, whole)
  const out = t.path('default-plain.img')
  await decryptDisk(img, out, { unlock: { passphrase: passBytes } })
  assert.ok(same(out, raw))
})

test('several cryptsetup keyslots: the passphrase of the second opens; --key-slot and priority "ignore" as cryptsetup', async () => {
  const img = luksFormat('two.img', [
    '--pbkdf',
    'argon2id',
    '--pbkdf-memory',
    '32768',
    '--pbkdf-force-iterations',
    '4',
  ])
  const pass2 = 'second passphrase'
  const pass2File = t.secret('pass2', pass2)
  const pass2Bytes = new TextEncoder().encode(pass2)
  const add = cryptsetup([
    'luksAddKey',
    '--key-file',
    passFile,
    '--pbkdf',
    'pbkdf2',
    '--pbkdf-force-iterations',
    '1000',
    '--batch-mode',
    img,
    pass2File,
  ])
  assert.equal(add.status, 0, add.stderr)
  const vk = dumpVolumeKey(img, pass2File)
  assert.deepEqual(await wardKey(img, pass2Bytes), vk)
  assert.deepEqual(await wardKey(img, pass2Bytes, '1'), vk)
  await assert.rejects(wardKey(img, pass2Bytes, '0'), { code: 'ERR_DISK_WRONG_PASSPHRASE' })
  await assert.rejects(wardKey(img, pass2Bytes, '7'), { code: 'ERR_DISK_NO_KEYSLOT' })
  const cfg = cryptsetup(['config', '--priority', 'ignore', '--key-slot', '1', img])
  assert.equal(cfg.status, 0, cfg.stderr)
  assert.notEqual(
    cryptsetup(['open', '--test-passphrase', '--key-file', pass2File, img]).status,
    0,
    'cryptsetup skips an ignored keyslot',
  )
  await assert.rejects(wardKey(img, pass2Bytes), { code: 'ERR_DISK_WRONG_PASSPHRASE' })
  assert.deepEqual(await wardKey(img, pass2Bytes, '1'), vk, 'a named keyslot is tried anyway')
})

test("Ward's default recovery keyslot: argon2id, 1 GiB, 4 iterations, min(4, CPUs) lanes, as luksDump shows", async () => {
  const d = t.path('default-ward.luks')
  const small = t.random('small.img', 64 * 1024)
  await encryptDisk(small, d, { kek, providerId: 'p', kekId: 'k', recoveryPassphrase: passBytes })
  assert.equal(defaultMemoryKiB(), WARD_KDF_DEFAULTS.memory) // this host has more than 2 GiB
  assert.deepEqual(dumpKdf(d), {
    PBKDF: 'argon2id',
    'Time cost': String(WARD_KDF_DEFAULTS.passes),
    Memory: String(WARD_KDF_DEFAULTS.memory),
    Threads: String(Math.min(4, availableParallelism())),
  })
  assert.deepEqual(WARD_KDF_DEFAULTS, {
    type: 'argon2id',
    memory: 1048576,
    passes: 4,
    maxParallelism: 4,
    pbkdf2Iterations: 600_000,
  })
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
