import { test, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import {
  copyFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import {
  decryptDisk,
  describeDisk,
  encryptDisk,
  rekeyDeep,
  rekeyShallow,
  wrapKwp,
} from '../../src/index.js'
import { readJson, resealJson, same, tmp, SMALL_PBKDF2 } from './luks2-fixtures.js'

// Hostile or damaged disks: every failure is a coded error, the input file is never modified by
// a read, no output is left behind, and a damaged primary copy is recovered from the secondary.

const t = tmp()
after(() => t.cleanup())
const kek = new Uint8Array(randomBytes(32))
const pass = new TextEncoder().encode('pw')
const raw = t.random('raw', 64 * 1024)
const good = t.path('good.luks')
let n = 0

before(async () => {
  await encryptDisk(raw, good, {
    kek,
    providerId: 'p',
    kekId: 'k',
    recoveryPassphrase: pass,
    recoveryKdf: SMALL_PBKDF2,
  })
})

const digest = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex')
function copy(): string {
  const p = t.path(`case-${n++}.luks`)
  copyFileSync(good, p)
  return p
}

/** Hostile JSON is mutated freely in these tests: any shape, on purpose. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>

type Unlock = { kek: Uint8Array } | { passphrase: Uint8Array }

/** Decrypting `disk` fails with `code` (a RegExp or exact), leaves `disk` unchanged and no output. */
async function refuses(
  disk: string,
  code: string | RegExp,
  unlock: Unlock = { kek },
): Promise<void> {
  const before = digest(disk)
  const out = t.path(`out-${n++}`)
  await assert.rejects(decryptDisk(disk, out, { unlock }), (e: Error & { code?: string }) => {
    if (typeof code === 'string') assert.equal(e.code, code, e.message)
    else assert.match(e.code ?? '', code, e.message)
    return true
  })
  assert.equal(digest(disk), before, 'input unchanged')
  assert.ok(
    !existsSync(out) && !readdirSync(t.dir).some((f) => f.includes('ward-tmp')),
    'no output left',
  )
}

async function opens(disk: string, unlock: Unlock = { kek }): Promise<void> {
  const out = t.path(`out-${n++}`)
  await decryptDisk(disk, out, { unlock })
  assert.ok(same(out, raw))
}

test('truncated files give coded errors', async () => {
  for (const len of [0, 5, 4095, 4096, 8000, 16384, 20000, 32768, 100_000, 16 * 1048576 - 1]) {
    const d = copy()
    truncateSync(d, len)
    await refuses(d, /^ERR_LUKS2_(NOT_LUKS|TRUNCATED|HEADER|CHECKSUM)$/)
    assert.throws(
      () => describeDisk(d),
      (e: Error & { code?: string }) => /^ERR_LUKS2_/.test(e.code ?? ''),
    )
  }
  const d = copy()
  truncateSync(d, 16 * 1048576 + 4096 + 100) // data not a whole number of sectors
  await refuses(d, 'ERR_LUKS2_TRUNCATED')
})

test('a bit flipped anywhere in one header copy: recovered from the other copy', async () => {
  for (const at of [0, 7, 9, 20, 30, 80, 110, 170, 260, 300, 450, 600, 4096, 5000, 12000, 16383]) {
    for (const base of [0, 16384]) {
      const d = copy()
      const b = readFileSync(d)
      b[base + at] = (b[base + at] ?? 0) ^ 0x10
      writeFileSync(d, b)
      assert.deepEqual(
        describeDisk(d).damagedHeaders,
        [base === 0 ? 'primary' : 'secondary'],
        `flip at ${base + at}`,
      )
      await opens(d)
    }
  }
})

test('the same bit flipped in both copies: coded error', async () => {
  for (const at of [0, 7, 9, 30, 110, 450, 4096, 6000]) {
    const d = copy()
    const b = readFileSync(d)
    b[at] = (b[at] ?? 0) ^ 0x01
    b[16384 + at] = (b[16384 + at] ?? 0) ^ 0x01
    writeFileSync(d, b)
    await refuses(d, /^ERR_LUKS2_(NOT_LUKS|HEADER|CHECKSUM|TRUNCATED)$/)
  }
})

test('the copy with the higher seqid wins; a stale copy is rewritten by a read-write open', async () => {
  const d = copy()
  const old = readFileSync(d).subarray(16384, 32768)
  rekeyShallow(d, { kek, newKek: kek, kekId: 'renamed' }) // seqid 2 in both copies
  const b = readFileSync(d)
  old.copy(b, 16384) // secondary back to seqid 1
  writeFileSync(d, b)
  const desc = describeDisk(d)
  assert.equal(desc.kekId, 'renamed')
  assert.deepEqual(desc.damagedHeaders, ['secondary'])
  rekeyShallow(d, { kek, newKek: kek, kekId: 'renamed' })
  assert.deepEqual(describeDisk(d).damagedHeaders, [])
})

/** Valid checksums, hostile metadata. */
async function withJson(
  mutate: (j: Loose) => void,
  code: string | RegExp,
  unlock: Unlock = { kek },
): Promise<void> {
  const d = copy()
  const j = readJson(d) as Loose
  mutate(j)
  resealJson(d, JSON.stringify(j))
  await refuses(d, code, unlock)
}

test('hostile Ward tokens: coded errors', async () => {
  await withJson(
    (j) => (j.tokens['0'].wrapped_dek = j.tokens['0'].wrapped_dek.slice(0, 40)),
    'ERR_LUKS2_TOKEN',
  )
  await withJson((j) => (j.tokens['0'].wrapped_dek = '!!!!'), 'ERR_LUKS2_TOKEN')
  await withJson((j) => (j.tokens['0'].version = 2), 'ERR_LUKS2_TOKEN')
  await withJson((j) => (j.tokens['0'].kek_id = 7), 'ERR_LUKS2_TOKEN')
  await withJson((j) => (j.tokens['0'].kek_id = 'x'.repeat(300)), 'ERR_LUKS2_TOKEN')
  await withJson((j) => (j.tokens['0'].keyslots = ['5']), 'ERR_LUKS2_METADATA')
  await withJson((j) => (j.tokens['1'] = j.tokens['0']), 'ERR_LUKS2_TOKEN')
  await withJson((j) => delete j.tokens['0'], 'ERR_DISK_NO_WARD_TOKEN')
  // a well-formed token wrapping another key under the right KEK: the digest catches it
  await withJson(
    (j) =>
      (j.tokens['0'].wrapped_dek = Buffer.from(wrapKwp(kek, randomBytes(64))).toString('base64')),
    'ERR_LUKS2_DIGEST',
  )
})

test('hostile keyslots: coded errors (with the passphrase)', async () => {
  const p = { passphrase: pass }
  await withJson((j) => (j.keyslots['0'].area.offset = '0'), 'ERR_LUKS2_METADATA', p)
  await withJson(
    (j) => (j.keyslots['0'].area.offset = '99999999999999999999'),
    'ERR_LUKS2_METADATA',
    p,
  )
  await withJson((j) => (j.keyslots['0'].area.size = '4096'), 'ERR_LUKS2_KEYSLOT', p)
  await withJson((j) => (j.keyslots['0'].kdf.iterations = 2 ** 31), 'ERR_LUKS2_KDF_PARAMS', p)
  await withJson((j) => (j.keyslots['0'].kdf.iterations = -1), 'ERR_LUKS2_KDF_PARAMS', p)
  await withJson((j) => (j.keyslots['0'].af.stripes = 0), 'ERR_LUKS2_KEYSLOT', p)
  await withJson((j) => (j.keyslots['0'].key_size = 'big'), 'ERR_LUKS2_METADATA', p)
  await withJson(
    (j) => (j.keyslots['0'].area.encryption = 'twofish-cbc-plain'),
    'ERR_LUKS2_UNSUPPORTED',
    p,
  )
  await withJson(
    (j) =>
      (j.keyslots['0'].kdf = {
        type: 'argon2id',
        time: 4,
        memory: 1024,
        cpus: 1,
        salt: j.keyslots['0'].kdf.salt,
      }),
    'ERR_DISK_WRONG_PASSPHRASE', // a valid argon2id keyslot now runs: the area was encrypted under another key
    p,
  )
  await withJson((j) => (j.keyslots['0'].kdf.salt = 'AAAA'), 'ERR_LUKS2_KDF_PARAMS', p)
  await withJson((j) => (j.keyslots['1'] = j.keyslots['0']), 'ERR_LUKS2_METADATA', p) // overlapping areas
  // keyslot material damaged on disk: the digest refuses the merged key
  const d = copy()
  const b = readFileSync(d)
  b[40000] = (b[40000] ?? 0) ^ 0xff
  writeFileSync(d, b)
  await refuses(d, 'ERR_DISK_WRONG_PASSPHRASE', p)
  await opens(d) // the KEK path does not need the keyslot
})

test('hostile segments, digests and config: coded errors', async () => {
  await withJson((j) => (j.segments['0'].offset = '0'), 'ERR_LUKS2_METADATA')
  await withJson((j) => (j.segments['0'].offset = '4096'), 'ERR_LUKS2_METADATA')
  await withJson((j) => (j.segments['0'].sector_size = 3000), 'ERR_LUKS2_METADATA')
  await withJson((j) => (j.segments['0'].size = '123'), 'ERR_LUKS2_METADATA')
  await withJson((j) => (j.segments['0'].size = '1073741824'), 'ERR_LUKS2_TRUNCATED')
  await withJson(
    (j) => (j.segments['0'].encryption = 'aes-cbc-essiv:sha256'),
    'ERR_LUKS2_UNSUPPORTED',
  )
  await withJson(
    (j) => (j.segments['1'] = { ...j.segments['0'], offset: '20000000' }),
    /^ERR_LUKS2_(METADATA|UNSUPPORTED)$/,
  )
  await withJson(
    (j) =>
      (j.segments['0'].integrity = {
        type: 'hmac(sha256)',
        journal_encryption: 'none',
        journal_integrity: 'none',
      }),
    'ERR_LUKS2_UNSUPPORTED',
  )
  await withJson((j) => (j.digests['0'].salt = 'AAAA'), 'ERR_LUKS2_METADATA')
  await withJson((j) => (j.digests['0'].iterations = 0), 'ERR_LUKS2_METADATA')
  await withJson((j) => (j.digests['0'].type = 'argon2'), 'ERR_LUKS2_UNSUPPORTED')
  await withJson((j) => (j.digests['0'].segments = []), 'ERR_LUKS2_METADATA')
  await withJson((j) => (j.config.json_size = '4096'), 'ERR_LUKS2_METADATA')
  await withJson((j) => (j.config.keyslots_size = '999'), 'ERR_LUKS2_METADATA')
  await withJson(
    (j) => (j.config.requirements = { mandatory: ['online-reencrypt-v2'] }),
    'ERR_LUKS2_UNSUPPORTED',
  )
  await withJson(
    (j) => (j.config.requirements = { mandatory: ['ward-rekey'] }),
    'ERR_DISK_REKEY_IN_PROGRESS',
  )
  await withJson((j) => (j.keyslots = []), 'ERR_LUKS2_METADATA')
  await withJson((j) => (j.x = JSON.parse('['.repeat(100) + ']'.repeat(100))), 'ERR_LUKS2_METADATA')
})

test('malformed JSON areas: coded errors', async () => {
  const text = JSON.stringify(readJson(good))
  for (const bad of [
    text.slice(0, -1),
    ` ${text}`,
    '[]',
    '{}',
    'null',
    text.replace('"tokens"', '"tokens" "x"'),
  ]) {
    const d = copy()
    resealJson(d, bad)
    await refuses(d, 'ERR_LUKS2_METADATA')
  }
  const d = copy()
  const area = new Uint8Array(12288)
  area.set(Buffer.from(text))
  area[12000] = 0x20 // bytes after the terminating NUL
  resealJson(d, area)
  await refuses(d, 'ERR_LUKS2_METADATA')
  const full = copy()
  resealJson(full, new Uint8Array(12288).fill(0x7b)) // no NUL at all
  await refuses(full, 'ERR_LUKS2_METADATA')
  const utf = copy()
  resealJson(
    utf,
    Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
  )
  await refuses(utf, 'ERR_LUKS2_METADATA')
})

test('rekeys on a hostile disk fail with coded errors and leave it unchanged', async () => {
  const d = copy()
  const j = readJson(d) as Loose
  j.tokens['0'].wrapped_dek = Buffer.from(wrapKwp(kek, randomBytes(64))).toString('base64')
  resealJson(d, JSON.stringify(j))
  const before = digest(d)
  assert.throws(() => rekeyShallow(d, { kek, newKek: kek, kekId: 'k' }), {
    code: 'ERR_LUKS2_DIGEST',
  })
  await assert.rejects(rekeyDeep(d, { kek, recoveryPassphrase: pass }), {
    code: 'ERR_LUKS2_DIGEST',
  })
  assert.equal(digest(d), before)
  assert.ok(!existsSync(`${d}.ward-journal`))
})
