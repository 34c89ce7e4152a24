import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { bundleFromBase64, openBundle, zeroBundleKeys } from '@ward/envelope'
import { tempDir, ward, serve, secretFile, run, type Serving } from '../helpers/harness.js'
import {
  bootRun,
  guestAppend as append,
  guestOutput as output,
  md5,
  waitFor,
  waitPoweredOff,
  wardJson as json,
} from '../helpers/vm-guest.js'
import { ekOf } from '../helpers/vtpm-ek.js'
import { startSwtpm } from '@ward/tpm2/testing'
import { VmMessages, type VmDescription } from '../../src/index.js'
import { buildTestGuest } from '../../src/testing/index.js'

// VMs on a host, end to end through `ward host` commands, with a real QEMU (TCG: nested KVM
// hangs on these machines, and the agent's probe must find that out by itself) and the test
// guest (linux-image-cloud-amd64 + busybox-static) booted with --kernel/--initrd.

const MiB = 1 << 20
const PATTERN_BYTES = 4 * MiB
const LINE = 'WARD-VM-RUNTIME-PATTERN 0123456789abcdef'

function pattern(): Buffer {
  const line = Buffer.from(`${LINE}\n`)
  return Buffer.concat(
    Array.from({ length: Math.ceil(PATTERN_BYTES / line.length) }, () => line),
  ).subarray(0, PATTERN_BYTES)
}
interface Host {
  dir: string
  D: string
  flags: string[]
  agent: Serving
  kek: Buffer
  kekFile: string
}

async function newHost(t: { after: (fn: () => unknown) => void }, withTpm = false): Promise<Host> {
  const { dir, cleanup } = tempDir('ward-vm-')
  t.after(cleanup)
  const D = join(dir, 'h')
  let spec = 'none'
  if (withTpm) {
    const tpm = await startSwtpm({ dir: join(dir, 'tpm'), allowUnmanufactured: true })
    t.after(() => tpm.stop())
    spec = tpm.spec
  }
  assert.equal((await ward(['host', 'init', '--data-dir', D, '--tpm', spec])).code, 0)
  const flags = withTpm ? ['--data-dir', D, '--simulate-firmware'] : ['--data-dir', D]
  const agent = await serve(flags)
  assert.equal(agent.exitCode, undefined, agent.output())
  t.after(() => agent.stop())
  await json(['host', 'datastore', 'add', 'ds1', join(dir, 'ds1'), '--data-dir', D])
  const kek = randomBytes(32)
  const kekFile = secretFile(join(dir, 'kek'), kek)
  return { dir, D, flags, agent, kek, kekFile }
}

const addKey = async (h: Host, kekId = 'kek-1'): Promise<void> => {
  await json([
    'crypto-util',
    'keys',
    'add',
    'kp1',
    kekId,
    '--kek-file',
    h.kekFile,
    '--data-dir',
    h.D,
  ])
}

