import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, test } from 'node:test'

// Issue 11, item 10 ("what a new user hit"), the disk and file tools, through the binary: cut
// disks and headers, image containers given as raw images, the shallow rekey's KEK id, the VM
// file's role from its header, and describe's text form.

const ward = fileURLToPath(new URL('../../../bin/ward.js', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'ward-cli-newuser-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const p = (n: string): string => join(dir, n)
const run = (...args: string[]) =>
  spawnSync(process.execPath, [ward, 'crypto-util', ...args], { encoding: 'utf8' })
const code = (r: { stdout: string }): string =>
  (JSON.parse(r.stdout) as { error: { code: string } }).error.code
const digest = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex')
const MiB = 1048576

writeFileSync(p('kek'), randomBytes(32), { mode: 0o600 })
writeFileSync(p('kek2'), randomBytes(32), { mode: 0o600 })
writeFileSync(p('pass'), 'open sesame', { mode: 0o600 })
writeFileSync(p('raw'), randomBytes(2 * MiB))

function encrypt(out: string, ...extra: string[]): void {
  const r = run(
    'disk',
    'encrypt',
    '--in',
    p('raw'),
    '--out',
    out,
    '--kek-file',
    p('kek'),
    '--kek-id',
    'k1',
    ...extra,
  )
  assert.equal(r.status, 0, r.stderr)
}

const noTemp = (name: string): void =>
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.startsWith(`.${name}.ward-tmp`)),
    [],
  )

test('decrypt of a disk cut inside its data area: coded error with both sizes, no output left', () => {
  const d = p('cut.luks')
  encrypt(
    d,
    '--recovery-passphrase-file',
    p('pass'),
    '--pbkdf',
    'pbkdf2',
    '--pbkdf-force-iterations',
    '1000',
  )
  truncateSync(d, 16 * MiB + MiB) // on a sector boundary: a plain "shorter disk" before the fix
  for (const unlock of [
    ['--kek-file', p('kek')],
    ['--recovery-passphrase-file', p('pass')],
  ]) {
    const r = run('disk', 'decrypt', '--in', d, '--out', p('cut.img'), ...unlock, '--json')
    assert.equal(r.status, 2, r.stderr)
    assert.equal(code(r), 'ERR_LUKS2_TRUNCATED')
    const t = run('disk', 'decrypt', '--in', d, '--out', p('cut.img'), ...unlock)
    assert.match(t.stderr, /17825792 bytes.*2097152 bytes of data.*1048576 missing/)
    assert.ok(!existsSync(p('cut.img')))
    noTemp('cut.img')
  }
  // the same for the in-place paths: nothing is changed, no journal is left
  const before = digest(d)
  const rekeys = [
    ['rekey', '--deep', '--kek-file', p('kek'), '--recovery-passphrase-file', p('pass'), d],
    [
      'rekey',
      '--shallow',
      '--kek-file',
      p('kek'),
      '--new-kek-file',
      p('kek2'),
      '--new-kek-id',
      'k2',
      d,
    ],
    ['encrypt', '--in-place', d, '--kek-file', p('kek')],
  ]
  for (const args of rekeys) {
    const r = run('disk', ...args, '--json')
    assert.equal(r.status, 2, args.join(' '))
    assert.equal(code(r), 'ERR_LUKS2_TRUNCATED', args.join(' '))
  }
  assert.equal(digest(d), before)
  assert.ok(!existsSync(`${d}.ward-journal`))
  // describe still describes it, and says it is cut
  const desc = run('disk', 'describe', d)
  assert.equal(desc.status, 0, desc.stderr)
  assert.match(desc.stdout, /truncated: .*2097152 bytes/)
})

