import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { closeSync, openSync, statSync, writeSync } from 'node:fs'
import { Journal } from '../../src/disk/journal.js'
import { tmp } from './luks2-fixtures.js'

const t = tmp('ward-journal-')
after(() => t.cleanup())

function smash(path: string, at: number): void {
  const fd = openSync(path, 'r+')
  writeSync(fd, Uint8Array.of(0xee, 0xee, 0xee), 0, 3, at)
  closeSync(fd)
}

test('journal: mode 0600, state survives reopen, refuses to replace an existing journal', () => {
  const p = t.path('a')
  const j = Journal.create(p, { op: 'x', n: 1 }, 100)
  j.close()
  assert.equal(statSync(p).mode & 0o777, 0o600)
  assert.throws(() => Journal.create(p, { op: 'y' }, 0))
  const k = Journal.open(p)
  assert.equal(k?.state.op, 'x')
  k?.close()
  assert.equal(Journal.open(t.path('missing')), undefined)
})

test('journal: a torn latest state slot falls back to the previous state', () => {
  const p = t.path('b')
  const j = Journal.create(p, { op: 'x', phase: 'data' }, 0) // seq 1 -> slot 1
  j.setState({ op: 'x', phase: 'header' }) // seq 2 -> slot 0
  j.close()
  assert.equal(Journal.open(p)?.state.phase, 'header')
  smash(p, 100) // slot 0
  const k = Journal.open(p)
  assert.equal(k?.state.phase, 'data')
  k?.close()
  smash(p, 4096 + 100) // both slots now bad
  assert.throws(() => Journal.open(p), { code: 'ERR_DISK_JOURNAL' })
})

test('journal: records alternate slots; a torn latest record leaves the one before', () => {
  const p = t.path('c')
  const j = Journal.create(p, { op: 'x' }, 64)
  assert.equal(j.lastRecord(), undefined)
  j.writeRecord(0, Uint8Array.of(0))
  j.writeRecord(1, Uint8Array.of(1, 1))
  j.writeRecord(2, Uint8Array.of(2, 2, 2))
  const last = j.lastRecord()
  assert.equal(last?.n, 2)
  assert.deepEqual([...(last?.payload ?? [])], [2, 2, 2])
  smash(p, 8192 + 30) // slot 0 holds record 2
  const r = j.lastRecord()
  assert.equal(r?.n, 1)
  assert.deepEqual([...(r?.payload ?? [])], [1, 1])
  j.remove()
})
