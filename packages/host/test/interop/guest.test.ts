import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { gunzipSync } from 'node:zlib'
import { NbdServer } from '@ward/nbd'
import { openFileBackend } from '@ward/nbd/testing'
import {
  GUEST_MODULES,
  READY_MARKER,
  buildTestGuest,
  cpioNewc,
  guestQemuArgs,
  runTestGuest,
  type GuestRun,
} from '../../src/testing/index.js'

// The test guest (linux-image-cloud-amd64 + busybox-static, built offline) under
// qemu-system-x86_64 with TCG, its disk served by @ward/nbd over a unix socket.

const MiB = 1024 * 1024
const PATTERN_BYTES = 4 * MiB
const pattern = (): Buffer => {
  const line = Buffer.from('WARD-NBD-GUEST-PATTERN 0123456789abcdef\n')
  return Buffer.concat(
    Array.from({ length: Math.ceil(PATTERN_BYTES / line.length) }, () => line),
  ).subarray(0, PATTERN_BYTES)
}

function explain(r: GuestRun): string {
  return `timedOut=${r.timedOut} qemuExit=${r.qemuExit} status=${r.status}\n--- console ---\n${r.console}\n--- qemu stderr ---\n${r.qemuStderr}`
}

test('cpio newc archives list and extract with busybox cpio', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-cpio-'))
  try {
    const a = cpioNewc([
      { name: 'd', mode: 0o040755 },
      { name: 'd/f', mode: 0o100644, data: Buffer.from('hello') },
      { name: 'd/odd', mode: 0o100600, data: Buffer.from('abc') }, // data needs padding
      { name: 'd/l', mode: 0o120777, data: Buffer.from('f') },
    ])
    assert.equal(a.length % 4, 0)
    writeFileSync(join(dir, 'a.cpio'), a)
    const list = execFileSync('busybox', ['cpio', '-t', '-F', join(dir, 'a.cpio')], {
      stdio: 'pipe',
    })
      .toString()
      .trim()
      .split('\n')
    assert.deepEqual(list, ['d', 'd/f', 'd/odd', 'd/l'])
    execFileSync('busybox', ['cpio', '-i', '-d', '-F', join(dir, 'a.cpio')], {
      cwd: dir,
      stdio: 'pipe',
    })
    assert.equal(readFileSync(join(dir, 'd/f'), 'utf8'), 'hello')
    assert.equal(readFileSync(join(dir, 'd/odd'), 'utf8'), 'abc')
    assert.equal(readFileSync(join(dir, 'd/l'), 'utf8'), 'hello') // through the symlink
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test(
  'the guest initramfs is built from Debian packages and cached by its inputs',
  { timeout: 120_000 },
  async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'ward-guest-cache-test-'))
    try {
      const a = await buildTestGuest({ cacheDir })
      assert.match(a.kernel, /^\/boot\/vmlinuz-.*-cloud-amd64$/)
      const b = await buildTestGuest({ cacheDir })
      assert.equal(b.initrd, a.initrd) // reused
      assert.equal(b.key, a.key)
      const names = execFileSync('busybox', ['cpio', '-t'], {
        input: gunzipSync(readFileSync(a.initrd)),
        stdio: 'pipe',
      })
        .toString()
        .split('\n')
      for (const m of GUEST_MODULES) assert.ok(names.includes(`lib/modules/${m}.ko`), m)
      for (const n of ['init', 'bin/busybox', 'dev/console']) assert.ok(names.includes(n), n)
      // a different busybox (here: a copy with one byte appended) is a different image
      const bb = join(cacheDir, 'busybox')
      writeFileSync(bb, Buffer.concat([readFileSync('/bin/busybox'), Buffer.from([0])]), {
        mode: 0o755,
      })
      const c = await buildTestGuest({ cacheDir, busybox: bb })
      assert.notEqual(c.key, a.key)
      assert.notEqual(c.initrd, a.initrd)
      // a dynamically linked binary is refused
      await assert.rejects(
        buildTestGuest({ cacheDir, busybox: process.execPath }),
        /not statically linked/,
      )
    } finally {
      rmSync(cacheDir, { recursive: true, force: true })
    }
  },
)