test('vm model: create, list, describe, register, unregister, destroy, disk add; vSphere refusals', async (t) => {
  const h = await newHost(t)
  const { D } = h
  const plain = await json<VmDescription>([
    'host',
    'vm',
    'create',
    'plain1',
    '--cpus',
    '2',
    '--memory',
    '128M',
    '--disk',
    '64M',
    '--disk',
    '1G',
    '--data-dir',
    D,
  ])
  assert.equal(plain.powerState, 'poweredOff')
  assert.equal(plain.accelerator, 'tcg', plain.acceleratorReason)
  assert.equal(plain.encrypted, false)
  assert.equal(plain.cryptoState, undefined)
  assert.deepEqual(
    plain.disks.map((d) => [d.id, d.sizeBytes, d.encrypted]),
    [
      ['disk0', 64 * MiB, false],
      ['disk1', 1024 * MiB, false],
    ],
  )
  for (const d of plain.disks) {
    assert.equal(statSync(d.path).size, d.sizeBytes)
    assert.ok(d.allocatedBytes < MiB, 'thin: nothing written') // sparse
  }
  // an encrypted disk on an unencrypted VM: refused, as on vSphere
  const r = await ward([
    'host',
    'vm',
    'disk',
    'add',
    'plain1',
    '--size',
    '8M',
    '--encrypt',
    '--data-dir',
    D,
  ])
  assert.equal(r.code, 2)
  assert.ok(r.stderr.includes(VmMessages.encryptedDiskNeedsEncryptedVm), r.stderr)
  assert.match(r.stderr, /ERR_HOST_VM_ENCRYPTION/)
  // --encrypt with a KEK that is not in the cache
  const noKey = await ward([
    'host',
    'vm',
    'create',
    'enc1',
    '--disk',
    '64M',
    '--encrypt',
    '--provider-id',
    'kp1',
    '--kek-id',
    'kek-1',
    '--data-dir',
    D,
  ])
  assert.equal(noKey.code, 2)
  assert.match(noKey.stderr, /ERR_HOST_KEY_NOT_FOUND/)
  await addKey(h)
  const enc = await json<VmDescription>([
    'host',
    'vm',
    'create',
    'enc1',
    '--disk',
    '64M',
    '--encrypt',
    '--provider-id',
    'kp1',
    '--kek-id',
    'kek-1',
    '--data-dir',
    D,
  ])
  assert.equal(enc.encrypted, true)
  assert.equal(enc.cryptoState, 'unlocked')
  assert.deepEqual(enc.encryption, { providerId: 'kp1', kekId: 'kek-1' })
  assert.deepEqual(
    enc.keys.map((k) => [k.role, k.disk, k.state]),
    [
      ['KEK', undefined, 'in cache'],
      ['file key', undefined, 'in bundle'],
      ['disk DEK', 'disk0', 'in bundle'],
    ],
  )
  const disk0 = enc.disks[0]!
  assert.ok(disk0.allocatedBytes < 2 * MiB, `thin LUKS2: only the header (${disk0.allocatedBytes})`)
  assert.equal(statSync(disk0.path).size, 16 * MiB + 64 * MiB)
  const dump = await run('cryptsetup', ['luksDump', disk0.path])
  assert.equal(dump.code, 0, dump.stderr)
  assert.match(dump.stdout, /aes-xts-plain64/)
  // a second encrypted disk (encrypted because the VM is), its DEK in the bundle
  const two = await json<VmDescription>([
    'host',
    'vm',
    'disk',
    'add',
    'enc1',
    '--size',
    '32M',
    '--data-dir',
    D,
  ])
  assert.deepEqual(
    two.disks.map((d) => [d.id, d.encrypted]),
    [
      ['disk0', true],
      ['disk1', true],
    ],
  )
  assert.equal(two.keys.filter((k) => k.role === 'disk DEK' && k.state === 'in bundle').length, 2)
  // vm.json: mostly clear, the keys only in the wrapped bundle
  const cfg = JSON.parse(readFileSync(join(enc.path, 'vm.json'), 'utf8')) as {
    encryption: { bundle: string }
    disks: unknown[]
  }
  const opened = openBundle(bundleFromBase64(cfg.encryption.bundle), h.kek)
  assert.deepEqual([...opened.disks.keys()], ['disk0', 'disk1'])
  zeroBundleKeys(opened)

  const list = await json<VmDescription[]>(['host', 'vm', 'list', '--data-dir', D])
  assert.deepEqual(list.map((v) => v.name).sort(), ['enc1', 'plain1'])
  // unregister: files stay; the KEK leaves the cache (no other VM uses it)
  const u = await json<{ evictedKey: boolean }>([
    'host',
    'vm',
    'unregister',
    'enc1',
    '--data-dir',
    D,
  ])
  assert.equal(u.evictedKey, true)
  const has = await ward(['crypto-util', 'keys', 'iskeyincache', 'kp1', 'kek-1', '--data-dir', D])
  assert.equal(has.stdout.trim(), 'NO')
  assert.ok(existsSync(join(enc.path, 'vm.json')))
  // registered again without its key: locked, with the reason
  const back = await json<VmDescription>(['host', 'vm', 'register', enc.path, '--data-dir', D])
  assert.equal(back.cryptoState, 'locked')
  assert.equal(back.lockedReason, 'key missing in cache')
  assert.equal(back.keys[0]?.state, 'missing in cache')
  const dup = await ward(['host', 'vm', 'register', enc.path, '--data-dir', D])
  assert.match(dup.stderr, /ERR_HOST_VM_EXISTS/)
  // two VMs under one KEK: unregistering one keeps the key
  await addKey(h)
  const enc2 = await json<VmDescription>([
    'host',
    'vm',
    'create',
    'enc2',
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
  assert.equal(
    (await json<{ evictedKey: boolean }>(['host', 'vm', 'unregister', 'enc1', '--data-dir', D]))
      .evictedKey,
    false,
  )
  const d2 = await json<{ evictedKey: boolean }>(['host', 'vm', 'destroy', 'enc2', '--data-dir', D])
  assert.equal(d2.evictedKey, true)
  assert.equal(existsSync(enc2.path), false)
  const gone = await ward(['host', 'vm', 'describe', 'enc2', '--data-dir', D])
  assert.match(gone.stderr, /ERR_HOST_VM_NOT_FOUND/)
  // registered VMs persist across an agent restart
  assert.equal(await h.agent.stop(), 0)
  const again = await serve(h.flags)
  t.after(() => again.stop())
  assert.deepEqual(
    (await json<VmDescription[]>(['host', 'vm', 'list', '--data-dir', D])).map((v) => v.name),
    ['plain1'],
  )
  const ds = await json<{ name: string; vms: number }[]>([
    'host',
    'datastore',
    'list',
    '--data-dir',
    D,
  ])
  assert.deepEqual(
    ds.map((d) => [d.name, d.vms]),
    [['ds1', 1]],
  )
})

test('the KVM probe: a long-mode guest that prints under TCG and is killed at its deadline', async () => {
  const { probeImage, runProbe } = await import('../../src/vm/accel.js')
  const { dir, cleanup } = tempDir('ward-probe-')
  try {
    const img = join(dir, 'probe.bin')
    const { writeFileSync } = await import('node:fs')
    writeFileSync(img, probeImage())
    const tcg = await runProbe('qemu-system-x86_64', 'tcg', img, 20_000)
    assert.equal(tcg.ok, true, 'the probe guest reaches long mode under TCG')
    // on these machines nested KVM hangs: the probe is cut at its deadline, never hangs
    const t0 = Date.now()
    const kvm = await runProbe('qemu-system-x86_64', 'kvm', img, 3000)
    assert.ok(Date.now() - t0 < 15_000)
    assert.equal(typeof kvm.ok, 'boolean')
  } finally {
    cleanup()
  }
})

test(
  'a plain VM boots its guest, which writes its disk; power-off --hard stops a running guest',
  { timeout: 600_000 },
  async (t) => {
    const h = await newHost(t)
    const { D } = h
    const g = await buildTestGuest()
    const vm = await json<VmDescription>([
      'host',
      'vm',
      'create',
      'p1',
      '--disk',
      '64M',
      '--data-dir',
      D,
    ])
    const want = pattern()
    const out = await bootRun(
      D,
      g,
      'p1',
      [
        `yes '${LINE}' | head -c ${PATTERN_BYTES} > /tmp/p`,
        'dd if=/tmp/p of=/dev/vda bs=65536 conv=fsync 2>/dev/null',
        'sync',
        'md5sum /tmp/p',
      ].join('\n'),
    )
    assert.ok(output(out).includes(md5(want)), out)
    assert.ok(readFileSync(vm.disks[0]!.path).subarray(0, PATTERN_BYTES).equals(want))
    // a guest that does not stop: described as running, then powered off hard
    const on = await json<VmDescription>([
      'host',
      'vm',
      'power-on',
      'p1',
      '--data-dir',
      D,
      '--kernel',
      g.kernel,
      '--initrd',
      g.initrd,
      '--append',
      append('sleep 3600'),
    ])
    assert.equal(on.powerState, 'poweredOn')
    assert.ok(on.pid !== undefined)
    const again = await ward(['host', 'vm', 'power-on', 'p1', '--data-dir', D])
    assert.match(again.stderr, /ERR_HOST_VM_POWER_STATE/)
    const busy = await ward(['host', 'vm', 'destroy', 'p1', '--data-dir', D])
    assert.match(busy.stderr, /ERR_HOST_VM_POWER_STATE/)
    const d = await json<VmDescription>(['host', 'vm', 'describe', 'p1', '--data-dir', D])
    assert.equal(d.qemuStatus, 'running')
    const off = await json<VmDescription & { how: string }>([
      'host',
      'vm',
      'power-off',
      'p1',
      '--hard',
      '--data-dir',
      D,
    ])
    assert.equal(off.powerState, 'poweredOff')
    assert.equal(off.how, 'hard power-off')
    assert.equal(existsSync(`/proc/${on.pid}`), false, 'QEMU is gone')
    const twice = await ward(['host', 'vm', 'power-off', 'p1', '--data-dir', D])
    assert.match(twice.stderr, /already powered off/)
  },
)

/** Every file under `dir` (recursively). */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...filesUnder(p))
    else if (e.isFile()) out.push(p)
  }
  return out
}

