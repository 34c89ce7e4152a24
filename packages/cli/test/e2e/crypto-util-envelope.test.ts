import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const bin = fileURLToPath(new URL('../../../bin/ward.js', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'ward-describe-'))
test.after(() => rmSync(dir, { recursive: true, force: true }))

const ward = (...args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' })

const kekBytes = randomBytes(32)
const kek = join(dir, 'kek')
writeFileSync(kek, kekBytes, { mode: 0o600 })
const raw = join(dir, 'raw.img')
writeFileSync(raw, randomBytes(1 << 20))

test('envelope describe and isencrypted on a Ward disk', () => {
  const disk = join(dir, 'disk.luks')
  const enc = ward(
    'crypto-util',
    'disk',
    'encrypt',
    '--in',
    raw,
    '--out',
    disk,
    '--kek-file',
    kek,
    '--provider-id',
    'prov-1',
    '--kek-id',
    'kek-42',
  )
  assert.equal(enc.status, 0, enc.stderr)
  assert.equal(ward('crypto-util', 'isencrypted', disk).status, 0)
  const r = ward('crypto-util', 'envelope', 'describe', disk, '--json')
  assert.equal(r.status, 0, r.stderr)
  const d = JSON.parse(r.stdout) as Record<string, unknown>
  assert.equal(d.kind, 'disk')
  assert.equal(d.providerId, 'prov-1')
  assert.equal(d.kekId, 'kek-42')
  assert.equal(d.sectorSize, 4096)
  assert.ok(
    !r.stdout.includes(kekBytes.toString('hex')) && !r.stdout.includes(kekBytes.toString('base64')),
  )
})

test('envelope describe and isencrypted on a Ward VM file', () => {
  const out = join(dir, 'nvram.ve')
  const enc = ward(
    'crypto-util',
    'file',
    'encrypt',
    '--vm-id',
    'vm-7',
    '--role',
    'nvram',
    '--kek-file',
    kek,
    '--in',
    raw,
    '--out',
    out,
    '--provider-id',
    'prov-1',
    '--kek-id',
    'kek-43',
  )
  assert.equal(enc.status, 0, enc.stderr)
  assert.equal(ward('crypto-util', 'isencrypted', out).status, 0)
  const r = ward('crypto-util', 'envelope', 'describe', out, '--json')
  assert.equal(r.status, 0, r.stderr)
  const d = JSON.parse(r.stdout) as Record<string, unknown>
  assert.equal(d.kind, 'file')
  assert.equal(d.role, 'nvram')
  assert.equal(d.kekId, 'kek-43')
})

test('a LUKS2 volume made by cryptsetup is described but is not Ward-encrypted', () => {
  const vol = join(dir, 'plain.luks')
  writeFileSync(vol, Buffer.alloc(20 << 20))
  const pass = join(dir, 'pass')
  writeFileSync(pass, 'cryptsetup-pass', { mode: 0o600 })
  const f = spawnSync(
    'cryptsetup',
    [
      'luksFormat',
      '--type',
      'luks2',
      '--batch-mode',
      '--pbkdf',
      'pbkdf2',
      '--pbkdf-force-iterations',
      '1000',
      '--key-file',
      pass,
      vol,
    ],
    { encoding: 'utf8' },
  )
  assert.equal(f.status, 0, f.stderr)
  const j = ward('crypto-util', 'isencrypted', vol, '--json')
  assert.equal(j.status, 1)
  assert.deepEqual(JSON.parse(j.stdout), { file: vol, encrypted: false, kind: 'luks2' })
  const d = ward('crypto-util', 'envelope', 'describe', vol, '--json')
  assert.equal(d.status, 0, d.stderr)
  assert.equal((JSON.parse(d.stdout) as { kind: string }).kind, 'luks2')
})

test('isencrypted says no (exit 1) for a plain file, describe gives a coded error', () => {
  assert.equal(ward('crypto-util', 'isencrypted', raw).status, 1)
  const j = ward('crypto-util', 'isencrypted', raw, '--json')
  assert.deepEqual(JSON.parse(j.stdout), { file: raw, encrypted: false, kind: null })
  const r = ward('crypto-util', 'envelope', 'describe', raw)
  assert.equal(r.status, 2)
  assert.match(r.stderr, /ERR_ENVELOPE_NOT_WARD/)
})
