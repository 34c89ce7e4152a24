import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import {
  bundleFromBase64,
  decryptVmFile,
  openBundle,
  unlockDiskKey,
  zeroBundleKeys,
} from '@ward/envelope'
import { tempDir, ward, serve, secretFile, type Serving } from '../helpers/harness.js'
import {
  bootRun,
  guestAppend as append,
  guestOutput,
  md5,
  powerOnGuest,
  waitFor,
  wardJson as json,
} from '../helpers/vm-guest.js'
import { ekOf } from '../helpers/vtpm-ek.js'
import { VmMessages, callAgent, type SnapshotInfo, type VmDescription } from '../../src/index.js'
import { vtpmStateKey } from '../../src/vm/vtpm.js'
import { buildTestGuest } from '../../src/testing/index.js'

// Snapshots of VMs on a host (a tree in vm.json, as on vSphere), end to end through `ward host`
// commands with a real QEMU (TCG) and the test guest: disk snapshots, memory snapshots of a
// running guest, the seed's recrypt rules (shallow: one branch only; deep: no snapshots), and a
// snapshot's NVRAM and vTPM state (also of a running VM without its memory: --no-memory).

const MiB = 1 << 20
const N = 1 * MiB
const lineA = 'WARD-SNAPSHOT-OLD-DATA 0123456789'
const lineB = 'WARD-SNAPSHOT-NEW-DATA 9876543210'
const fill = (line: string): Buffer => {
  const l = Buffer.from(`${line}\n`)
  return Buffer.concat(Array.from({ length: Math.ceil(N / l.length) }, () => l)).subarray(0, N)
}
interface Host {
  dir: string
  D: string
  agent: Serving
  kek1: Buffer
  kek2: Buffer
}

async function newHost(t: { after: (fn: () => unknown) => void }): Promise<Host> {
  const { dir, cleanup } = tempDir('ward-snap-')
  t.after(cleanup)
  const D = join(dir, 'h')
  assert.equal((await ward(['host', 'init', '--data-dir', D, '--tpm', 'none'])).code, 0)
  const agent = await serve(['--data-dir', D])
  assert.equal(agent.exitCode, undefined, agent.output())
  t.after(() => agent.stop())
  await json(['host', 'datastore', 'add', 'ds1', join(dir, 'ds1'), '--data-dir', D])
  const kek1 = randomBytes(32)
  const kek2 = randomBytes(32)
  for (const [id, k] of [
    ['kek-1', kek1],
    ['kek-2', kek2],
  ] as const)
    await json([
      'crypto-util',
      'keys',
      'add',
      'kp1',
      id,
      '--kek-file',
      secretFile(join(dir, id), k),
      '--data-dir',
      D,
    ])
  return { dir, D, agent, kek1, kek2 }
}

async function createVm(D: string, name: string): Promise<VmDescription> {
  return json<VmDescription>([
    'host',
    'vm',
    'create',
    name,
    '--disk',
    '16M',
    '--encrypt',
    '--provider-id',
    'kp1',
    '--kek-id',
    'kek-1',
    '--data-dir',
    D,
  ])
}

const write = (line: string): string =>
  [
    `yes '${line}' | head -c ${N} > /tmp/p`,
    'dd if=/tmp/p of=/dev/vda bs=65536 conv=fsync 2>/dev/null',
    'sync',
  ].join('\n')
const readBack = `head -c ${N} /dev/vda | md5sum`

const snap = (
  D: string,
  verb: string,
  ...rest: string[]
): Promise<VmDescription & { snapshot: SnapshotInfo }> =>
  json(['host', 'vm', 'snapshot', verb, ...rest, '--data-dir', D])
const list = (D: string, name: string): Promise<SnapshotInfo[]> =>
  json(['host', 'vm', 'snapshot', 'list', name, '--data-dir', D])
const recrypt = (D: string, name: string, ...flags: string[]) =>
  ward(['host', 'vm', 'recrypt', name, ...flags, '--data-dir', D])

/** The snapshot tree as [name, parent, current] rows, sorted by name. */
const tree = (l: readonly SnapshotInfo[]): [string, string, boolean][] =>
  l.map((x): [string, string, boolean] => [x.name, x.parent ?? '-', x.current]).sort()

