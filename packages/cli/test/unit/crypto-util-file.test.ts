import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, test } from 'node:test'

const ward = fileURLToPath(new URL('../../../bin/ward.js', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'ward-cli-file-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const p = (n: string): string => join(dir, n)
const run = (...args: string[]) =>
  spawnSync(process.execPath, [ward, ...args], { encoding: 'utf8' })

writeFileSync(p('kek'), randomBytes(32), { mode: 0o600 })
const plain = randomBytes(9 * 1024 * 1024 + 17) // past the progress threshold
writeFileSync(p('nvram.raw'), plain)

test('ward crypto-util file encrypt/decrypt round-trips a file, with JSON output and progress', () => {
  const enc = run(
    'crypto-util',
    'file',
    'encrypt',
    '--vm-id',
    'vm-7',
    '--role',
    'nvram',
    '--kek-file',
    p('kek'),
    '--in',
    p('nvram.raw'),
    '--out',
    p('nvram.enc'),
    '--provider-id',
    'kp-1',
    '--kek-id',
    'kek-9',
    '--json',
  )
  assert.equal(enc.status, 0, enc.stderr)
  const summary = JSON.parse(enc.stdout) as Record<string, unknown>
  assert.deepEqual(
    {
      vmId: summary.vmId,
      role: summary.role,
      providerId: summary.providerId,
      kekId: summary.kekId,
      bytes: summary.bytes,
    },
    { vmId: 'vm-7', role: 'nvram', providerId: 'kp-1', kekId: 'kek-9', bytes: plain.length },
  )
  const progress = enc.stderr
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { progress: string; finished?: boolean })
  assert.equal(progress.at(-1)?.finished, true)
  assert.ok(!readFileSync(p('nvram.enc')).includes(plain.subarray(4096, 4128)))

  const dec = run(
    'crypto-util',
    'file',
    'decrypt',
    '--vm-id',
    'vm-7',
    '--role',
    'nvram',
    '--kek-file',
    p('kek'),
    '--in',
    p('nvram.enc'),
    '--out',
    p('nvram.out'),
  )
  assert.equal(dec.status, 0, dec.stderr)
  assert.ok(readFileSync(p('nvram.out')).equals(plain))
})

test('a KEK file with mode 0644 is refused saying why, and nothing is written', () => {
  writeFileSync(p('kek-open'), randomBytes(32))
  chmodSync(p('kek-open'), 0o644)
  const r = run(
    'crypto-util',
    'file',
    'encrypt',
    '--vm-id',
    'vm-7',
    '--role',
    'swap',
    '--kek-file',
    p('kek-open'),
    '--in',
    p('nvram.raw'),
    '--out',
    p('swap.enc'),
  )
  assert.equal(r.status, 2)
  assert.match(r.stderr, /0644/)
  assert.match(r.stderr, /chmod 600/)
  assert.match(r.stderr, /ERR_SECRET_FILE/)
  assert.equal(existsSync(p('swap.enc')), false)
})

test('a KEK file of the wrong length, a wrong VM id, a bad role and an existing output are refused', () => {
  writeFileSync(p('kek-short'), randomBytes(31), { mode: 0o600 })
  const base = ['crypto-util', 'file', 'decrypt', '--role', 'nvram', '--in', p('nvram.enc')]
  const short = run(...base, '--vm-id', 'vm-7', '--kek-file', p('kek-short'), '--out', p('x1'))
  assert.equal(short.status, 2)
  assert.match(short.stderr, /32 bytes/)
  const other = run(...base, '--vm-id', 'vm-8', '--kek-file', p('kek'), '--out', p('x2'), '--json')
  assert.equal(other.status, 2)
  assert.equal(
    (JSON.parse(other.stdout) as { error: { code: string } }).error.code,
    'ERR_VMFILE_AUTH',
  )
  assert.equal(existsSync(p('x2')), false)
  const role = run(
    'crypto-util',
    'file',
    'decrypt',
    '--role',
    'disk',
    '--in',
    p('nvram.enc'),
    '--vm-id',
    'vm-7',
    '--kek-file',
    p('kek'),
    '--out',
    p('x3'),
  )
  assert.equal(role.status, 2)
  assert.match(role.stderr, /ERR_CLI_USAGE/)
  const exists = run(...base, '--vm-id', 'vm-7', '--kek-file', p('kek'), '--out', p('nvram.raw'))
  assert.equal(exists.status, 2)
  assert.match(exists.stderr, /ERR_VMFILE_EXISTS/)
  assert.ok(readFileSync(p('nvram.raw')).equals(plain))
  const missing = run('crypto-util', 'file', 'encrypt', '--role', 'nvram', '--kek-file', p('kek'))
  assert.equal(missing.status, 2)
  assert.match(missing.stderr, /--vm-id is required/)
})

test('kill -9 during in-place encryption never loses the original', async (t) => {
  const outcomes: string[] = []
  const original = randomBytes(16 * 1024 * 1024)
  for (const delay of [60, 200, 350, 1200]) {
    const f = p(`inplace-${delay}`)
    writeFileSync(f, original)
    const child = spawn(
      process.execPath,
      [
        ward,
        'crypto-util',
        'file',
        'encrypt',
        '--vm-id',
        'vm-c',
        '--role',
        'swap',
        '--kek-file',
        p('kek'),
        '--in',
        f,
        '--out',
        f,
        '--force',
      ],
      { stdio: 'ignore' },
    )
    const exited = new Promise((r) => child.once('exit', r))
    await new Promise((r) => setTimeout(r, delay))
    child.kill('SIGKILL')
    await exited
    const now = readFileSync(f)
    outcomes.push(now.equals(original) ? 'untouched' : 'encrypted')
    if (now.equals(original)) continue // killed before the rename: untouched
    // Killed after the rename: the file is complete and decrypts to the original.
    const back = run(
      'crypto-util',
      'file',
      'decrypt',
      '--vm-id',
      'vm-c',
      '--role',
      'swap',
      '--kek-file',
      p('kek'),
      '--in',
      f,
      '--out',
      `${f}.back`,
    )
    assert.equal(back.status, 0, back.stderr)
    assert.ok(readFileSync(`${f}.back`).equals(original))
  }
  t.diagnostic(outcomes.join(','))
  // Temp files of killed runs stay hidden beside the target (dot-prefixed); never the target.
  for (const n of readdirSync(dir).filter((x) => x.includes('ward-tmp')))
    assert.match(n, /^\.inplace-\d+\.ward-tmp-/)
})