const forms = (b: Buffer): Buffer[] => [
  b,
  Buffer.from(b.toString('hex')),
  Buffer.from(b.toString('base64')),
  Buffer.from(b.toString('base64url')),
]

test(
  'an encrypted VM: the guest writes through the crypto filter, nothing plain at rest, the data comes back; locked without its key; no key leaks',
  { timeout: 900_000 },
  async (t) => {
    const h = await newHost(t)
    const { D, dir } = h
    const g = await buildTestGuest()
    await addKey(h)
    const vm = await json<VmDescription>([
      'host',
      'vm',
      'create',
      'e1',
      '--disk',
      '64M',
      '--encrypt',
      '--provider-id',
      'kp1',
      '--kek-id',
      'kek-1',
      '--data-dir',
      D,
    ])
    const cfg = JSON.parse(readFileSync(join(vm.path, 'vm.json'), 'utf8')) as {
      encryption: { bundle: string }
    }
    const opened = openBundle(bundleFromBase64(cfg.encryption.bundle), h.kek)
    const dek = Buffer.from(opened.disks.get('disk0')!)
    const fileKey = Buffer.from(opened.fileKey)
    zeroBundleKeys(opened)
    const want = pattern()
    // boot 1: write the pattern, fsync, sync; the guest powers off
    let procSeen = false
    const writer = json<VmDescription>([
      'host',
      'vm',
      'power-on',
      'e1',
      '--data-dir',
      D,
      '--kernel',
      g.kernel,
      '--initrd',
      g.initrd,
      '--append',
      append(
        [
          `yes '${LINE}' | head -c ${PATTERN_BYTES} > /tmp/p`,
          'dd if=/tmp/p of=/dev/vda bs=65536 conv=fsync 2>/dev/null',
          'sync',
          'md5sum /tmp/p',
          'sleep 2',
        ].join('\n'),
      ),
    ])
    const on = await writer
    assert.equal(on.powerState, 'poweredOn')
    assert.equal(on.accelerator, 'tcg')
    const qemuPid = on.pid
    // canary while it runs: QEMU's argv and environment, the run folder
    if (qemuPid !== undefined && existsSync(`/proc/${qemuPid}`)) {
      const cmdline = readFileSync(`/proc/${qemuPid}/cmdline`)
      const environ = readFileSync(`/proc/${qemuPid}/environ`)
      for (const secret of [h.kek, dek, fileKey])
        for (const f of forms(secret)) {
          assert.equal(cmdline.includes(f), false, 'a key on QEMU argv')
          assert.equal(environ.includes(f), false, 'a key in QEMU environ')
        }
      assert.match(cmdline.toString(), /nbd/, 'the disk reaches QEMU over NBD')
      procSeen = true
      const runFiles = filesUnder(join(D, 'run'))
      for (const p of runFiles) {
        const b = readFileSync(p)
        for (const secret of [h.kek, dek, fileKey])
          for (const f of forms(secret)) assert.equal(b.includes(f), false, `a key in ${p}`)
      }
    }
    const off = await waitPoweredOff(D, 'e1')
    const c1 = readFileSync(off.console, 'utf8')
    assert.match(c1, /WARD-GUEST-EXIT 0/, c1)
    assert.ok(c1.includes(md5(want)), c1)
    assert.ok(procSeen, 'QEMU was inspected while running')
    // at rest: no copy of the pattern; cryptsetup reads the header; crypto-util decrypts
    const disk = vm.disks[0]!.path
    const raw = readFileSync(disk)
    assert.equal(raw.includes(Buffer.from(LINE)), false, 'the raw disk holds no plaintext')
    const dump = await run('cryptsetup', ['luksDump', disk])
    assert.equal(dump.code, 0, dump.stderr)
    assert.match(dump.stdout, /aes-xts-plain64/)
    assert.match(dump.stdout, /sector:\s*4096/)
    const plainOut = join(dir, 'decrypted.img')
    const dec = await ward([
      'crypto-util',
      'disk',
      'decrypt',
      '--in',
      disk,
      '--out',
      plainOut,
      '--kek-file',
      h.kekFile,
    ])
    assert.equal(dec.code, 0, dec.stderr)
    assert.ok(
      readFileSync(plainOut).subarray(0, PATTERN_BYTES).equals(want),
      'crypto-util gives the pattern back',
    )

    // locked: the KEK leaves the cache; power-on refused with the reason; the key back, it boots
    assert.equal(
      (await ward(['crypto-util', 'keys', 'remove', 'kp1', 'kek-1', '--data-dir', D])).code,
      0,
    )
    const locked = await json<VmDescription>(['host', 'vm', 'describe', 'e1', '--data-dir', D])
    assert.equal(locked.cryptoState, 'locked')
    assert.equal(locked.lockedReason, 'key missing in cache')
    const refused = await ward([
      'host',
      'vm',
      'power-on',
      'e1',
      '--data-dir',
      D,
      '--kernel',
      g.kernel,
      '--initrd',
      g.initrd,
    ])
    assert.equal(refused.code, 2)
    assert.match(refused.stderr, /ERR_HOST_VM_LOCKED/)
    assert.ok(refused.stderr.includes(VmMessages.lockedReason), refused.stderr)
    await addKey(h)
    // boot 2: the guest reads the pattern back through the filter
    const c2 = await bootRun(
      D,
      g,
      'e1',
      `dd if=/dev/vda bs=65536 count=${PATTERN_BYTES / 65536} 2>/dev/null | md5sum`,
    )
    assert.ok(output(c2).includes(md5(want)), c2)

    // canary at rest: logs (agent, QEMU, console) and the datastore outside the wrapped bundle
    const texts: [string, Buffer][] = [['agent output', Buffer.from(h.agent.output())]]
    for (const p of filesUnder(join(dir, 'ds1'))) {
      if (p === disk) continue // ciphertext and the LUKS2 header (DEK wrapped in the Ward token)
      let b = readFileSync(p)
      if (p.endsWith('vm.json'))
        b = Buffer.from(b.toString('utf8').replace(cfg.encryption.bundle, ''))
      texts.push([p, b])
    }
    for (const p of filesUnder(D)) texts.push([p, readFileSync(p)])
    for (const [where, b] of texts)
      for (const secret of [h.kek, dek, fileKey])
        for (const f of forms(secret)) assert.equal(b.includes(f), false, `a key in ${where}`)
    // the disk file itself: the header holds the DEK wrapped only
    for (const f of forms(dek)) assert.equal(raw.includes(f), false, 'a plain DEK in the disk file')
    for (const f of forms(h.kek)) assert.equal(raw.includes(f), false, 'the KEK in the disk file')
  },
)