test(
  'disk snapshots of an encrypted VM: revert brings the old data back; the tree and the recrypt rules; remove; no plaintext in snapshot files',
  { timeout: 900_000 },
  async (t) => {
    const h = await newHost(t)
    const { D } = h
    const g = await buildTestGuest()
    const vm = await createVm(D, 'v1')
    await bootRun(D, g, 'v1', write(lineA))
    // powered off: a disk-only snapshot
    const s1 = await snap(D, 'create', 'v1', 's1')
    assert.equal(s1.snapshot.withMemory, false)
    assert.equal(s1.snapshot.current, true)
    assert.equal(s1.snapshot.parent, undefined)
    assert.deepEqual(s1.snapshots, { count: 1, current: 's1' })
    const copy = join(s1.snapshot.path, 'disk0.luks')
    const raw = readFileSync(copy)
    assert.ok(raw.subarray(0, 6).equals(Buffer.from('LUKS\xba\xbe', 'latin1')), 'the copy is LUKS2')
    assert.equal(raw.includes(Buffer.from('WARD-SNAPSHOT-')), false, 'plaintext in the snapshot')
    assert.equal(statSync(copy).size, statSync(vm.disks[0]!.path).size)
    assert.ok(statSync(copy).blocks * 512 < 8 * MiB, 'the copy stays thin')
    // same DEK, wrapped under the VM's KEK
    const dek = await unlockDiskKey(copy, { kek: h.kek1 })
    const live = await unlockDiskKey(vm.disks[0]!.path, { kek: h.kek1 })
    assert.ok(Buffer.from(dek).equals(Buffer.from(live)))
    // new data, then revert: the old data is back
    await bootRun(D, g, 'v1', write(lineB))
    assert.ok((await bootRun(D, g, 'v1', readBack)).includes(md5(fill(lineB))))
    const rv = await snap(D, 'revert', 'v1', 's1')
    assert.equal(rv.powerState, 'poweredOff')
    assert.ok((await bootRun(D, g, 'v1', readBack)).includes(md5(fill(lineA))), 'old data back')

    // a chain s1 -> s2: shallow recrypt allowed; it rewraps the snapshots' disks too
    await snap(D, 'create', 'v1', 's2')
    const deep = await recrypt(D, 'v1', '--deep')
    assert.equal(deep.code, 2)
    assert.match(deep.stderr, /ERR_HOST_VM_SNAPSHOTS/)
    assert.ok(deep.stderr.includes(VmMessages.deepRecryptNoSnapshots), deep.stderr)
    const sh = await recrypt(D, 'v1', '--shallow', '--new-kek-id', 'kek-2', '--json')
    assert.equal(sh.code, 0, sh.stderr)
    const shr = JSON.parse(sh.stdout) as { disksRewrapped: number; snapshotDisksRewrapped: number }
    assert.equal(shr.disksRewrapped, 1)
    assert.equal(shr.snapshotDisksRewrapped, 2)
    let l = await list(D, 'v1')
    for (const p of l) {
      const f = join(p.path, 'disk0.luks')
      await assert.rejects(unlockDiskKey(f, { kek: h.kek1 }), { code: 'ERR_DISK_WRONG_KEK' })
      assert.ok(Buffer.from(await unlockDiskKey(f, { kek: h.kek2 })).equals(Buffer.from(dek)))
    }
    // a tree: s1 with two children (s2, s3): shallow recrypt refused with the seed's message
    await snap(D, 'revert', 'v1', 's1')
    await snap(D, 'create', 'v1', 's3')
    l = await list(D, 'v1')
    assert.deepEqual(tree(l), [
      ['s1', '-', false],
      ['s2', 's1', false],
      ['s3', 's1', true],
    ])
    const refused = await recrypt(D, 'v1', '--shallow', '--new-kek-id', 'kek-1')
    assert.equal(refused.code, 2)
    assert.match(refused.stderr, /ERR_HOST_VM_SNAPSHOTS/)
    assert.ok(refused.stderr.includes(VmMessages.shallowRecryptOneBranch), refused.stderr)
    // other refusals with snapshots: a duplicate name, an unknown one, decrypt
    const dup = await ward(['host', 'vm', 'snapshot', 'create', 'v1', 's2', '--data-dir', D])
    assert.match(dup.stderr, /ERR_HOST_SNAPSHOT_EXISTS/)
    const none = await ward(['host', 'vm', 'snapshot', 'revert', 'v1', 'nope', '--data-dir', D])
    assert.match(none.stderr, /ERR_HOST_SNAPSHOT_NOT_FOUND/)
    const dec = await ward(['host', 'vm', 'decrypt', 'v1', '--data-dir', D])
    assert.match(dec.stderr, /ERR_HOST_VM_SNAPSHOTS/)

    // remove s2: one chain again (s1 -> s3, current s3), shallow recrypt allowed
    const rm2 = await snap(D, 'remove', 'v1', 's2')
    assert.equal(existsSync(l.find((x) => x.name === 's2')!.path), false, "s2's files deleted")
    assert.deepEqual(rm2.snapshots, { count: 2, current: 's3' })
    const back = await recrypt(D, 'v1', '--shallow', '--new-kek-id', 'kek-1', '--json')
    assert.equal(back.code, 0, back.stderr)
    // remove the parent: its child becomes a root; the data of the running disk is untouched
    await snap(D, 'remove', 'v1', 's1')
    assert.deepEqual(tree(await list(D, 'v1')), [['s3', '-', true]])
    assert.ok((await bootRun(D, g, 'v1', readBack)).includes(md5(fill(lineA))))
    // revert to s3 still works after its parent went
    await bootRun(D, g, 'v1', write(lineB))
    await snap(D, 'revert', 'v1', 's3')
    assert.ok((await bootRun(D, g, 'v1', readBack)).includes(md5(fill(lineA))))
    await snap(D, 'remove', 'v1', 's3')
    assert.deepEqual(await list(D, 'v1'), [])
    assert.equal(existsSync(join(vm.path, 'snapshots')), false)
    assert.equal(
      readdirSync(vm.path).some((f) => f.endsWith('.revert')),
      false,
    )
    const cfg = JSON.parse(readFileSync(join(vm.path, 'vm.json'), 'utf8')) as object
    assert.equal('snapshots' in cfg, false)
    // no snapshots left: a deep recrypt runs, the data intact
    const deepOk = await recrypt(D, 'v1', '--deep', '--json')
    assert.equal(deepOk.code, 0, deepOk.stderr)
    assert.ok((await bootRun(D, g, 'v1', readBack)).includes(md5(fill(lineA))))
  },
)

