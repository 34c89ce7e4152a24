import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { TRANSMISSION_FLAG as TF } from '../../src/index.js'
import { NbdClient, runTool, type RunResult } from '../../src/testing/index.js'
import { serveFile, tempDir } from '../helpers.js'

// Real peers from Debian: libnbd-bin (nbdinfo, nbdcopy), python3-libnbd (nbdsh), qemu-utils
// (qemu-img, qemu-io). scripts/install-peers.sh installs them.

const MiB = 1024 * 1024

function ok(r: RunResult, what: string): void {
  assert.equal(r.timedOut, false, `${what} timed out`)
  assert.equal(r.code, 0, `${what} failed: ${r.stderr}`)
}

test(
  'nbdinfo shows the size, flags and block sizes; --list shows the export',
  { timeout: 60_000 },
  async () => {
    const s = await serveFile(64 * MiB, { exportName: 'disk0', description: 'test disk' })
    try {
      const r = await runTool('nbdinfo', ['--json', `nbd+unix:///disk0?socket=${s.path}`], {
        timeoutMs: 20_000,
      })
      ok(r, 'nbdinfo')
      const info = JSON.parse(r.stdout.toString()) as {
        protocol: string
        exports: Record<string, unknown>[]
      }
      assert.equal(info.protocol, 'newstyle-fixed')
      const e = info.exports[0]!
      assert.equal(e['export-size'], 64 * MiB)
      assert.equal(e['export-name'], 'disk0')
      assert.equal(e['description'], 'test disk')
      for (const k of ['can_flush', 'can_fua', 'can_trim', 'can_zero', 'can_multi_conn'])
        assert.equal(e[k], true, k)
      for (const k of ['is_read_only', 'can_cache', 'can_df', 'can_fast_zero'])
        assert.equal(e[k], false, k)
      assert.equal(e['block_size_minimum'], 1)
      assert.equal(e['block_size_preferred'], 4096)
      assert.equal(e['block_size_maximum'], 32 * MiB)
      const l = await runTool('nbdinfo', ['--list', '--json', `nbd+unix:///?socket=${s.path}`], {
        timeoutMs: 20_000,
      })
      ok(l, 'nbdinfo --list')
      const names = (
        JSON.parse(l.stdout.toString()) as { exports: { 'export-name': string }[] }
      ).exports.map((x) => x['export-name'])
      assert.deepEqual(names, ['disk0'])
    } finally {
      await s.stop()
    }
  },
)

test(
  'qemu-img convert reads back exactly what the backend holds',
  { timeout: 60_000 },
  async () => {
    const s = await serveFile(8 * MiB + 4096)
    const { dir, cleanup } = tempDir()
    try {
      const data = randomBytes(8 * MiB + 4096)
      writeFileSync(s.image, data)
      const out = join(dir, 'out.raw')
      const r = await runTool('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', s.uri, out], {
        timeoutMs: 30_000,
      })
      ok(r, 'qemu-img convert')
      assert.ok(readFileSync(out).equals(data))
      const i = await runTool('qemu-img', ['info', '--output=json', s.uri], { timeoutMs: 20_000 })
      ok(i, 'qemu-img info')
      assert.equal(
        (JSON.parse(i.stdout.toString()) as { 'virtual-size': number })['virtual-size'],
        8 * MiB + 4096,
      )
    } finally {
      cleanup()
      await s.stop()
    }
  },
)

test(
  'nbdcopy writes a random 64 MiB file into the export and reads it back',
  { timeout: 120_000 },
  async () => {
    const s = await serveFile(64 * MiB)
    const { dir, cleanup } = tempDir()
    try {
      const src = join(dir, 'src.img')
      const data = randomBytes(64 * MiB)
      writeFileSync(src, data)
      const w = await runTool('nbdcopy', ['--flush', src, s.uri], { timeoutMs: 60_000 })
      ok(w, 'nbdcopy write')
      assert.ok(readFileSync(s.image).equals(data), 'the backing file holds the copy')
      assert.ok(s.backend.stats.flushes >= 1, 'nbdcopy --flush reached the backend')
      const back = join(dir, 'back.img')
      const r = await runTool('nbdcopy', [s.uri, back], { timeoutMs: 60_000 })
      ok(r, 'nbdcopy read')
      assert.ok(readFileSync(back).equals(data))
      // multi-conn is advertised, so nbdcopy used several connections at once
      assert.ok(s.events.filter((e) => e.type === 'ready').length >= 3)
    } finally {
      cleanup()
      await s.stop()
    }
  },
)