test(
  'autostart after a host reboot: with key persistence it powers on with no provider; without, it stays locked until its key comes back',
  { timeout: 900_000 },
  async (t) => {
    const h = await newHost(t, true)
    const { D } = h
    await addKey(h)
    await json([
      'host',
      'vm',
      'create',
      'auto1',
      '--disk',
      '16M',
      '--autostart',
      '--encrypt',
      '--provider-id',
      'kp1',
      '--kek-id',
      'kek-1',
      '--data-dir',
      D,
    ])
    // the guest idles: autostart boots it without --kernel, so it boots from its (empty) disk
    // and SeaBIOS waits there; the VM is powered on all the same
    // 1. key persistence off: after the reboot the VM is locked and off
    assert.equal(await h.agent.stop(), 0)
    let agent = await serve(h.flags)
    t.after(() => agent.stop())
    let d = await json<VmDescription>(['host', 'vm', 'describe', 'auto1', '--data-dir', D])
    assert.equal(d.powerState, 'poweredOff')
    assert.equal(d.cryptoState, 'locked')
    assert.equal(d.lockedReason, 'key missing in cache')
    // the key comes back: the VM powers on, no other step
    await addKey(h)
    await waitFor('autostart after keys add', async () => {
      d = await json<VmDescription>(['host', 'vm', 'describe', 'auto1', '--data-dir', D])
      return d.powerState === 'poweredOn'
    })
    assert.equal(d.cryptoState, 'unlocked')
    // 2. key persistence on (mode TPM): after the reboot it powers on by itself
    await json(['host', 'settings', 'encryption', 'set', '--data-dir', D, '--mode=TPM'])
    await json(['host', 'security', 'keypersistence', 'enable', '--data-dir', D])
    assert.equal(await agent.stop(), 0)
    agent = await serve(h.flags)
    assert.equal(agent.exitCode, undefined, agent.output())
    await waitFor('autostart with key persistence', async () => {
      d = await json<VmDescription>(['host', 'vm', 'describe', 'auto1', '--data-dir', D])
      return d.powerState === 'poweredOn'
    })
    const off = await json<VmDescription>([
      'host',
      'vm',
      'power-off',
      'auto1',
      '--hard',
      '--data-dir',
      D,
    ])
    assert.equal(off.powerState, 'poweredOff')
  },
)

test(
  'kill -9 of the agent while the guest writes: the next boot reaps QEMU, the disk opens and every flushed write is there',
  { timeout: 900_000 },
  async (t) => {
    const h = await newHost(t)
    const { D, dir } = h
    const g = await buildTestGuest()
    await addKey(h)
    const vm = await json<VmDescription>([
      'host',
      'vm',
      'create',
      'k1',
      '--disk',
      '64M',
      '--encrypt',
      '--provider-id',
      'kp1',
      '--kek-id',
      'kek-1',
      '--data-dir',
      D,
    ])
    // the guest writes 1 MiB blocks "BLOCK-i" at i MiB, each fsync'd (a FLUSH through the filter),
    // and says so on the console after each one
    const script = [
      'i=1',
      'while [ $i -le 60 ]; do',
      `  yes "BLOCK-$i-${LINE}" | head -c 1048576 > /tmp/b`,
      '  dd if=/tmp/b of=/dev/vda bs=1048576 seek=$i conv=fsync 2>/dev/null && echo "FLUSHED $i"',
      '  i=$((i + 1))',
      'done',
    ].join('\n')
    const on = await json<VmDescription>([
      'host',
      'vm',
      'power-on',
      'k1',
      '--data-dir',
      D,
      '--kernel',
      g.kernel,
      '--initrd',
      g.initrd,
      '--append',
      append(script),
    ])
    const flushedIn = (): number =>
      Math.max(
        0,
        ...[
          ...(existsSync(on.console) ? readFileSync(on.console, 'utf8') : '').matchAll(
            /FLUSHED (\d+)/g,
          ),
        ].map((m) => Number(m[1])),
      )
    await waitFor('three flushed writes', async () => flushedIn() >= 3, 180_000)
    await h.agent.kill9()
    // QEMU outlived its agent (its own process group): the next boot must reap it
    const seen = flushedIn()
    const again = await serve(h.flags)
    t.after(() => again.stop())
    assert.equal(again.exitCode, undefined, again.output())
    await waitFor('the stale QEMU reaped', async () => !existsSync(`/proc/${on.pid}`), 30_000)
    await waitFor(
      'the reap logged',
      async () => again.output().includes('killed a QEMU left by the previous agent'),
      10_000,
    )
    const d = await json<VmDescription>(['host', 'vm', 'describe', 'k1', '--data-dir', D])
    assert.equal(d.powerState, 'poweredOff')
    const out = join(dir, 'k1.img')
    const dec = await ward([
      'crypto-util',
      'disk',
      'decrypt',
      '--in',
      vm.disks[0]!.path,
      '--out',
      out,
      '--kek-file',
      h.kekFile,
    ])
    assert.equal(dec.code, 0, dec.stderr)
    const plain = readFileSync(out)
    assert.ok(seen >= 3)
    for (let i = 1; i <= seen; i++) {
      const block = plain.subarray(i * MiB, (i + 1) * MiB)
      const want = Buffer.from(`BLOCK-${i}-${LINE}\n`)
      assert.ok(
        block.subarray(0, want.length).equals(want),
        `flushed block ${i} of ${seen} is there`,
      )
      assert.ok(block.subarray(MiB - 4096).includes(Buffer.from(`BLOCK-${i}-`)), `block ${i} whole`)
    }
  },
)

