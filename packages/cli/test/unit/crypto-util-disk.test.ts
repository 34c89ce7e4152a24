import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import {
  chmodSync,
  existsSync,
  linkSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, test } from 'node:test'

// `ward crypto-util disk ...` end to end through the binary: JSON results, JSON progress lines
// when stderr is not a terminal, secret-file checks, usage errors and coded failures.

const ward = fileURLToPath(new URL('../../../bin/ward.js', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'ward-cli-disk-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const p = (n: string): string => join(dir, n)
const run = (...args: string[]) =>
  spawnSync(process.execPath, [ward, 'crypto-util', 'disk', ...args], { encoding: 'utf8' })

writeFileSync(p('kek'), randomBytes(32), { mode: 0o600 })
writeFileSync(p('kek2'), randomBytes(32), { mode: 0o600 })
writeFileSync(p('pass'), 'open sesame\n', { mode: 0o600 })
writeFileSync(p('raw'), randomBytes(17 * 1048576))

test('encrypt, describe, rekey and decrypt with --json results and JSON progress lines', () => {
  const enc = run(
    'encrypt',
    '--in',
    p('raw'),
    '--out',
    p('disk'),
    '--kek-file',
    p('kek'),
    '--provider-id',
    'kp',
    '--kek-id',
    'k1',
    '--recovery-passphrase-file',
    p('pass'),
    '--pbkdf-memory',
    '32768',
    '--pbkdf-force-iterations',
    '4',
    '--pbkdf-parallel',
    '2',
    '--json',
  )
  assert.equal(enc.status, 0, enc.stderr)
  const r = JSON.parse(enc.stdout) as Record<string, unknown>
  assert.deepEqual(
    [r.action, r.providerId, r.kekId, r.dataBytes, r.recoveryKeyslot],
    ['encrypt', 'kp', 'k1', 17 * 1048576, true],
  )
  const progress = enc.stderr
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
  assert.equal(progress.at(-1)?.finished, true)
  assert.equal(progress.at(-1)?.total, 17 * 1048576)

  const d = run('describe', p('disk'), '--json')
  assert.equal(d.status, 0, d.stderr)
  const desc = JSON.parse(d.stdout) as Record<string, unknown>
  assert.deepEqual(
    [desc.cipher, desc.keyBits, desc.sectorSize, desc.kekId],
    ['aes-xts-plain64', 512, 4096, 'k1'],
  )
  assert.ok(!d.stdout.includes('wrapped'))
  assert.deepEqual(desc.keyslots, [
    { id: '0', type: 'luks2', kdf: 'argon2id', iterations: 4, memoryKiB: 32768, parallelism: 2 },
  ])
  assert.match(
    run('describe', p('disk')).stdout,
    /keyslots: +0 \(luks2, argon2id: 32768 KiB, 4 iterations, 2 lanes\)/,
  )

  const sh = run(
    'rekey',
    '--shallow',
    '--kek-file',
    p('kek'),
    '--new-kek-file',
    p('kek2'),
    '--new-kek-id',
    'k2',
    p('disk'),
    '--json',
  )
  assert.equal(sh.status, 0, sh.stderr)
  assert.equal((JSON.parse(sh.stdout) as Record<string, unknown>).kekId, 'k2')
  const deep = run(
    'rekey',
    '--deep',
    '--kek-file',
    p('kek2'),
    '--recovery-passphrase-file',
    p('pass'),
    '--pbkdf',
    'pbkdf2',
    '--pbkdf-force-iterations',
    '1000',
    p('disk'),
  )
  assert.equal(deep.status, 0, deep.stderr)
  assert.match(deep.stdout, /rekey-deep/)
  assert.match(
    run('describe', p('disk')).stdout,
    /keyslots: +0 \(luks2, pbkdf2: sha256, 1000 iterations\)/,
  )

  const dec = run(
    'decrypt',
    '--in',
    p('disk'),
    '--out',
    p('plain'),
    '--recovery-passphrase-file',
    p('pass'),
  )
  assert.equal(dec.status, 0, dec.stderr)
  assert.ok(readFileSync(p('plain')).equals(readFileSync(p('raw'))))
  const slot = run(
    'decrypt',
    '--in',
    p('disk'),
    '--out',
    p('plain-slot'),
    '--recovery-passphrase-file',
    p('pass'),
    '--key-slot',
    '3',
    '--json',
  )
  assert.equal(slot.status, 2)
  assert.equal(
    (JSON.parse(slot.stdout) as { error: { code: string } }).error.code,
    'ERR_DISK_NO_KEYSLOT',
  )
})

test('KDF flags: cryptsetup-shaped, checked before any work (usage errors, ERR_DISK_OPTIONS)', () => {
  const enc = (...extra: string[]) =>
    run(
      'encrypt',
      '--in',
      p('raw'),
      '--out',
      p('kdf-x'),
      '--kek-file',
      p('kek'),
      '--recovery-passphrase-file',
      p('pass'),
      ...extra,
    )
  for (const extra of [
    ['--pbkdf', 'scrypt'],
    ['--pbkdf-memory', 'lots'],
    ['--pbkdf-force-iterations', '0'],
  ]) {
    const r = enc(...extra)
    assert.equal(r.status, 2, extra.join(' '))
    assert.match(r.stderr, /ERR_CLI_USAGE/, extra.join(' '))
  }
  for (const extra of [
    ['--pbkdf', 'pbkdf2', '--pbkdf-memory', '65536'],
    ['--pbkdf-force-iterations', '3'],
    ['--pbkdf-memory', '8388608'],
    ['--pbkdf-parallel', '8'],
  ]) {
    const r = enc(...extra)
    assert.equal(r.status, 2, extra.join(' '))
    assert.match(r.stderr, /ERR_DISK_OPTIONS/, extra.join(' '))
  }
  const noPass = run(
    'encrypt',
    '--in',
    p('raw'),
    '--out',
    p('kdf-x'),
    '--kek-file',
    p('kek'),
    '--pbkdf',
    'argon2id',
  )
  assert.match(
    noPass.stderr,
    /--recovery-passphrase-file.*ERR_CLI_USAGE|ERR_CLI_USAGE.*--recovery-passphrase-file/s,
  )
  assert.equal(noPass.status, 2)
  const badSlot = run(
    'decrypt',
    '--in',
    p('disk'),
    '--out',
    p('kdf-x'),
    '--recovery-passphrase-file',
    p('pass'),
    '--key-slot',
    'first',
  )
  assert.match(badSlot.stderr, /ERR_CLI_USAGE/)
  assert.ok(!existsSync(p('kdf-x')))
})

test('wrong KEK: exit 2 with the coded error, in JSON on stdout with --json; no output file', () => {
  const r = run('decrypt', '--in', p('disk'), '--out', p('nope'), '--kek-file', p('kek'), '--json')
  assert.equal(r.status, 2)
  const e = JSON.parse(r.stdout) as { error: { code: string } }
  assert.equal(e.error.code, 'ERR_DISK_WRONG_KEK')
  assert.ok(!existsSync(p('nope')))
})

test('a KEK file readable by others, or of the wrong length, is refused saying why', () => {
  writeFileSync(p('loose'), randomBytes(32), { mode: 0o644 })
  const r = run('decrypt', '--in', p('disk'), '--out', p('nope'), '--kek-file', p('loose'))
  assert.equal(r.status, 2)
  assert.match(r.stderr, /0600.*ERR_SECRET_FILE/)
  writeFileSync(p('short'), randomBytes(16), { mode: 0o600 })
  assert.match(
    run('decrypt', '--in', p('disk'), '--out', p('nope'), '--kek-file', p('short')).stderr,
    /exactly 32 bytes/,
  )
})

test('usage errors are ERR_CLI_USAGE', () => {
  for (const args of [
    ['encrypt', '--in', p('raw'), '--kek-file', p('kek')],
    ['encrypt', '--in', p('raw'), '--out', p('x'), '--in-place', p('raw'), '--kek-file', p('kek')],
    ['decrypt', '--in', p('disk'), '--out', p('x')],
    [
      'decrypt',
      '--in',
      p('disk'),
      '--out',
      p('x'),
      '--kek-file',
      p('kek'),
      '--recovery-passphrase-file',
      p('pass'),
    ],
    ['rekey', '--kek-file', p('kek'), p('disk')],
    ['rekey', '--shallow', '--deep', '--kek-file', p('kek'), p('disk')],
    ['rekey', '--deep', '--kek-file', p('kek')],
    [
      'encrypt',
      '--in',
      p('raw'),
      '--out',
      p('x'),
      '--kek-file',
      p('kek'),
      '--segment-bytes',
      'lots',
    ],
  ]) {
    const r = run(...args)
    assert.equal(r.status, 2, args.join(' '))
    assert.match(r.stderr, /ERR_CLI_USAGE/, args.join(' '))
  }
  assert.ok(!existsSync(p('x')))
})

test('decrypt --out ignores a planted OUT.ward-partial (0666 file or hard link); outputs and in-place results are 0600', () => {
  // issue 10, finding 7: `touch o.img.ward-partial; chmod 666` (or `ln victim o.img.ward-partial`)
  writeFileSync(p('small'), randomBytes(1 << 20))
  const enc = run('encrypt', '--in', p('small'), '--out', p('small.luks'), '--kek-file', p('kek'))
  assert.equal(enc.status, 0, enc.stderr)
  assert.equal(statSync(p('small.luks')).mode & 0o777, 0o600)
  const planted = p('o.img.ward-partial')
  writeFileSync(planted, '')
  chmodSync(planted, 0o666)
  writeFileSync(p('victim'), 'precious\n')
  linkSync(p('victim'), p('o2.img.ward-partial'))
  for (const out of ['o.img', 'o2.img']) {
    const r = run('decrypt', '--in', p('small.luks'), '--out', p(out), '--kek-file', p('kek'))
    assert.equal(r.status, 0, r.stderr)
    assert.ok(readFileSync(p(out)).equals(readFileSync(p('small'))))
    const st = statSync(p(out))
    assert.equal(st.mode & 0o777, 0o600)
    assert.equal(st.nlink, 1)
  }
  assert.equal(readFileSync(planted).length, 0, 'no plaintext in the planted file')
  assert.equal(statSync(planted).mode & 0o777, 0o666)
  assert.equal(readFileSync(p('victim'), 'utf8'), 'precious\n', "the link's target is unchanged")
  // in-place encryption of a 0644 image leaves a 0600 disk
  writeFileSync(p('inplace'), randomBytes(1 << 20), { mode: 0o644 })
  chmodSync(p('inplace'), 0o644)
  const ip = run('encrypt', '--in-place', p('inplace'), '--kek-file', p('kek'))
  assert.equal(ip.status, 0, ip.stderr)
  assert.equal(statSync(p('inplace')).mode & 0o777, 0o600)
})
