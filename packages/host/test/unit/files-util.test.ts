import { test } from 'node:test'
import assert from 'node:assert/strict'
import {
  closeSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { shredFile, writeFileAtomic } from '../../src/util/files.js'

// Issue 10 (finding 7's class) in the host's data-folder writes: nothing planted at a name is
// written through, and shredding never destroys another name's data.

const dir = mkdtempSync(join(tmpdir(), 'ward-host-files-'))
test.after(() => rmSync(dir, { recursive: true, force: true }))
let n = 0
const p = (name: string): string => join(dir, `${n++}-${name}`)

test('writeFileAtomic replaces a planted symlink or hard link at the name; the other file is unchanged', () => {
  for (const kind of ['symlink', 'hardlink'] as const) {
    const victim = p('victim')
    writeFileSync(victim, 'other data')
    const name = p('host.json')
    if (kind === 'symlink') symlinkSync(victim, name)
    else linkSync(victim, name)
    writeFileAtomic(name, 'new content')
    assert.equal(readFileSync(victim, 'utf8'), 'other data', kind)
    const st = lstatSync(name)
    assert.ok(st.isFile() && st.nlink === 1)
    assert.equal(st.mode & 0o777, 0o600)
    assert.equal(readFileSync(name, 'utf8'), 'new content')
  }
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes('ward-tmp')),
    [],
  )
})

test('shredFile overwrites a file of its own before unlinking it', () => {
  const name = p('keystore.journal')
  const original = Buffer.alloc(8192, 0x41)
  writeFileSync(name, original, { mode: 0o600 })
  const fd = openSync(name, 'r') // keeps the inode readable after the unlink
  try {
    assert.equal(shredFile(name), true)
    assert.ok(!existsSync(name))
    const after = Buffer.alloc(original.length)
    readSync(fd, after, 0, after.length, 0)
    assert.ok(!after.equals(original), 'the bytes were overwritten')
  } finally {
    closeSync(fd)
  }
  assert.equal(shredFile(name), false, 'nothing to shred')
})

test('shredFile of a hard link or symlink removes the name only: the other file keeps its data', () => {
  const victim = p('victim')
  writeFileSync(victim, 'precious')
  const hard = p('hard')
  linkSync(victim, hard)
  assert.equal(shredFile(hard), true)
  assert.ok(!existsSync(hard))
  assert.equal(readFileSync(victim, 'utf8'), 'precious')
  assert.equal(statSync(victim).nlink, 1)
  const soft = p('soft')
  symlinkSync(victim, soft)
  assert.equal(shredFile(soft), true)
  assert.throws(() => lstatSync(soft), { code: 'ENOENT' })
  assert.equal(readFileSync(victim, 'utf8'), 'precious')
})
