// Which runs read their input through a mapping (disk/mapped-output.ts): only files on tmpfs by
// default, so that a damaged disk gives read()'s error, not SIGBUS.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { mapInputWanted } from '../../src/disk/mapped-output.js'

test('input on tmpfs (/dev/shm) is mapped by default', () => {
  const dir = mkdtempSync('/dev/shm/ward-map-')
  try {
    const f = join(dir, 'raw')
    writeFileSync(f, Buffer.alloc(4096))
    assert.equal(mapInputWanted({}, f), true)
    assert.equal(mapInputWanted({ mapInput: false }, f), false, 'the option wins')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('input on another file system is read with read() by default', () => {
  // procfs: certainly not tmpfs, on every Linux.
  assert.equal(mapInputWanted({}, '/proc/self/status'), false)
  assert.equal(mapInputWanted({ mapInput: true }, '/proc/self/status'), true, 'the option wins')
  assert.equal(mapInputWanted({}, '/nonexistent/raw'), false, 'unknown: not mapped')
})
