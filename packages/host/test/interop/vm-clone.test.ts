import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { dirname, join } from 'node:path'
import { unlockDiskKey } from '@ward/envelope'
import { tempDir, ward, serve, secretFile, type Serving } from '../helpers/harness.js'
import {
  bootRun,
  guestAppend as append,
  guestOutput,
  md5,
  waitFor,
  wardJson as json,
} from '../helpers/vm-guest.js'
import type { VmDescription } from '../../src/index.js'
import { buildTestGuest } from '../../src/testing/index.js'

// Full clones of VMs on a host (`ward host vm clone`, the agent's vm.clone): an encrypted VM's
// clone keeps its keys (same KEK, same DEKs), gets a new identity (id, file key, NVRAM sealed
// again, no snapshots), is recrypted and decrypted like any VM while the source stays as it was;
// a clone copies sparse; a failed or crashed clone leaves nothing registered and a rerun
// finishes it; and, as the seed allows, a powered-on VM is cloned while its guest runs on.

const MiB = 1 << 20
type Cloned = VmDescription & { clonedFrom: string }

interface Host {
  dir: string
  D: string
  agent: Serving
  kek1: Buffer
  kek2: Buffer
}

async function newHost(t: { after: (fn: () => unknown) => void }): Promise<Host> {
  const { dir, cleanup } = tempDir('ward-clone-')
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
    await addKey(D, dir, id, k)
  return { dir, D, agent, kek1, kek2 }
}

const addKey = (D: string, dir: string, id: string, k: Buffer): Promise<unknown> =>
  json([
    'crypto-util',
    'keys',
    'add',
    'kp1',
    id,
    '--kek-file',
    secretFile(join(dir, `${id}-${randomBytes(4).toString('hex')}`), k),
    '--data-dir',
    D,
  ])

const fileMd5 = (path: string): string => createHash('md5').update(readFileSync(path)).digest('hex')

/** md5 of every file of a VM folder (the source must stay byte for byte as it was). */
function folderSums(folder: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const f of readdirSync(folder, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  ))
    if (f.isFile() && !f.name.endsWith('.log')) out[f.name] = fileMd5(join(folder, f.name))
  return out
}

function readAt(path: string, offset: number, n: number): Buffer {
  const b = Buffer.alloc(n)
  const fd = openSync(path, 'r')
  try {
    readSync(fd, b, 0, n, offset)
  } finally {
    closeSync(fd)
  }
  return b
}