test(
  'a guest writes a pattern to its NBD disk, syncs and powers off; booted again it reads it back',
  { timeout: 300_000 },
  async () => {
    const image = await buildTestGuest()
    const dir = mkdtempSync(join(tmpdir(), 'ward-guest-nbd-')) // 0700
    try {
      const disk = join(dir, 'disk.img')
      const backend = await openFileBackend(disk, { create: { size: 64 * MiB } })
      const sock = join(dir, 'disk0.sock')
      const server = new NbdServer(backend, { exclusive: true })
      await server.listen(sock)
      const want = pattern()
      const md5 = createHash('md5').update(want).digest('hex')
      try {
        // boot 1: write the pattern with dd, fsync + sync (FLUSH reaches the server), power off
        const w = await runTestGuest(image, {
          disks: [{ nbdSocket: sock }],
          timeoutMs: 120_000,
          script: [
            'cat /sys/block/vda/size',
            `yes 'WARD-NBD-GUEST-PATTERN 0123456789abcdef' | head -c ${PATTERN_BYTES} > /tmp/p`,
            'dd if=/tmp/p of=/dev/vda bs=65536 conv=fsync 2>/dev/null',
            'sync',
            'md5sum /tmp/p',
          ].join('\n'),
        })
        assert.equal(w.timedOut, false, explain(w))
        assert.equal(w.status, 0, explain(w))
        assert.equal(w.qemuExit, 0, explain(w))
        const [sectors, sum] = w.output.trim().split('\n')
        assert.equal(Number(sectors), (64 * MiB) / 512, 'the guest sees the export size')
        assert.equal(sum?.split(/\s+/)[0], md5, 'the guest made the same pattern')
        assert.ok(backend.stats.flushes >= 1, 'the guest flush reached the NBD server')
        assert.ok(
          readFileSync(disk).subarray(0, PATTERN_BYTES).equals(want),
          'the backing file holds the pattern',
        )
        console.log(
          `guest boot to ready marker (write boot): ${w.readyMs?.toFixed(0)} ms, whole run ${w.totalMs.toFixed(0)} ms`,
        )

        // boot 2: read it back; the script goes over the serial console this time
        const r = await runTestGuest(image, {
          disks: [{ nbdSocket: sock }],
          timeoutMs: 120_000,
          scriptOverConsole: true,
          script: `dd if=/dev/vda bs=65536 count=${PATTERN_BYTES / 65536} 2>/dev/null | md5sum`,
        })
        assert.equal(r.timedOut, false, explain(r))
        assert.equal(r.status, 0, explain(r))
        assert.equal(r.output.trim().split(/\s+/)[0], md5, explain(r))
        console.log(
          `guest boot to ready marker (read boot): ${r.readyMs?.toFixed(0)} ms, whole run ${r.totalMs.toFixed(0)} ms`,
        )
        for (let i = 0; i < 200 && server.connections > 0; i++)
          await new Promise((res) => setTimeout(res, 10))
        assert.equal(server.connections, 0, 'QEMU disconnected at power-off')
      } finally {
        await server.close({ timeoutMs: 2000 })
        await backend.close()
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  },
)

test(
  'a hung guest never hangs the test: QEMU is killed at the timeout',
  { timeout: 120_000 },
  async () => {
    const image = await buildTestGuest()
    const r = await runTestGuest(image, { script: 'sleep 3600', timeoutMs: 15_000 })
    assert.equal(r.timedOut, true)
    assert.equal(r.status, undefined)
    assert.ok(r.totalMs < 30_000)
    if (r.readyMs !== undefined) assert.ok(r.console.includes(READY_MARKER))
  },
)

test('QEMU arguments: TCG, no defaults, the NBD disk as a blockdev', async () => {
  const image = { kernel: '/k', initrd: '/i', kernelVersion: 'v', key: 'k' }
  const args = guestQemuArgs(image, { script: 'echo hi', disks: [{ nbdSocket: '/run/x,y.sock' }] })
  assert.deepEqual(args.slice(0, 2), ['-accel', 'tcg'])
  assert.ok(args.includes('-nodefaults'))
  const bd = JSON.parse(args[args.indexOf('-blockdev') + 1]!) as {
    file: { server: { path: string } }
  }
  assert.equal(bd.file.server.path, '/run/x,y.sock') // JSON syntax: no comma escaping needed
  const append = args[args.indexOf('-append') + 1]!
  assert.match(append, /ward\.cmd=ZWNobyBoaQ==/)
  assert.throws(() => guestQemuArgs(image, { script: 'x'.repeat(3000) }), /scriptOverConsole/)
})