test(
  'a memory snapshot of a running encrypted guest: it keeps running; revert resumes it from the counter; the image holds no plain memory; shallow recrypt powered on',
  { timeout: 900_000 },
  async (t) => {
    const h = await newHost(t)
    const { D } = h
    const g = await buildTestGuest()
    const vm = await createVm(D, 'm1')
    const ram = `WARD-SNAP-RAM-${randomBytes(6).toString('hex')}`
    const script = [
      `yes "${ram.slice(0, 9)}""${ram.slice(9)}" | head -c 2097152 > /tmp/ram`,
      'i=0',
      'while true; do i=$((i + 1)); echo "COUNT $i"; sleep 0.3; done',
    ].join('\n')
    await json([
      'host',
      'vm',
      'power-on',
      'm1',
      '--kernel',
      g.kernel,
      '--initrd',
      g.initrd,
      '--append',
      append(script),
      '--data-dir',
      D,
    ])
    const text = (): string => readFileSync(vm.console, 'utf8')
    const counts = (from = 0): number[] =>
      [
        ...text()
          .slice(from)
          .matchAll(/COUNT (\d+)/g),
      ].map((m) => Number(m[1]))
    await waitFor('the counter runs', () => counts().length >= 5)
    const a = counts().at(-1)!
    const s = await snap(D, 'create', 'm1', 'mem1')
    const b = counts().at(-1)!
    assert.equal(s.snapshot.withMemory, true)
    assert.equal(s.powerState, 'poweredOn', 'the VM runs on after a memory snapshot')
    await waitFor('the counter goes on after the snapshot', () => counts().at(-1)! >= b + 5)
    const image = join(s.snapshot.path, 'memory.ve')
    const sealed = readFileSync(image)
    assert.ok(sealed.length > MiB)
    assert.equal(sealed.includes(Buffer.from(ram)), false, 'plain guest memory in the snapshot')
    assert.equal(sealed.includes(Buffer.from('COUNT ')), false)
    assert.equal(
      readFileSync(join(s.snapshot.path, 'disk0.luks')).includes(Buffer.from(ram)),
      false,
    )
    // shallow recrypt while running with one snapshot (a chain)
    const sh = await recrypt(D, 'm1', '--shallow', '--new-kek-id', 'kek-2')
    assert.equal(sh.code, 0, sh.stderr)
    const deep = await recrypt(D, 'm1', '--deep')
    assert.match(deep.stderr, /ERR_HOST_VM_POWER_STATE|ERR_HOST_VM_SNAPSHOTS/)
    // revert: the guest resumes from the snapshot's counter, not from where it got to
    const m = counts().at(-1)!
    const from = text().length
    const r = await snap(D, 'revert', 'm1', 'mem1')
    assert.equal(r.powerState, 'poweredOn')
    assert.equal(r.snapshot.current, true)
    // the old run may print a few more before it is stopped: the resumed run starts at the drop
    const resumed = (): number[] => {
      const all = counts(from)
      const k = all.findIndex((n) => n <= b + 1)
      if (k < 0) return []
      assert.ok(
        all.slice(0, k).every((n) => n >= m),
        `before the revert: ${all.join(',')}`,
      )
      return all.slice(k)
    }
    await waitFor('the counter goes on after the revert', () => resumed().length >= 4)
    const after = resumed()
    assert.ok(
      after[0]! > a && after[0]! <= b + 1,
      `resumed at ${after[0]}, snapshot between ${a} and ${b}, was at ${m}`,
    )
    after.forEach((n, i) => assert.equal(n, after[0]! + i, `not consecutive: ${after.join(',')}`))
    const again = await snap(D, 'revert', 'm1', 'mem1')
    assert.equal(again.powerState, 'poweredOn', 'a memory snapshot reverts more than once')
    const off = await json<VmDescription>([
      'host',
      'vm',
      'power-off',
      'm1',
      '--hard',
      '--data-dir',
      D,
    ])
    assert.equal(off.powerState, 'poweredOff')
    await snap(D, 'remove', 'm1', 'mem1')
    assert.equal(existsSync(image), false)
  },
)

