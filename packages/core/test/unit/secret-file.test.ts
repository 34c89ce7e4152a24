import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readSecretFile } from '../../src/secret-file.js'

const dir = mkdtempSync(join(tmpdir(), 'ward-core-'))
test.after(() => rmSync(dir, { recursive: true, force: true }))

test('readSecretFile accepts a 0600 file of the right length', () => {
  const p = join(dir, 'kek')
  writeFileSync(p, Buffer.alloc(32, 7), { mode: 0o600 })
  const s = readSecretFile(p, { length: 32 })
  assert.equal(s.length, 32)
})

test('readSecretFile refuses group/other-readable files saying how to fix it', () => {
  const p = join(dir, 'open')
  writeFileSync(p, Buffer.alloc(32, 7))
  chmodSync(p, 0o644)
  assert.throws(
    () => readSecretFile(p),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_SECRET_FILE')
      assert.match(e.message, /0644.*chmod 600/)
      return true
    },
  )
})

test('readSecretFile refuses a wrong length without echoing content', () => {
  const p = join(dir, 'short')
  writeFileSync(p, 'hunter2-canary', { mode: 0o600 })
  assert.throws(
    () => readSecretFile(p, { length: 32 }),
    (e: Error) => {
      assert.doesNotMatch(e.message, /hunter2/)
      return true
    },
  )
})

test('readSecretFile trims one trailing newline for passphrases', () => {
  const p = join(dir, 'pass')
  writeFileSync(p, 'correct horse\n', { mode: 0o600 })
  assert.equal(
    readSecretFile(p, { trimNewline: true }).use((b) => Buffer.from(b).toString()),
    'correct horse',
  )
})

test('readSecretFile reports a missing file with a coded error', () => {
  assert.throws(() => readSecretFile(join(dir, 'nope')), { code: 'ERR_SECRET_FILE' })
})
