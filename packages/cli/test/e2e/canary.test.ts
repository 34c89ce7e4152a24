import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// Canary: plant known secrets (KEKs, a recovery passphrase, the disk's DEK as cryptsetup reports it),
// run every crypto-util flow in text and JSON modes, and grep everything the CLI printed and every
// file it left behind. Key material may only be in the files designed to hold it.
const bin = fileURLToPath(new URL('../../../bin/ward.js', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'ward-canary-'))
test.after(() => rmSync(dir, { recursive: true, force: true }))

/** Small argon2id costs for the recovery keyslot (the default is 1 GiB x 4 passes per run). */
const SMALL_KDF = ['--pbkdf-memory', '32768', '--pbkdf-force-iterations', '4']
const printed: string[] = []
const ward = (...args: string[]): void => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' })
  printed.push(r.stdout, r.stderr)
  assert.equal(r.status, 0, `ward ${args.join(' ')}: ${r.stderr}`)
}
const forms = (b: Buffer): string[] => [
  b.toString('hex'),
  b.toString('base64'),
  b.toString('base64url'),
]

test('no KEK, passphrase or DEK appears in CLI output or stray files', () => {
  const kek1 = randomBytes(32)
  const kek2 = randomBytes(32)
  const pass = `canary-passphrase-${randomBytes(8).toString('hex')}`
  const k1 = join(dir, 'kek1')
  const k2 = join(dir, 'kek2')
  const pf = join(dir, 'pass')
  writeFileSync(k1, kek1, { mode: 0o600 })
  writeFileSync(k2, kek2, { mode: 0o600 })
  writeFileSync(pf, pass, { mode: 0o600 })
  const raw = join(dir, 'raw.img')
  writeFileSync(raw, randomBytes(2 << 20))
  const disk = join(dir, 'disk.luks')
  for (const json of [[], ['--json']]) {
    rmSync(disk, { force: true })
    ward(
      'crypto-util',
      'disk',
      'encrypt',
      '--in',
      raw,
      '--out',
      disk,
      '--kek-file',
      k1,
      '--recovery-passphrase-file',
      pf,
      ...SMALL_KDF,
      ...json,
    )
    ward('crypto-util', 'envelope', 'describe', disk, ...json)
    ward(
      'crypto-util',
      'disk',
      'rekey',
      '--shallow',
      '--kek-file',
      k1,
      '--new-kek-file',
      k2,
      '--new-kek-id',
      'kek2',
      disk,
      ...json,
    )
    ward(
      'crypto-util',
      'disk',
      'rekey',
      '--deep',
      '--kek-file',
      k2,
      '--recovery-passphrase-file',
      pf,
      ...SMALL_KDF,
      disk,
      ...json,
    )
    ward(
      'crypto-util',
      'disk',
      'rekey',
      '--shallow',
      '--kek-file',
      k2,
      '--new-kek-file',
      k1,
      '--new-kek-id',
      'kek1',
      disk,
      ...json,
    )
    rmSync(join(dir, 'out.img'), { force: true })
    ward(
      'crypto-util',
      'disk',
      'decrypt',
      '--in',
      disk,
      '--out',
      join(dir, 'out.img'),
      '--recovery-passphrase-file',
      pf,
      ...json,
    )
    rmSync(join(dir, 'vm.ve'), { force: true })
    rmSync(join(dir, 'vm.out'), { force: true })
    ward(
      'crypto-util',
      'file',
      'encrypt',
      '--vm-id',
      'vm-1',
      '--role',
      'swap',
      '--kek-file',
      k1,
      '--in',
      raw,
      '--out',
      join(dir, 'vm.ve'),
      ...json,
    )
    ward(
      'crypto-util',
      'file',
      'decrypt',
      '--vm-id',
      'vm-1',
      '--role',
      'swap',
      '--kek-file',
      k1,
      '--in',
      join(dir, 'vm.ve'),
      '--out',
      join(dir, 'vm.out'),
      ...json,
    )
  }
  // The DEK, as an independent implementation reads it with the passphrase.
  const dump = spawnSync(
    'cryptsetup',
    ['luksDump', '--dump-volume-key', '--batch-mode', '--key-file', pf, disk],
    { encoding: 'utf8' },
  )
  assert.equal(dump.status, 0, dump.stderr)
  const mk = /MK dump:\s*([\s\S]*?)\n\s*\n|Volume key:\s*([\s\S]*?)\n\s*\n/.exec(
    dump.stdout + '\n\n',
  )
  const dekHex = (mk?.[1] ?? mk?.[2] ?? '').replace(/[\s:]/g, '')
  assert.equal(dekHex.length, 128, `cannot read the DEK from luksDump:\n${dump.stdout}`)
  const canaries = [...forms(kek1), ...forms(kek2), ...forms(Buffer.from(dekHex, 'hex')), pass]
  const out = printed.join('\n')
  for (const c of canaries) assert.ok(!out.includes(c), 'a secret was printed')
  // Files left behind: only the inputs, the outputs and the secret files themselves.
  const left = readdirSync(dir).sort()
  assert.deepEqual(left, [
    'disk.luks',
    'kek1',
    'kek2',
    'out.img',
    'pass',
    'raw.img',
    'vm.out',
    'vm.ve',
  ])
  for (const f of ['disk.luks', 'vm.ve']) {
    const bytes = readFileSync(join(dir, f))
    for (const c of [kek1, kek2, Buffer.from(dekHex, 'hex'), Buffer.from(pass)])
      assert.equal(bytes.indexOf(c), -1, `${f} holds a secret in clear`)
  }
})
