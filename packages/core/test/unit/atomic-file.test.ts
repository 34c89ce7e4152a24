import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  chmodSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeFileAtomic } from '../../src/atomic-file.js'
import { writeSecretFile } from '../../src/secret-file.js'
import { Secret } from '../../src/secret.js'

// Issue 10 (finding 7's class): files Ward writes never go through a planted file, hard link or
// symlink, land with mode 0600, and appear whole or not at all.

const dir = mkdtempSync(join(tmpdir(), 'ward-atomic-'))
test.after(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const p = (name: string): string => join(dir, `${n++}-${name}`)
const secret = (s: string): Secret => new Secret(new Uint8Array(Buffer.from(s)))
const noTemps = (): void =>
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes('ward-tmp')),
    [],
    'no temporary file left',
  )

/** A victim file someone else can read, and a planted link to it at a fresh name. */
function planted(kind: 'symlink' | 'hardlink'): { name: string; victim: string } {
  const victim = p('victim')
  writeFileSync(victim, 'not yours')
  chmodSync(victim, 0o644)
  const name = p(`${kind}.key`)
  if (kind === 'symlink') symlinkSync(victim, name)
  else linkSync(victim, name)
  return { name, victim }
}

for (const kind of ['symlink', 'hardlink'] as const) {
  test(`writeSecretFile with overwrite replaces a planted ${kind}, never writes through it`, () => {
    const { name, victim } = planted(kind)
    writeSecretFile(name, secret('s3cret-canary'), { overwrite: true })
    assert.equal(readFileSync(victim, 'utf8'), 'not yours', 'the link target is unchanged')
    assert.equal(statSync(victim).mode & 0o777, 0o644)
    const st = lstatSync(name)
    assert.ok(st.isFile() && st.nlink === 1, 'the name is now a file of its own')
    assert.equal(st.mode & 0o777, 0o600)
    assert.equal(readFileSync(name, 'utf8'), 's3cret-canary')
    noTemps()
  })

  test(`writeSecretFile without overwrite refuses a planted ${kind} (ERR_FILE_EXISTS)`, () => {
    const { name, victim } = planted(kind)
    assert.throws(() => writeSecretFile(name, secret('s3cret-canary')), {
      code: 'ERR_FILE_EXISTS',
    })
    assert.equal(readFileSync(victim, 'utf8'), 'not yours')
    noTemps()
  })
}

test('a dangling symlink is an existing name: refused without overwrite, its target never created', () => {
  const name = p('dangling.key')
  const target = p('target')
  symlinkSync(target, name)
  assert.throws(() => writeSecretFile(name, secret('x')), { code: 'ERR_FILE_EXISTS' })
  assert.throws(() => writeFileAtomic(name, 'x', { overwrite: false }), {
    code: 'ERR_FILE_EXISTS',
  })
  writeFileAtomic(name, 'x') // overwrite (the default) replaces the link
  assert.ok(lstatSync(name).isFile())
  assert.throws(() => statSync(target), { code: 'ENOENT' })
  noTemps()
})

test('mode 0600 even under umask 0; an existing file is replaced whole, keeping no hard link', () => {
  const old = process.umask(0)
  try {
    const name = p('file')
    writeFileAtomic(name, 'first')
    assert.equal(statSync(name).mode & 0o777, 0o600)
    const copy = p('copy')
    linkSync(name, copy)
    writeFileAtomic(name, 'second', { mode: 0o644 })
    assert.equal(readFileSync(name, 'utf8'), 'second')
    assert.equal(statSync(name).mode & 0o777, 0o644, 'an explicit mode is kept')
    assert.equal(readFileSync(copy, 'utf8'), 'first', 'the other link keeps the old content')
  } finally {
    process.umask(old)
  }
  noTemps()
})

test('a failed write leaves the name as it was and no temporary file', () => {
  // the folder does not exist: the temporary file cannot even be created
  assert.throws(() => writeFileAtomic(join(dir, 'missing', 'x'), 'data'), { code: 'ENOENT' })
  // a directory in the way: renaming over it fails after the data was written
  const d = p('a-directory')
  mkdirSync(d)
  writeFileSync(join(d, 'inside'), 'keep')
  assert.throws(() => writeFileAtomic(d, 'data'))
  assert.equal(readFileSync(join(d, 'inside'), 'utf8'), 'keep')
  noTemps()
})