test('envelope describe of a file cut inside its header: a truncated LUKS2 volume (or VM file)', () => {
  const d = p('head.luks')
  encrypt(d)
  for (const size of [20000, 1000]) {
    truncateSync(d, size)
    for (const cmd of [['envelope', 'describe'], ['isencrypted']]) {
      const r = run(...cmd, d, '--json')
      assert.equal(r.status, 2, `${cmd.join(' ')} ${size}`)
      assert.equal(code(r), 'ERR_LUKS2_TRUNCATED', `${cmd.join(' ')} ${size}`)
    }
    assert.match(run('envelope', 'describe', d).stderr, /cut short/)
  }
  const f = p('head.ve')
  const enc = run(
    'file',
    'encrypt',
    '--vm-id',
    'vm-1',
    '--role',
    'nvram',
    '--kek-file',
    p('kek'),
    '--in',
    p('raw'),
    '--out',
    f,
  )
  assert.equal(enc.status, 0, enc.stderr)
  truncateSync(f, 30)
  const r = run('envelope', 'describe', f, '--json')
  assert.equal(r.status, 2)
  assert.equal(code(r), 'ERR_VMFILE_HEADER')
})

function qemuImg(...args: string[]): void {
  const r = spawnSync('qemu-img', args, { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
}

test('qcow2, VMDK, VHD, VHDX and VDI inputs are refused, pointing to qemu-img convert', () => {
  for (const [fmt, label] of [
    ['qcow2', 'qcow2'],
    ['vmdk', 'VMDK'],
    ['vpc', 'VHD'],
    ['vhdx', 'VHDX'],
    ['vdi', 'VDI'],
  ] as const) {
    const img = p(`img.${fmt}`)
    qemuImg('create', '-q', '-f', fmt, img, '8M')
    const before = digest(img)
    for (const where of [
      ['--in', img, '--out', p(`img.${fmt}.luks`)],
      ['--in-place', img],
    ]) {
      const r = run('disk', 'encrypt', ...where, '--kek-file', p('kek'))
      assert.equal(r.status, 2, `${fmt} ${where[0]}`)
      assert.match(r.stderr, /ERR_DISK_IMAGE_FORMAT/)
      assert.match(r.stderr, new RegExp(`is a ${label} image`))
      assert.match(r.stderr, new RegExp(`qemu-img convert -f ${fmt} -O raw `))
      assert.equal(digest(img), before)
    }
    assert.ok(!existsSync(p(`img.${fmt}.luks`)))
    assert.ok(!existsSync(`${img}.ward-journal`))
  }
  // what the message says works: convert, then encrypt
  qemuImg('convert', '-f', 'qcow2', '-O', 'raw', p('img.qcow2'), p('img.qcow2.raw'))
  const ok = run(
    'disk',
    'encrypt',
    '--in',
    p('img.qcow2.raw'),
    '--out',
    p('conv.luks'),
    '--kek-file',
    p('kek'),
  )
  assert.equal(ok.status, 0, ok.stderr)
  // --force-raw takes it as raw: then the size is checked, with the exact size to pad to
  const size = statSync(p('img.qcow2')).size
  const pad = Math.ceil(size / 4096) * 4096
  assert.notEqual(size, pad)
  const forced = run(
    'disk',
    'encrypt',
    '--in',
    p('img.qcow2'),
    '--out',
    p('forced.luks'),
    '--kek-file',
    p('kek'),
    '--force-raw',
  )
  assert.equal(forced.status, 2)
  assert.match(forced.stderr, new RegExp(`pad it to ${pad} bytes first \\(truncate -s ${pad} `))
  assert.match(forced.stderr, /ERR_DISK_UNALIGNED/)
  writeFileSync(p('odd'), randomBytes(5000))
  assert.match(
    run('disk', 'encrypt', '--in-place', p('odd'), '--kek-file', p('kek')).stderr,
    /5000 bytes.*truncate -s 8192 .*ERR_DISK_UNALIGNED/,
  )
})

test('rekey --shallow needs --new-kek-id, and prints the new and the old KEK ids', () => {
  const d = p('shallow.luks')
  encrypt(d, '--provider-id', 'kp')
  const before = digest(d)
  const args = [
    'disk',
    'rekey',
    '--shallow',
    '--kek-file',
    p('kek'),
    '--new-kek-file',
    p('kek2'),
    d,
  ]
  const missing = run(...args)
  assert.equal(missing.status, 2)
  assert.match(missing.stderr, /--new-kek-id.*ERR_CLI_USAGE/)
  assert.equal(digest(d), before, 'nothing written')
  const r = run(...args, '--new-kek-id', 'k2', '--json')
  assert.equal(r.status, 0, r.stderr)
  const j = JSON.parse(r.stdout) as Record<string, unknown>
  assert.deepEqual(
    [j.kekId, j.providerId, j.previousKekId, j.previousProviderId],
    ['k2', 'kp', 'k1', 'kp'],
  )
  const again = run(
    ...args.slice(0, -1),
    '--kek-file',
    p('kek2'),
    '--new-kek-file',
    p('kek'),
    '--new-kek-id',
    'k3',
    d,
  )
  assert.equal(again.status, 0, again.stderr)
  assert.match(again.stdout, /KEK 'k3' of provider 'kp', was KEK 'k2' of provider 'kp'/)
  assert.match(run('disk', 'describe', d).stdout, /KEK 'k3'/)
})

test('file decrypt takes the role from the header; --role is a check', () => {
  const f = p('swap.ve')
  const enc = run(
    'file',
    'encrypt',
    '--vm-id',
    'vm-2',
    '--role',
    'swap',
    '--kek-file',
    p('kek'),
    '--in',
    p('raw'),
    '--out',
    f,
  )
  assert.equal(enc.status, 0, enc.stderr)
  const base = ['file', 'decrypt', '--vm-id', 'vm-2', '--kek-file', p('kek'), '--in', f]
  const r = run(...base, '--out', p('swap.out'), '--json')
  assert.equal(r.status, 0, r.stderr)
  assert.equal((JSON.parse(r.stdout) as { role: string }).role, 'swap')
  assert.ok(readFileSync(p('swap.out')).equals(readFileSync(p('raw'))))
  const wrong = run(...base, '--role', 'nvram', '--out', p('swap.out2'), '--json')
  assert.equal(wrong.status, 2)
  assert.equal(code(wrong), 'ERR_VMFILE_ROLE_MISMATCH')
  assert.ok(!existsSync(p('swap.out2')))
  const right = run(...base, '--role', 'swap', '--out', p('swap.out3'))
  assert.equal(right.status, 0, right.stderr)
})

test('describe in text mode prints readable lines, never JSON; --json gives the object', () => {
  const d = p('text.luks')
  encrypt(
    d,
    '--recovery-passphrase-file',
    p('pass'),
    '--pbkdf',
    'pbkdf2',
    '--pbkdf-force-iterations',
    '1000',
  )
  const copy = p('text-copy.luks')
  copyFileSync(d, copy)
  const text = run('envelope', 'describe', copy)
  assert.equal(text.status, 0, text.stderr)
  assert.doesNotMatch(text.stdout, /[{}[\]"]/)
  assert.match(text.stdout, /^kind: +disk$/m)
  assert.match(text.stdout, /^keyslots: +0 \(luks2, pbkdf2: sha256, 1000 iterations\)$/m)
  assert.match(text.stdout, /^ward token: +provider 'offline', KEK 'k1'$/m)
  const json = JSON.parse(run('envelope', 'describe', copy, '--json').stdout) as {
    keyslots: unknown[]
  }
  assert.deepEqual(json.keyslots, [
    { id: '0', type: 'luks2', kdf: 'pbkdf2', hash: 'sha256', iterations: 1000 },
  ])
  const f = p('text.ve')
  const enc = run(
    'file',
    'encrypt',
    '--vm-id',
    'vm-3',
    '--role',
    'vtpm',
    '--kek-file',
    p('kek'),
    '--kek-id',
    'kv',
    '--in',
    p('raw'),
    '--out',
    f,
  )
  assert.equal(enc.status, 0, enc.stderr)
  const ft = run('envelope', 'describe', f)
  assert.equal(ft.status, 0, ft.stderr)
  assert.doesNotMatch(ft.stdout, /[{}[\]"]/)
  assert.match(ft.stdout, /^role: +vtpm$/m)
  assert.match(ft.stdout, /^data: +2097152 bytes in 32 chunks/m)
})