test(
  'an encrypted efi VM: a UEFI variable the guest sets survives power cycles, the plain variable store is never on disk',
  { timeout: 900_000 },
  async (t) => {
    const h = await newHost(t)
    const { D, dir } = h
    const g = await buildTestGuest()
    await addKey(h)
    const vm = await json<VmDescription>([
      'host',
      'vm',
      'create',
      'efi1',
      '--firmware',
      'efi',
      '--encrypt',
      '--provider-id',
      'kp1',
      '--kek-id',
      'kek-1',
      '--data-dir',
      D,
    ])
    assert.equal(vm.firmware, 'efi')
    assert.deepEqual(vm.nvram, { path: join(vm.path, 'nvram.ve'), encrypted: true })
    const { decryptVmFile } = await import('@ward/envelope')
    const cfg = JSON.parse(readFileSync(join(vm.path, 'vm.json'), 'utf8')) as {
      id: string
      encryption: { bundle: string }
    }
    const opened = openBundle(bundleFromBase64(cfg.encryption.bundle), h.kek)
    const fileKey = new Uint8Array(opened.fileKey)
    zeroBundleKeys(opened)
    const template = readFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd')
    const fvh = Buffer.from('_FVH')
    assert.ok(template.includes(fvh))
    const storeNow = async (name: string): Promise<Buffer> => {
      const out = join(dir, name)
      await decryptVmFile(vm.nvram!.path, out, fileKey, { vmId: cfg.id, role: 'nvram' })
      return readFileSync(out)
    }
    assert.ok((await storeNow('v0.fd')).equals(template), 'created from OVMF template')
    const value = `WARD-NVRAM-${randomBytes(6).toString('hex')}`
    const efivars = '/sys/firmware/efi/efivars'
    const varFile = `${efivars}/WardTest-c0ffee00-1234-4abc-8def-0123456789ab`
    const mount = `insmod /lib/modules/efivarfs.ko; mount -t efivarfs efivarfs ${efivars}`
    // boot 1: the guest sets a non-volatile variable (attributes NV|BS|RT = 7)
    let runningChecked = false
    const on = await json<VmDescription>([
      'host',
      'vm',
      'power-on',
      'efi1',
      '--data-dir',
      D,
      '--kernel',
      g.kernel,
      '--initrd',
      g.initrd,
      '--append',
      append(
        `${mount}\nprintf '\\007\\000\\000\\000${value}' > ${varFile}\ncat ${varFile} | tail -c +5; echo\nsleep 1`,
        0,
      ),
    ])
    // while it runs: the plaintext store is only on a tmpfs, never in the datastore
    for (const p of filesUnder(join(dir, 'ds1'))) {
      const b = readFileSync(p)
      assert.equal(b.includes(fvh), false, `a plain variable store in ${p}`)
    }
    runningChecked = on.powerState === 'poweredOn'
    const off1 = await waitPoweredOff(D, 'efi1')
    const c1 = readFileSync(off1.console, 'utf8')
    assert.match(c1, /WARD-GUEST-EXIT 0/, c1)
    assert.ok(c1.includes(value), c1)
    assert.ok(runningChecked)
    const s1 = await storeNow('v1.fd')
    assert.ok(s1.includes(Buffer.from(value)), 'the variable is in the sealed store')
    for (const p of filesUnder(join(dir, 'ds1')))
      assert.equal(readFileSync(p).includes(fvh), false, `a plain variable store in ${p}`)
    assert.equal(existsSync('/dev/shm/ward-vm-' + cfg.id), false, 'the tmpfs copy is gone')
    // boot 2: the guest reads it back
    const c2 = await bootRun(D, g, 'efi1', `${mount}\ncat ${varFile} | tail -c +5; echo`, 0)
    assert.ok(output(c2).includes(value), c2)
  },
)

test(
  'vTPM: a swtpm per VM, its state encrypted with a key from the bundle; the same EK after a power cycle and a host reboot',
  { timeout: 900_000 },
  async (t) => {
    const h = await newHost(t)
    const { D, dir } = h
    const g = await buildTestGuest()
    await addKey(h)
    const vm = await json<VmDescription>([
      'host',
      'vm',
      'create',
      't1',
      '--vtpm',
      '--encrypt',
      '--provider-id',
      'kp1',
      '--kek-id',
      'kek-1',
      '--data-dir',
      D,
    ])
    assert.equal(vm.vtpm, true)
    const { vtpmStateKey } = await import('../../src/vm/vtpm.js')
    const cfg = JSON.parse(readFileSync(join(vm.path, 'vm.json'), 'utf8')) as {
      id: string
      encryption: { bundle: string }
    }
    const opened = openBundle(bundleFromBase64(cfg.encryption.bundle), h.kek)
    const stateKey = vtpmStateKey(opened.fileKey, cfg.id)
    zeroBundleKeys(opened)
    const keyFile = secretFile(join(dir, 'vtpm.key'), stateKey)
    const probe = 'cat /sys/class/tpm/tpm0/tpm_version_major; echo TPM-DEVICE $(ls /dev/tpm0)'
    const c1 = await bootRun(D, g, 't1', probe, 0)
    assert.match(output(c1), /^2\n/m, c1)
    assert.match(output(c1), /TPM-DEVICE \/dev\/tpm0/, c1)
    const state = join(vm.path, 'vtpm')
    const ek1 = await ekOf(state, dir, keyFile)
    assert.ok(ek1, 'the vTPM state opens with the state key')
    // at rest the state is not swtpm's plain format: without the key it does not load
    assert.equal(await ekOf(state, dir, undefined), undefined, 'the state loads without its key')
    // a power cycle, then a host reboot: the same EK
    await bootRun(D, g, 't1', probe, 0)
    assert.equal(await ekOf(state, dir, keyFile), ek1, 'same EK after a power cycle')
    assert.equal(await h.agent.stop(), 0)
    const again = await serve(h.flags)
    t.after(() => again.stop())
    await addKey(h)
    await bootRun(D, g, 't1', probe, 0)
    assert.equal(await ekOf(state, dir, keyFile), ek1, 'same EK after a host reboot')
    // the key never lands in the VM folder or the logs
    for (const p of filesUnder(vm.path))
      for (const f of forms(Buffer.from(stateKey)))
        assert.equal(readFileSync(p).includes(f), false, p)
  },
)