test(
  'clone an encrypted efi VM: same KEK and DEKs, new id and file key, no snapshots; recrypt and decrypt the clone; the source untouched',
  { timeout: 600_000 },
  async (t) => {
    const { D, kek1, kek2 } = await newHost(t)
    // a plain efi VM with a known pattern in its raw disks, then encrypted: its data is known
    const plain = await json<VmDescription>([
      'host',
      'vm',
      'create',
      'src',
      '--disk',
      '16M',
      '--disk',
      '8M',
      '--firmware',
      'efi',
      '--data-dir',
      D,
    ])
    const blocks = [randomBytes(MiB), randomBytes(MiB)]
    const spots = [
      [0, 3 * MiB],
      [1, 7 * MiB],
    ] as const
    spots.forEach(([disk, at], i) => {
      const fd = openSync(plain.disks[disk]!.path, 'r+')
      try {
        writeSync(fd, blocks[i]!, 0, MiB, at)
      } finally {
        closeSync(fd)
      }
    })
    const src = await json<VmDescription>([
      'host',
      'vm',
      'encrypt',
      'src',
      '--provider-id',
      'kp1',
      '--kek-id',
      'kek-1',
      '--data-dir',
      D,
    ])
    assert.equal(src.encrypted, true)
    await json(['host', 'vm', 'snapshot', 'create', 'src', 's1', '--data-dir', D])
    const before = folderSums(src.path)

    const c = await json<Cloned>(['host', 'vm', 'clone', 'src', 'c1', '--data-dir', D])
    assert.equal(c.name, 'c1')
    assert.equal(c.clonedFrom, src.id)
    assert.notEqual(c.id, src.id, 'a new VM id')
    assert.equal(dirname(c.path), dirname(src.path), 'on the same datastore')
    assert.equal(c.powerState, 'poweredOff')
    assert.equal(c.encrypted, true)
    assert.deepEqual(c.encryption, { providerId: 'kp1', kekId: 'kek-1' }, 'the same KEK')
    assert.equal(c.cryptoState, 'unlocked')
    assert.equal(c.snapshots, undefined, 'a clone has no snapshots')
    assert.equal(c.firmware, 'efi')
    assert.equal(c.nvram?.encrypted, true)
    assert.equal(c.autostart, false)
    assert.ok(!existsSync(join(c.path, '.ward-clone')), 'the marker is gone once registered')
    assert.ok(
      !readdirSync(dirname(c.path)).some((f) => f.includes('ward-clone')),
      'no staging folder left',
    )
    // the clone's disks open with the same KEK to the same DEKs (the disks were copied)
    for (const [i, d] of c.disks.entries()) {
      assert.equal(d.encrypted, true)
      const a = await unlockDiskKey(src.disks[i]!.path, { kek: kek1 })
      const b = await unlockDiskKey(d.path, { kek: kek1 })
      assert.equal(Buffer.from(a).toString('hex'), Buffer.from(b).toString('hex'))
      assert.equal(fileMd5(d.path), fileMd5(src.disks[i]!.path), 'ciphertext copied as it is')
    }
    // the clone's NVRAM is sealed for its own identity: it is not the source's file
    assert.notEqual(fileMd5(c.nvram!.path), fileMd5(src.nvram!.path))
    const cfg = JSON.parse(readFileSync(join(c.path, 'vm.json'), 'utf8')) as {
      id: string
      name: string
      snapshots?: unknown
      encryption: { bundle: string }
    }
    assert.equal(cfg.id, c.id)
    assert.equal(cfg.name, 'c1')
    assert.equal(cfg.snapshots, undefined)
    const srcCfg = JSON.parse(readFileSync(join(src.path, 'vm.json'), 'utf8')) as typeof cfg
    assert.notEqual(cfg.encryption.bundle, srcCfg.encryption.bundle, 'a new file key: a new bundle')
    assert.deepEqual(folderSums(src.path), before, 'the source is untouched by the clone')

    // a shallow recrypt of the clone: its KEK only; the source stays under kek-1
    const r = await json<VmDescription>([
      'host',
      'vm',
      'recrypt',
      'c1',
      '--shallow',
      '--new-kek-id',
      'kek-2',
      '--data-dir',
      D,
    ])
    assert.deepEqual(r.encryption, { providerId: 'kp1', kekId: 'kek-2' })
    for (const d of r.disks) await unlockDiskKey(d.path, { kek: kek2 })
    await assert.rejects(unlockDiskKey(r.disks[0]!.path, { kek: kek1 }))
    const s = await json<VmDescription>(['host', 'vm', 'describe', 'src', '--data-dir', D])
    assert.deepEqual(s.encryption, { providerId: 'kp1', kekId: 'kek-1' })
    assert.equal(s.cryptoState, 'unlocked')
    assert.deepEqual(folderSums(src.path), before, 'the source is untouched by the recrypt')

    // decrypt the clone: plain disks with the source's data, a plain NVRAM opened with the
    // clone's own file key and id
    const dec = await json<VmDescription>(['host', 'vm', 'decrypt', 'c1', '--data-dir', D])
    assert.equal(dec.encrypted, false)
    assert.equal(dec.nvram?.encrypted, false)
    assert.ok(existsSync(dec.nvram!.path))
    spots.forEach(([disk, at], i) =>
      assert.equal(
        md5(readAt(dec.disks[disk]!.path, at, MiB)),
        md5(blocks[i]!),
        `disk${disk} data`,
      ),
    )
    assert.deepEqual(folderSums(src.path), before, 'the source is untouched by the decrypt')
    const s2 = await json<VmDescription>(['host', 'vm', 'describe', 'src', '--data-dir', D])
    assert.equal(s2.cryptoState, 'unlocked', 'kek-1 stays in the cache: the source uses it')
    assert.equal(s2.snapshots?.count, 1)
  },
)