test(
  'qemu-io writes, flushes, discards and zeroes through the export',
  { timeout: 60_000 },
  async () => {
    const s = await serveFile(16 * MiB)
    try {
      writeFileSync(s.image, Buffer.alloc(16 * MiB, 0x11))
      const cmds = [
        'write -P 0xab 0 1M',
        'write -P 0xcd -f 1M 64k', // FUA
        'flush',
        'discard 2M 1M',
        'write -z 3M 1M',
        'read -P 0xab 0 1M',
        'read -P 0xcd 1M 64k',
        'read -P 0 3M 1M',
        'read -P 0x11 4M 1M',
      ]
      const r = await runTool('qemu-io', ['-f', 'raw', s.uri, ...cmds.flatMap((c) => ['-c', c])], {
        timeoutMs: 30_000,
      })
      ok(r, 'qemu-io')
      assert.doesNotMatch(r.stdout.toString(), /Pattern verification failed|failed/i)
      const img = readFileSync(s.image)
      assert.ok(img.subarray(0, MiB).every((b) => b === 0xab))
      assert.ok(img.subarray(MiB, MiB + 65536).every((b) => b === 0xcd))
      assert.ok(img.subarray(3 * MiB, 4 * MiB).every((b) => b === 0))
      assert.ok(img.subarray(4 * MiB, 5 * MiB).every((b) => b === 0x11))
      const st = s.backend.stats
      assert.ok(st.flushes >= 1, 'flush reached the backend')
      assert.ok(st.fuaWrites >= 1, 'FUA write reached the backend')
      assert.ok(st.trims >= 1, 'discard reached the backend')
      assert.ok(st.zeroes >= 1, 'write -z used WRITE_ZEROES')
    } finally {
      await s.stop()
    }
  },
)

/** nbdsh is Python (python3-libnbd); run it with Debian's interpreter, not a pyenv one on PATH. */
const nbdsh = (uri: string, script: string): Promise<RunResult> =>
  runTool('/usr/bin/python3', ['-m', 'nbd', '-u', uri, '-c', script], { timeoutMs: 30_000 })

test(
  'nbdsh (strict mode off): the server answers bad requests with their NBD errors',
  { timeout: 60_000 },
  async () => {
    const s = await serveFile(4 * MiB)
    try {
      const r = await nbdsh(
        s.uri,
        `
h.set_strict_mode(0)
size = h.get_size()
def errno(f):
    try:
        f()
        return "ok"
    except nbd.Error as e:
        return e.errno
print(errno(lambda: h.pread(512, size)))
print(errno(lambda: h.pwrite(b"x" * 512, size - 511)))
print(errno(lambda: h.trim(512, size)))
print(errno(lambda: h.zero(512, size)))
print(errno(lambda: h.pread(33 * 1024 * 1024, 0)))
print(errno(lambda: h.cache(512, 0)))
print(errno(lambda: h.pwrite(b"y" * 4096, 8192, nbd.CMD_FLAG_FUA)))
print(h.pread(4096, 8192) == b"y" * 4096)
# 64 pipelined reads, answered by cookie
bufs = [nbd.Buffer(4096) for _ in range(64)]
cookies = [h.aio_pread(bufs[i], i * 4096) for i in range(64)]
while h.aio_in_flight() > 0:
    h.poll(-1)
print(all(h.aio_command_completed(c) for c in cookies))
`,
      )
      ok(r, 'nbdsh')
      assert.deepEqual(r.stdout.toString().trim().split('\n'), [
        'EINVAL',
        'ENOSPC',
        'EINVAL',
        'ENOSPC',
        'EINVAL',
        'EINVAL',
        'ok',
        'True',
        'True',
      ])
    } finally {
      await s.stop()
    }
  },
)

test(
  'exclusive export: qemu-img and nbdinfo are refused with the reason while a client holds it',
  { timeout: 60_000 },
  async () => {
    const s = await serveFile(MiB, { exclusive: true })
    try {
      const holder = await NbdClient.connect(s.path)
      assert.equal(holder.flags & TF.CAN_MULTI_CONN, 0)
      // qemu shows the server's message; libnbd only the error class
      const refused = await runTool('qemu-img', ['info', s.uri], { timeoutMs: 20_000 })
      assert.equal(refused.timedOut, false)
      assert.notEqual(refused.code, 0)
      assert.match(
        refused.stderr,
        /Denied by server for option 7 \(go\)[\s\S]*export in use by another client/,
      )
      const nbdinfo = await runTool('nbdinfo', [s.uri], { timeoutMs: 20_000 })
      assert.notEqual(nbdinfo.code, 0)
      assert.match(nbdinfo.stderr, /opt_go/)
      await holder.write(0, Buffer.from('held'))
      await holder.disconnect()
      const r = await runTool('nbdinfo', ['--json', s.uri], { timeoutMs: 20_000 })
      ok(r, 'nbdinfo after the holder left')
    } finally {
      await s.stop()
    }
  },
)