function filesUnder(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...filesUnder(p))
    else if (e.isFile()) out.push(p)
  }
  return out
}

test(
  'snapshots keep the sealed NVRAM and vTPM state: revert restores them (a later variable is gone, the same EK); --no-memory of a running VM keeps its live NVRAM and flushed disk, and its revert powers off',
  { timeout: 900_000 },
  async (t) => {
    const h = await newHost(t)
    const { D, dir } = h
    const g = await buildTestGuest()
    const vm = await json<VmDescription>([
      'host',
      'vm',
      'create',
      'e1',
      '--disk',
      '16M',
      '--firmware',
      'efi',
      '--vtpm',
      '--encrypt',
      '--provider-id',
      'kp1',
      '--kek-id',
      'kek-1',
      '--data-dir',
      D,
    ])
    const cfg = JSON.parse(readFileSync(join(vm.path, 'vm.json'), 'utf8')) as {
      id: string
      encryption: { bundle: string }
    }
    const opened = openBundle(bundleFromBase64(cfg.encryption.bundle), h.kek1)
    const fileKey = new Uint8Array(opened.fileKey)
    const keyFile = secretFile(join(dir, 'vtpm.key'), vtpmStateKey(opened.fileKey, cfg.id))
    zeroBundleKeys(opened)
    let n = 0
    const sealedStore = async (path: string): Promise<Buffer> => {
      const out = join(dir, `store-${n++}.fd`)
      await decryptVmFile(path, out, fileKey, { vmId: cfg.id, role: 'nvram' })
      return readFileSync(out)
    }
    const efivars = '/sys/firmware/efi/efivars'
    const guid = 'c0ffee00-1234-4abc-8def-0123456789ab'
    const mount = `insmod /lib/modules/efivarfs.ko; mount -t efivarfs efivarfs ${efivars}`
    const value = { A: '', B: '', C: '' }
    for (const k of ['A', 'B', 'C'] as const)
      value[k] = `WARD-SNAP-VAR-${k}-${randomBytes(5).toString('hex')}`
    const setVar = (k: 'A' | 'B' | 'C'): string =>
      `printf '\\007\\000\\000\\000${value[k]}' > ${efivars}/WardSnap${k}-${guid}`
    const readVars = `for k in A B C; do echo "VAR $k $(tail -c +5 ${efivars}/WardSnap$k-${guid} 2>/dev/null)"; done`
    const vars = (console: string): Record<string, string> =>
      Object.fromEntries(
        [...guestOutput(console).matchAll(/^VAR ([ABC]) ?(.*)$/gm)].map((m) => [
          m[1]!,
          m[2]!.trim(),
        ]),
      )
    const state = join(vm.path, 'vtpm')
    const fvh = Buffer.from('_FVH')

    // boot 1 sets A (the vTPM is there); powered off, s1 keeps the NVRAM and the vTPM state
    const c1 = await bootRun(D, g, 'e1', `${mount}\n${setVar('A')}\nls /dev/tpm0`)
    assert.match(guestOutput(c1), /\/dev\/tpm0/, c1)
    const ek1 = await ekOf(state, dir, keyFile)
    assert.ok(ek1, 'the vTPM state opens with its key')
    const s1 = await snap(D, 'create', 'e1', 's1')
    assert.equal(s1.snapshot.withMemory, false)
    assert.deepEqual(readdirSync(s1.snapshot.path).sort(), ['disk0.luks', 'nvram.ve', 'vtpm'])
    assert.ok((await sealedStore(join(s1.snapshot.path, 'nvram.ve'))).includes(value.A))
    assert.equal(await ekOf(join(s1.snapshot.path, 'vtpm'), dir, keyFile), ek1)
    assert.equal(await ekOf(join(s1.snapshot.path, 'vtpm'), dir, undefined), undefined)
    for (const p of filesUnder(s1.snapshot.path))
      assert.equal(readFileSync(p).includes(fvh), false, `a plain variable store in ${p}`)

    // boot 2 sets B after the snapshot; revert to s1: B is gone, A is there, the same EK
    await bootRun(D, g, 'e1', `${mount}\n${setVar('B')}`)
    assert.ok((await sealedStore(vm.nvram!.path)).includes(value.B))
    const r1 = await snap(D, 'revert', 'e1', 's1')
    assert.equal(r1.powerState, 'poweredOff')
    const seen1 = vars(await bootRun(D, g, 'e1', `${mount}\n${readVars}`))
    assert.deepEqual(seen1, { A: value.A, B: '', C: '' })
    assert.equal(await ekOf(state, dir, keyFile), ek1, 'the same EK after the revert')

    // running: the guest sets C and writes the disk (flushed), then runs on; a snapshot
    // without memory keeps the live variable store and the disk, and the guest goes on
    const script = [
      mount,
      setVar('C'),
      write(lineB),
      'echo READY-C',
      'i=0',
      'while true; do i=$((i + 1)); echo "TICK $i"; sleep 0.3; done',
    ].join('\n')
    const on = await powerOnGuest(D, g, 'e1', script)
    const text = (): string => (existsSync(on.console) ? readFileSync(on.console, 'utf8') : '')
    const ticks = (): number => [...text().matchAll(/TICK (\d+)/g)].length
    await waitFor('the guest sets C and writes', () => text().includes('READY-C'))
    const s2 = await snap(D, 'create', 'e1', 's2', '--no-memory')
    assert.equal(s2.snapshot.withMemory, false)
    assert.equal(s2.powerState, 'poweredOn', 'the VM runs on')
    assert.equal(existsSync(join(s2.snapshot.path, 'memory.ve')), false)
    assert.deepEqual(readdirSync(s2.snapshot.path).sort(), ['disk0.luks', 'nvram.ve', 'vtpm'])
    const at = ticks()
    await waitFor('the guest runs on after the snapshot', () => ticks() >= at + 3)
    assert.ok((await sealedStore(join(s2.snapshot.path, 'nvram.ve'))).includes(value.C))
    assert.equal((await list(D, 'e1')).find((x) => x.name === 's2')?.withMemory, false)
    // its revert powers the VM off; the next boot has C (the live store at s2), A, and the disk
    const r2 = await snap(D, 'revert', 'e1', 's2')
    assert.equal(r2.powerState, 'poweredOff', 'a disk-only snapshot reverts powered off')
    const c3 = await bootRun(D, g, 'e1', `${mount}\n${readVars}\n${readBack}`)
    assert.deepEqual(vars(c3), { A: value.A, B: '', C: value.C })
    assert.ok(c3.includes(md5(fill(lineB))), 'the disk as written before the snapshot')
    assert.equal(await ekOf(state, dir, keyFile), ek1)
    // a memory snapshot of a powered-off VM is refused; --no-memory powered off is a plain one
    await assert.rejects(
      callAgent(D, 'vm.snapshot.create', { name: 'e1', snapshot: 's3', memory: true }),
      { code: 'ERR_HOST_VM_POWER_STATE' },
    )
    const s3 = await snap(D, 'create', 'e1', 's3', '--no-memory')
    assert.equal(s3.snapshot.withMemory, false)
    for (const p of filesUnder(vm.path))
      assert.equal(readFileSync(p).includes(fvh), false, `a plain variable store in ${p}`)
  },
)