test(
  'suspend and resume an encrypted VM: a counter in the guest goes on where it stopped; the image holds no plain guest memory',
  { timeout: 900_000 },
  async (t) => {
    const h = await newHost(t)
    const { D, dir } = h
    const g = await buildTestGuest()
    await addKey(h)
    const vm = await json<VmDescription>([
      'host',
      'vm',
      'create',
      's1',
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
    const cfg = JSON.parse(readFileSync(join(vm.path, 'vm.json'), 'utf8')) as {
      id: string
      encryption: { bundle: string }
    }
    const opened = openBundle(bundleFromBase64(cfg.encryption.bundle), h.kek)
    const fileKey = new Uint8Array(opened.fileKey)
    zeroBundleKeys(opened)
    const ram = `WARD-RAM-PATTERN-${randomBytes(6).toString('hex')}`
    const script = [
      // the pattern lives in guest RAM (the initramfs is a tmpfs), built so it is nowhere on the command line
      `yes "${ram.slice(0, 10)}""${ram.slice(10)}" | head -c 4194304 > /tmp/ram`,
      'i=0',
      'while true; do i=$((i + 1)); echo "COUNT $i"; sleep 0.3; done',
    ].join('\n')
    await json([
      'host',
      'vm',
      'power-on',
      's1',
      '--data-dir',
      D,
      '--kernel',
      g.kernel,
      '--initrd',
      g.initrd,
      '--append',
      append(script),
    ])
    const counts = (): number[] =>
      [...readFileSync(vm.console, 'utf8').matchAll(/COUNT (\d+)/g)].map((m) => Number(m[1]))
    await waitFor('the counter runs', async () => counts().length >= 5, 180_000)
    const s = await json<VmDescription>(['host', 'vm', 'suspend', 's1', '--data-dir', D])
    assert.equal(s.powerState, 'suspended')
    const before = counts()
    const last = before.at(-1)!
    const image = join(vm.path, 'suspend.ve')
    assert.ok(existsSync(image))
    const sealed = readFileSync(image)
    assert.equal(
      sealed.includes(Buffer.from(ram)),
      false,
      'plain guest memory in the suspend image',
    )
    assert.equal(sealed.includes(Buffer.from('COUNT ')), false)
    const { decryptVmFile } = await import('@ward/envelope')
    const plainOut = join(dir, 'suspend.raw')
    await decryptVmFile(image, plainOut, fileKey, { vmId: cfg.id, role: 'snapshot-memory' })
    assert.ok(
      readFileSync(plainOut).includes(Buffer.from(ram)),
      'the image holds the guest memory, sealed',
    )
    // refusals while suspended
    const add = await ward(['host', 'vm', 'disk', 'add', 's1', '--size', '8M', '--data-dir', D])
    assert.match(add.stderr, /ERR_HOST_VM_POWER_STATE/)
    await new Promise((r) => setTimeout(r, 2000))
    assert.deepEqual(counts(), before, 'nothing runs while suspended')
    const r = await json<VmDescription>(['host', 'vm', 'resume', 's1', '--data-dir', D])
    assert.equal(r.powerState, 'poweredOn')
    assert.equal(existsSync(image), false, 'the image is gone once resumed')
    await waitFor('the counter goes on', async () => counts().at(-1)! >= last + 3, 180_000)
    const all = counts()
    all.forEach((n, i) =>
      assert.equal(n, i + 1, `the counter restarted or skipped: ${all.join(',')}`),
    )
    const off = await json<VmDescription>([
      'host',
      'vm',
      'power-off',
      's1',
      '--hard',
      '--data-dir',
      D,
    ])
    assert.equal(off.powerState, 'poweredOff')
  },
)

test(
  'shallow recrypt while the guest writes: it keeps running; afterwards every disk opens under the new KEK only; a recrypt stopped midway leaves the VM usable under either KEK',
  { timeout: 900_000 },
  async (t) => {
    const h = await newHost(t)
    const { D, dir } = h
    const g = await buildTestGuest()
    await addKey(h)
    const kek2 = randomBytes(32)
    const kek2File = secretFile(join(dir, 'kek2'), kek2)
    const vm = await json<VmDescription>([
      'host',
      'vm',
      'create',
      'r1',
      '--disk',
      '32M',
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
    const noKey = await ward([
      'host',
      'vm',
      'recrypt',
      'r1',
      '--shallow',
      '--new-kek-id',
      'kek-2',
      '--data-dir',
      D,
    ])
    assert.match(noKey.stderr, /ERR_HOST_KEY_NOT_FOUND/)
    await json([
      'crypto-util',
      'keys',
      'add',
      'kp1',
      'kek-2',
      '--kek-file',
      kek2File,
      '--data-dir',
      D,
    ])
    const script = [
      'i=0',
      'while true; do i=$((i + 1))',
      `  yes "W$i-${LINE}" | head -c 65536 | dd of=/dev/vda bs=65536 seek=$((i % 64)) conv=fsync 2>/dev/null`,
      '  echo "COUNT $i"',
      'done',
    ].join('\n')
    await json([
      'host',
      'vm',
      'power-on',
      'r1',
      '--data-dir',
      D,
      '--kernel',
      g.kernel,
      '--initrd',
      g.initrd,
      '--append',
      append(script, 2),
    ])
    const counts = (): number[] =>
      [...readFileSync(vm.console, 'utf8').matchAll(/COUNT (\d+)/g)].map((m) => Number(m[1]))
    await waitFor('the guest writes', async () => counts().length >= 3, 180_000)
    const r = await json<VmDescription & { disksRewrapped: number }>([
      'host',
      'vm',
      'recrypt',
      'r1',
      '--shallow',
      '--new-kek-id',
      'kek-2',
      '--data-dir',
      D,
    ])
    assert.equal(r.disksRewrapped, 2)
    assert.equal(r.powerState, 'poweredOn')
    assert.deepEqual(r.encryption, { providerId: 'kp1', kekId: 'kek-2' })
    const at = counts().at(-1)!
    await waitFor('the guest goes on writing', async () => counts().at(-1)! >= at + 3, 120_000)
    await json(['host', 'vm', 'power-off', 'r1', '--hard', '--data-dir', D])
    for (const d of vm.disks) {
      const out = join(dir, `${d.id}.new`)
      const ok = await ward([
        'crypto-util',
        'disk',
        'decrypt',
        '--in',
        d.path,
        '--out',
        out,
        '--kek-file',
        kek2File,
      ])
      assert.equal(ok.code, 0, ok.stderr)
      const old = await ward([
        'crypto-util',
        'disk',
        'decrypt',
        '--in',
        d.path,
        '--out',
        join(dir, `${d.id}.old`),
        '--kek-file',
        h.kekFile,
      ])
      assert.notEqual(old.code, 0, 'the old KEK still opens a disk')
    }
    assert.ok(
      readFileSync(join(dir, 'disk0.new')).includes(Buffer.from(`-${LINE}\n`)),
      'the guest data is there',
    )
    const cfg = JSON.parse(readFileSync(join(vm.path, 'vm.json'), 'utf8')) as {
      encryption: { bundle: string; previous?: unknown }
    }
    assert.equal(cfg.encryption.previous, undefined)
    assert.throws(() => openBundle(bundleFromBase64(cfg.encryption.bundle), h.kek), {
      code: 'ERR_BUNDLE_WRONG_KEK',
    })
    zeroBundleKeys(openBundle(bundleFromBase64(cfg.encryption.bundle), kek2))

    // back to kek-1, stopped midway: disk1 cannot be opened (moved away)
    const { renameSync } = await import('node:fs')
    const d1 = vm.disks[1]!.path
    renameSync(d1, `${d1}.away`)
    const partial = await ward([
      'host',
      'vm',
      'recrypt',
      'r1',
      '--shallow',
      '--new-kek-id',
      'kek-1',
      '--data-dir',
      D,
    ])
    assert.equal(partial.code, 2)
    assert.match(partial.stderr, /ERR_HOST_VM_RECRYPT_PARTIAL/)
    assert.match(partial.stderr, /1 of 2 disks rewrapped/)
    assert.match(partial.stderr, /usable under either KEK/)
    renameSync(`${d1}.away`, d1)
    const mid = await json<VmDescription>(['host', 'vm', 'describe', 'r1', '--data-dir', D])
    assert.deepEqual(
      mid.keys.filter((k) => k.role.endsWith('KEK')).map((k) => [k.role, k.kekId]),
      [
        ['KEK', 'kek-1'],
        ['previous KEK', 'kek-2'],
      ],
    )
    // under either KEK alone: unlocked, and it powers on
    for (const [keep, drop] of [
      ['kek-2', 'kek-1'],
      ['kek-1', 'kek-2'],
    ] as const) {
      assert.equal(
        (await ward(['crypto-util', 'keys', 'remove', 'kp1', drop, '--data-dir', D])).code,
        0,
      )
      const d = await json<VmDescription>(['host', 'vm', 'describe', 'r1', '--data-dir', D])
      assert.equal(d.cryptoState, 'unlocked', `with ${keep} only`)
      const on = await json<VmDescription>([
        'host',
        'vm',
        'power-on',
        'r1',
        '--data-dir',
        D,
        '--kernel',
        g.kernel,
        '--initrd',
        g.initrd,
        '--append',
        append('true', 2),
      ])
      assert.equal(on.powerState, 'poweredOn')
      await waitPoweredOff(D, 'r1')
      await json([
        'crypto-util',
        'keys',
        'add',
        'kp1',
        drop,
        '--kek-file',
        drop === 'kek-1' ? h.kekFile : kek2File,
        '--data-dir',
        D,
      ])
    }
    // run again: it finishes
    const done = await json<VmDescription & { disksRewrapped: number }>([
      'host',
      'vm',
      'recrypt',
      'r1',
      '--shallow',
      '--new-kek-id',
      'kek-1',
      '--data-dir',
      D,
    ])
    assert.equal(done.disksRewrapped, 2)
    assert.equal(
      done.keys.some((k) => k.role === 'previous KEK'),
      false,
    )
    for (const d of vm.disks) {
      const ok = await ward([
        'crypto-util',
        'disk',
        'decrypt',
        '--in',
        d.path,
        '--out',
        join(dir, `${d.id}.back`),
        '--kek-file',
        h.kekFile,
      ])
      assert.equal(ok.code, 0, ok.stderr)
    }
  },
)

test(
  'deep recrypt: refused powered on; powered off every disk gets a new DEK under the new KEK, the data intact',
  { timeout: 900_000 },
  async (t) => {
    const h = await newHost(t)
    const { D, dir } = h
    const g = await buildTestGuest()
    await addKey(h)
    const kek2 = randomBytes(32)
    const kek2File = secretFile(join(dir, 'kek2'), kek2)
    await json([
      'crypto-util',
      'keys',
      'add',
      'kp1',
      'kek-2',
      '--kek-file',
      kek2File,
      '--data-dir',
      D,
    ])
    const vm = await json<VmDescription>([
      'host',
      'vm',
      'create',
      'd1',
      '--disk',
      '32M',
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
    const want = pattern()
    await bootRun(
      D,
      g,
      'd1',
      [
        `yes '${LINE}' | head -c ${PATTERN_BYTES} > /tmp/p`,
        'dd if=/tmp/p of=/dev/vda bs=65536 conv=fsync 2>/dev/null',
        'dd if=/tmp/p of=/dev/vdb bs=65536 conv=fsync 2>/dev/null',
        'sync',
      ].join('\n'),
      2,
    )
    const { unlockDiskKey } = await import('@ward/envelope')
    const before = await Promise.all(vm.disks.map((d) => unlockDiskKey(d.path, { kek: h.kek })))
    // refused while powered on, with the seed's rule
    await json([
      'host',
      'vm',
      'power-on',
      'd1',
      '--data-dir',
      D,
      '--kernel',
      g.kernel,
      '--initrd',
      g.initrd,
      '--append',
      append('sleep 3600', 2),
    ])
    const running = await ward([
      'host',
      'vm',
      'recrypt',
      'd1',
      '--deep',
      '--new-kek-id',
      'kek-2',
      '--data-dir',
      D,
    ])
    assert.equal(running.code, 2)
    assert.match(running.stderr, /ERR_HOST_VM_POWER_STATE/)
    assert.ok(running.stderr.includes(VmMessages.deepRecryptPoweredOff), running.stderr)
    await json(['host', 'vm', 'power-off', 'd1', '--hard', '--data-dir', D])
    const r = await json<VmDescription & { disksReencrypted: number }>([
      'host',
      'vm',
      'recrypt',
      'd1',
      '--deep',
      '--new-kek-id',
      'kek-2',
      '--data-dir',
      D,
    ])
    assert.equal(r.disksReencrypted, 2)
    assert.deepEqual(r.encryption, { providerId: 'kp1', kekId: 'kek-2' })
    assert.equal(r.cryptoState, 'unlocked')
    const after = await Promise.all(vm.disks.map((d) => unlockDiskKey(d.path, { kek: kek2 })))
    after.forEach((k, i) => assert.equal(Buffer.compare(k, before[i]!) === 0, false, 'a new DEK'))
    for (const d of vm.disks) {
      const old = await ward([
        'crypto-util',
        'disk',
        'decrypt',
        '--in',
        d.path,
        '--out',
        join(dir, `${d.id}.old`),
        '--kek-file',
        h.kekFile,
      ])
      assert.notEqual(old.code, 0, 'the old KEK still opens a disk')
      const out = join(dir, `${d.id}.new`)
      const ok = await ward([
        'crypto-util',
        'disk',
        'decrypt',
        '--in',
        d.path,
        '--out',
        out,
        '--kek-file',
        kek2File,
      ])
      assert.equal(ok.code, 0, ok.stderr)
      assert.ok(readFileSync(out).subarray(0, PATTERN_BYTES).equals(want), `${d.id}: data intact`)
    }
    // the bundle holds the disks' new DEKs
    const cfg = JSON.parse(readFileSync(join(vm.path, 'vm.json'), 'utf8')) as {
      encryption: { bundle: string }
    }
    const opened = openBundle(bundleFromBase64(cfg.encryption.bundle), kek2)
    vm.disks.forEach((d, i) => assert.equal(Buffer.compare(opened.disks.get(d.id)!, after[i]!), 0))
    zeroBundleKeys(opened)
    // and the guest reads its data back through the filter
    const c = await bootRun(
      D,
      g,
      'd1',
      `dd if=/dev/vdb bs=65536 count=${PATTERN_BYTES / 65536} 2>/dev/null | md5sum`,
      2,
    )
    assert.ok(output(c).includes(md5(want)), c)
  },
)

test(
  'encrypt a plain VM, then decrypt it: its data stays, nothing plain at rest while encrypted',
  { timeout: 900_000 },
  async (t) => {
    const h = await newHost(t)
    const { D, dir } = h
    const g = await buildTestGuest()
    await addKey(h)
    const vm = await json<VmDescription>([
      'host',
      'vm',
      'create',
      'c1',
      '--disk',
      '32M',
      '--data-dir',
      D,
    ])
    const want = pattern()
    await bootRun(
      D,
      g,
      'c1',
      [
        `yes '${LINE}' | head -c ${PATTERN_BYTES} > /tmp/p`,
        'dd if=/tmp/p of=/dev/vda bs=65536 conv=fsync 2>/dev/null',
        'sync',
      ].join('\n'),
    )
    const noKey = await ward([
      'host',
      'vm',
      'encrypt',
      'c1',
      '--provider-id',
      'kp1',
      '--kek-id',
      'nope',
      '--data-dir',
      D,
    ])
    assert.match(noKey.stderr, /ERR_HOST_KEY_NOT_FOUND/)
    const enc = await json<VmDescription>([
      'host',
      'vm',
      'encrypt',
      'c1',
      '--provider-id',
      'kp1',
      '--kek-id',
      'kek-1',
      '--data-dir',
      D,
    ])
    assert.equal(enc.encrypted, true)
    assert.equal(enc.cryptoState, 'unlocked')
    const disk = enc.disks[0]!
    assert.equal(disk.file, 'disk0.luks')
    assert.equal(existsSync(vm.disks[0]!.path), false, 'the plain disk file is gone')
    assert.equal(
      readFileSync(disk.path).includes(Buffer.from(LINE)),
      false,
      'plaintext left in the encrypted disk',
    )
    const out = join(dir, 'c1.img')
    const dec = await ward([
      'crypto-util',
      'disk',
      'decrypt',
      '--in',
      disk.path,
      '--out',
      out,
      '--kek-file',
      h.kekFile,
    ])
    assert.equal(dec.code, 0, dec.stderr)
    assert.ok(readFileSync(out).subarray(0, PATTERN_BYTES).equals(want))
    const again = await ward([
      'host',
      'vm',
      'encrypt',
      'c1',
      '--provider-id',
      'kp1',
      '--kek-id',
      'kek-1',
      '--data-dir',
      D,
    ])
    assert.match(again.stderr, /already encrypted/)
    // the guest reads its data through the crypto filter
    const c = await bootRun(
      D,
      g,
      'c1',
      `dd if=/dev/vda bs=65536 count=${PATTERN_BYTES / 65536} 2>/dev/null | md5sum`,
    )
    assert.ok(output(c).includes(md5(want)), c)
    // decrypt: a plain disk again, the KEK evicted (no other VM uses it)
    const back = await json<VmDescription & { evictedKey: boolean }>([
      'host',
      'vm',
      'decrypt',
      'c1',
      '--data-dir',
      D,
    ])
    assert.equal(back.encrypted, false)
    assert.equal(back.evictedKey, true)
    assert.equal(back.disks[0]!.file, 'disk0.img')
    assert.equal(existsSync(disk.path), false)
    assert.ok(
      readFileSync(back.disks[0]!.path).subarray(0, PATTERN_BYTES).equals(want),
      'the plain disk holds the data',
    )
  },
)