test(
  'clone: sparse copies of thin disks, refusals leave nothing, a crash before or after the rename is finished by a rerun',
  { timeout: 600_000 },
  async (t) => {
    const { D, dir, kek1 } = await newHost(t)
    const big = await json<VmDescription>([
      'host',
      'vm',
      'create',
      'big',
      '--disk',
      '2G',
      '--encrypt',
      '--provider-id',
      'kp1',
      '--kek-id',
      'kek-1',
      '--data-dir',
      D,
    ])
    const c = await json<Cloned>(['host', 'vm', 'clone', 'big', 'big2', '--data-dir', D])
    assert.equal(c.disks[0]!.sizeBytes, 2 * 1024 * MiB)
    assert.ok(
      c.disks[0]!.allocatedBytes <= big.disks[0]!.allocatedBytes + 4 * MiB,
      `holes stay holes (${c.disks[0]!.allocatedBytes} bytes allocated for a 2 GiB disk)`,
    )
    assert.ok(c.disks[0]!.allocatedBytes < 64 * MiB)

    const fail = (r: { code: number | null; stderr: string }, code: RegExp): void => {
      assert.notEqual(r.code, 0)
      assert.match(r.stderr, code)
    }
    const names = async (): Promise<string[]> =>
      (await json<VmDescription[]>(['host', 'vm', 'list', '--data-dir', D]))
        .map((v) => v.name)
        .sort()
    const ds = dirname(big.path)
    // refusals: a taken name, a bad name, a missing source
    fail(await ward(['host', 'vm', 'clone', 'big', 'big2', '--data-dir', D]), /ERR_HOST_VM_EXISTS/)
    fail(
      await ward(['host', 'vm', 'clone', 'big', '../x', '--data-dir', D]),
      /ERR_HOST_BAD_ARGUMENT/,
    )
    fail(await ward(['host', 'vm', 'clone', 'nope', 'x', '--data-dir', D]), /ERR_HOST_VM_NOT_FOUND/)
    // a locked source (its KEK not in the cache): refused, nothing made
    await json([
      'crypto-util',
      'keys',
      'remove',
      '--provider-id',
      'kp1',
      '--kek-id',
      'kek-1',
      '--data-dir',
      D,
    ])
    fail(await ward(['host', 'vm', 'clone', 'big', 'big3', '--data-dir', D]), /ERR_HOST_VM_LOCKED/)
    assert.deepEqual(await names(), ['big', 'big2'])
    assert.deepEqual(readdirSync(ds).sort(), ['big', 'big2'], 'no folder, no staging left')
    await addKey(D, dir, 'kek-1', kek1)

    // a crash midway left a staging folder: the rerun starts again from nothing
    mkdirSync(join(ds, '.big3.ward-clone-staging'))
    writeFileSync(join(ds, '.big3.ward-clone-staging', 'disk0.luks'), 'half a copy')
    const c3 = await json<Cloned>(['host', 'vm', 'clone', 'big', 'big3', '--data-dir', D])
    assert.equal(c3.disks[0]!.sizeBytes, 2 * 1024 * MiB)
    assert.deepEqual(readdirSync(ds).sort(), ['big', 'big2', 'big3'])

    // a crash after the rename, before the registration: the folder is whole and marked; the
    // rerun registers it (and a folder marked by another VM is refused)
    const b3 = await json<{ name: string }>(['host', 'vm', 'unregister', 'big3', '--data-dir', D])
    assert.equal(b3.name, 'big3')
    writeFileSync(join(c3.path, '.ward-clone'), JSON.stringify({ source: big.id, id: c3.id }))
    fail(await ward(['host', 'vm', 'clone', 'big2', 'big3', '--data-dir', D]), /ERR_HOST_VM_EXISTS/)
    const again = await json<Cloned>(['host', 'vm', 'clone', 'big', 'big3', '--data-dir', D])
    assert.equal(again.id, c3.id, 'the same clone, finished')
    assert.ok(!existsSync(join(c3.path, '.ward-clone')))
    assert.deepEqual(await names(), ['big', 'big2', 'big3'])
  },
)

test(
  'clone a powered-on encrypted VM (the seed allows it): the guest runs on, the clone boots with the data written before',
  { timeout: 900_000 },
  async (t) => {
    const { D } = await newHost(t)
    const g = await buildTestGuest()
    await json([
      'host',
      'vm',
      'create',
      'run1',
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
    const line = `WARD-CLONE-DATA-${randomBytes(6).toString('hex')}`
    const N = MiB
    const script = [
      `yes '${line}' | head -c ${N} > /tmp/p`,
      'dd if=/tmp/p of=/dev/vda bs=65536 conv=fsync 2>/dev/null',
      'sync',
      'echo WRITTEN',
      'i=0',
      'while true; do i=$((i + 1)); echo "COUNT $i"; sleep 0.3; done',
    ].join('\n')
    const on = await json<VmDescription>([
      'host',
      'vm',
      'power-on',
      'run1',
      '--kernel',
      g.kernel,
      '--initrd',
      g.initrd,
      '--append',
      append(script),
      '--data-dir',
      D,
    ])
    const text = (): string => readFileSync(on.console, 'utf8')
    const counts = (): number[] => [...text().matchAll(/COUNT (\d+)/g)].map((m) => Number(m[1]))
    await waitFor('the guest wrote its data and counts', () => counts().length >= 3)
    const c = await json<Cloned>(['host', 'vm', 'clone', 'run1', 'run1-copy', '--data-dir', D])
    assert.equal(c.powerState, 'poweredOff')
    const b = counts().at(-1)!
    await waitFor('the source guest runs on after the clone', () => counts().at(-1)! >= b + 3)
    const src = await json<VmDescription>(['host', 'vm', 'describe', 'run1', '--data-dir', D])
    assert.equal(src.powerState, 'poweredOn')
    assert.equal(src.qemuStatus, 'running')
    await json(['host', 'vm', 'power-off', 'run1', '--hard', '--data-dir', D])
    const want = Buffer.concat(
      Array.from({ length: Math.ceil(N / (line.length + 1)) }, () => Buffer.from(`${line}\n`)),
    ).subarray(0, N)
    const out = guestOutput(await bootRun(D, g, 'run1-copy', `head -c ${N} /dev/vda | md5sum`))
    assert.ok(out.includes(md5(want)), out)
  },
)
