import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readVmConfig } from '../../src/vm/config.js'
import { branchCount, type VmSnapshots } from '../../src/vm/snapshots.js'

const id = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`
const disk = { id: 'disk0', file: 'disk0.luks', sizeBytes: 1 << 24, encrypted: false }
const snap = (n: number, parent?: number) => ({
  id: id(n),
  name: `s${n}`,
  ...(parent !== undefined ? { parent: id(parent) } : {}),
  created: '2026-12-03T00:00:00.000Z',
  withMemory: false,
  disks: [disk],
})

test('branchCount: the running state is a child of the current snapshot', () => {
  const t = (current: number | undefined, ...list: ReturnType<typeof snap>[]): VmSnapshots => ({
    ...(current !== undefined ? { current: id(current) } : {}),
    list,
  })
  assert.equal(branchCount(undefined), 1)
  assert.equal(branchCount(t(1, snap(1))), 1)
  assert.equal(branchCount(t(2, snap(1), snap(2, 1))), 1, 'a chain, here at its end')
  assert.equal(branchCount(t(1, snap(1), snap(2, 1))), 2, 'reverted to s1, which has a child')
  assert.equal(branchCount(t(3, snap(1), snap(2, 1), snap(3, 1))), 2, 's1 with two children')
  assert.equal(branchCount(t(undefined, snap(1))), 2, 'a root snapshot beside the running state')
})

test('vm.json snapshots are checked like the rest (storage is untrusted)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-snapcfg-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const base = {
    version: 1,
    id: id(99),
    name: 'v1',
    cpus: 1,
    memoryMiB: 64,
    firmware: 'bios',
    vtpm: false,
    autostart: false,
    disks: [{ ...disk, file: 'disk0.img' }],
  }
  const put = (snapshots: unknown): void =>
    writeFileSync(join(dir, 'vm.json'), JSON.stringify({ ...base, snapshots }))
  put({ current: id(2), list: [snap(1), snap(2, 1)] })
  assert.deepEqual(
    readVmConfig(dir).snapshots?.list.map((s) => s.name),
    ['s1', 's2'],
  )
  put({ list: [] })
  assert.equal(readVmConfig(dir).snapshots, undefined, 'an empty tree is no tree')
  for (const bad of [
    { current: id(7), list: [snap(1)] },
    { list: [snap(2, 5)] },
    { list: [snap(1), snap(1)] },
    { list: [{ ...snap(1), name: '../x' }] },
    { list: [{ ...snap(1), disks: [{ ...disk, file: '../disk0.luks' }] }] },
    { list: 'x' },
  ]) {
    put(bad)
    assert.throws(() => readVmConfig(dir), { code: 'ERR_HOST_VM_CONFIG' }, JSON.stringify(bad))
  }
})
