import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { decryptDisk } from '@ward/envelope'
import { NbdClient, runTool, type RunResult } from '@ward/nbd/testing'
import { serveEncryptedDisk } from '../../src/filter/index.js'
import { buildTestGuest, runTestGuest, type GuestRun } from '../../src/testing/index.js'
import { makeEncryptedDisk, pattern } from '../helpers/filter.js'
import { tempDir, WARD_BIN } from '../helpers/harness.js'

// The crypto filter with real peers: nbdcopy, nbdsh, nbdinfo, qemu-img, qemu-io (libnbd-bin,
// python3-libnbd, qemu-utils), cryptsetup, `ward crypto-util disk decrypt`, and the test guest
// under QEMU (TCG).

const MiB = 1024 * 1024

function ok(r: RunResult, what: string): void {
  assert.equal(r.timedOut, false, `${what} timed out`)
  assert.equal(r.code, 0, `${what} failed: ${r.stderr}`)
}

const uriOf = (sock: string): string => `nbd+unix:///?socket=${sock}`

/** Does the file hold `marker` anywhere? */
function contains(path: string, marker: string): boolean {
  const all = readFileSync(path)
  return all.includes(Buffer.from(marker))
}

test(
  'round trip: nbdcopy, nbdsh and qemu-io write through the filter; ward crypto-util disk decrypt gives it back, cryptsetup reads the header, the file holds no plaintext',
  { timeout: 180_000 },
  async () => {
    const { dir, cleanup } = tempDir('ward-filter-peers-')
    try {
      const size = 32 * MiB
      const d = await makeEncryptedDisk(dir, size)
      const sock = join(dir, 'disk0.sock')
      const server = await serveEncryptedDisk({
        path: d.path,
        volumeKey: d.dek,
        socketPath: sock,
        exclusive: false, // nbdcopy uses several connections when multi-conn is advertised
      })
      const want = Buffer.alloc(size)
      try {
        // nbdcopy: 16 MiB of a pattern at offset 0, flushed
        const p1 = pattern(16 * MiB, 'WARD-FILTER-NBDCOPY')
        p1.copy(want, 0)
        const src = join(dir, 'p1.bin')
        writeFileSync(src, p1)
        ok(
          await runTool('nbdcopy', ['--flush', src, uriOf(sock)], { timeoutMs: 60_000 }),
          'nbdcopy',
        )
        // nbdsh (libnbd): unaligned pwrite, then a flush
        const p2 = pattern(10_000, 'WARD-FILTER-NBDSH')
        p2.copy(want, 16 * MiB + 123)
        writeFileSync(join(dir, 'p2.bin'), p2)
        ok(
          // nbdsh is Python (python3-libnbd): Debian's interpreter, not a pyenv one on PATH
          await runTool(
            '/usr/bin/python3',
            [
              '-m',
              'nbd',
              '-u',
              uriOf(sock),
              '-c',
              `h.pwrite(open(${JSON.stringify(join(dir, 'p2.bin'))}, 'rb').read(), ${16 * MiB + 123})`,
              '-c',
              'h.flush()',
            ],
            { timeoutMs: 30_000 },
          ),
          'nbdsh',
        )
        // qemu-io: a 512-byte-aligned write of a byte pattern, then zeroes, read back by qemu-io
        want.fill(0xa5, 20 * MiB + 512, 20 * MiB + 512 + 3584)
        want.fill(0, 24 * MiB + 100, 24 * MiB + 100 + 5000)
        ok(
          await runTool(
            'qemu-io',
            [
              '-f',
              'raw',
              '-c',
              `write -P 0xa5 ${20 * MiB + 512} 3584`,
              '-c',
              `write -z ${24 * MiB + 100} 5000`,
              '-c',
              `read -P 0xa5 ${20 * MiB + 512} 3584`,
              '-c',
              'flush',
              uriOf(sock),
            ],
            { timeoutMs: 30_000 },
          ),
          'qemu-io',
        )
        // the test client sees it all
        const c = await NbdClient.connect(sock)
        assert.ok((await c.read(0, size)).equals(want), 'read back through NBD')
        await c.disconnect()
        assert.ok(server.stats.flushes >= 3, 'every FLUSH reached the filter')
        assert.ok(server.stats.partialWrites >= 1)
      } finally {
        await server.close({ timeoutMs: 2000 })
      }
      // the file at rest: a LUKS2 volume cryptsetup reads, no copy of any pattern
      const dump = await runTool('cryptsetup', ['luksDump', d.path], { timeoutMs: 30_000 })
      ok(dump, 'cryptsetup luksDump')
      assert.match(dump.stdout.toString(), /Version:\s*2[\s\S]*aes-xts-plain64[\s\S]*sector: 4096/)
      for (const m of ['WARD-FILTER-NBDCOPY', 'WARD-FILTER-NBDSH'])
        assert.equal(contains(d.path, m), false, `${m} is not in the raw file`)
      // decrypt with the CLI (the KEK in a 0600 file) and with the library
      const kekFile = join(dir, 'kek')
      writeFileSync(kekFile, d.kek, { mode: 0o600 })
      const out = join(dir, 'plain.raw')
      const r = await runTool(
        process.execPath,
        [
          WARD_BIN,
          'crypto-util',
          'disk',
          'decrypt',
          '--in',
          d.path,
          '--out',
          out,
          '--kek-file',
          kekFile,
        ],
        { timeoutMs: 60_000 },
      )
      ok(r, 'ward crypto-util disk decrypt')
      assert.ok(readFileSync(out).equals(want), 'ward crypto-util disk decrypt gives it back')
      const out2 = join(dir, 'plain2.raw')
      await decryptDisk(d.path, out2, { unlock: { kek: d.kek } })
      assert.ok(readFileSync(out2).equals(want))
    } finally {
      cleanup()
    }
  },
)

test(
  'interop: nbdinfo and qemu-img convert read an export and get the plaintext',
  { timeout: 120_000 },
  async () => {
    const { dir, cleanup } = tempDir('ward-filter-peers-')
    try {
      const size = 8 * MiB
      const d = await makeEncryptedDisk(dir, size)
      const sock = join(dir, 'disk0.sock')
      const server = await serveEncryptedDisk({
        path: d.path,
        volumeKey: d.dek,
        socketPath: sock,
        exportName: 'disk0',
      })
      try {
        const want = Buffer.concat([pattern(size / 2, 'INTEROP'), randomBytes(size / 2)])
        const c = await NbdClient.connect(sock, { exportName: 'disk0' })
        await c.write(0, want)
        await c.flush()
        await c.disconnect()
        const uri = `nbd+unix:///disk0?socket=${sock}`
        const info = await runTool('nbdinfo', ['--json', uri], { timeoutMs: 20_000 })
        ok(info, 'nbdinfo')
        const j = JSON.parse(info.stdout.toString()) as {
          exports: {
            'export-size': number
            can_flush: boolean
            can_trim: boolean
            can_zero: boolean
          }[]
        }
        assert.equal(j.exports[0]?.['export-size'], size)
        assert.equal(j.exports[0]?.can_flush, true)
        assert.equal(j.exports[0]?.can_trim, true)
        assert.equal(j.exports[0]?.can_zero, true)
        const out = join(dir, 'out.raw')
        ok(
          await runTool('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri, out], {
            timeoutMs: 60_000,
          }),
          'qemu-img convert',
        )
        assert.ok(readFileSync(out).equals(want), 'qemu-img convert got the plaintext')
      } finally {
        await server.close({ timeoutMs: 2000 })
      }
    } finally {
      cleanup()
    }
  },
)

/** The filter in a child process (packages/host/test/helpers/filter-child.ts); the key via stdin. */
function spawnFilter(path: string, socketPath: string, dek: Uint8Array) {
  const script = fileURLToPath(new URL('../helpers/filter-child.js', import.meta.url))
  const child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'pipe'] })
  child.stdin.write(`${JSON.stringify({ path, socketPath })}\n`)
  child.stdin.write(dek)
  let err = ''
  child.stderr.on('data', (b: Buffer) => (err += b.toString()))
  const ready = new Promise<void>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString()
      if (out.includes('READY\n')) resolve()
    })
    child.once('exit', (code) => reject(new Error(`filter exited (${code}): ${err}`)))
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  return { child, ready, exited }
}

test(
  'durability: kill -9 of the filter while a client writes with FLUSH; after a restart every write acknowledged before a flush is there',
  { timeout: 120_000 },
  async () => {
    const { dir, cleanup } = tempDir('ward-filter-crash-')
    try {
      const size = 16 * MiB
      const d = await makeEncryptedDisk(dir, size)
      const sock = join(dir, 'disk0.sock')
      const f1 = spawnFilter(d.path, sock, d.dek)
      await f1.ready
      const c = await NbdClient.connect(sock)
      const block = 64 * 1024
      const blockData = (i: number): Buffer => pattern(block, `DURABLE-${i}`)
      let flushedUpTo = 0 // blocks [0, flushedUpTo) were written and a FLUSH after them acknowledged
      let i = 0
      const writer = (async () => {
        try {
          for (; i < size / block; i++) {
            await c.write(i * block, blockData(i))
            if (i % 4 === 3) {
              await c.flush()
              flushedUpTo = i + 1
            }
          }
        } catch {
          // the server died under us
        }
      })()
      // kill it mid-stream, once some flushed writes are in
      for (let t = 0; t < 2000 && flushedUpTo < 16; t++) await new Promise((r) => setTimeout(r, 5))
      f1.child.kill('SIGKILL')
      await f1.exited
      await writer
      c.destroy()
      const acked = flushedUpTo
      assert.ok(acked >= 16, `some flushed writes before the kill (${acked})`)
      // restart: the stale socket is replaced, the volume opens, the flushed writes are there
      const f2 = spawnFilter(d.path, sock, d.dek)
      await f2.ready
      try {
        const c2 = await NbdClient.connect(sock)
        for (let j = 0; j < acked; j++)
          assert.ok((await c2.read(j * block, block)).equals(blockData(j)), `block ${j}`)
        await c2.disconnect()
      } finally {
        f2.child.stdin.end()
        await f2.exited
      }
      const out = join(dir, 'plain.raw')
      await decryptDisk(d.path, out, { unlock: { kek: d.kek } })
      const plain = readFileSync(out)
      for (let j = 0; j < acked; j++)
        assert.ok(plain.subarray(j * block, (j + 1) * block).equals(blockData(j)))
      assert.equal(contains(d.path, 'DURABLE-1'), false)
    } finally {
      cleanup()
    }
  },
)

function explain(r: GuestRun): string {
  return `timedOut=${r.timedOut} qemuExit=${r.qemuExit} status=${r.status}\n--- console ---\n${r.console}\n--- qemu stderr ---\n${r.qemuStderr}`
}

test(
  'a guest writes a pattern to its encrypted disk through the filter and powers off; decrypt and a second boot give it back',
  { timeout: 300_000 },
  async () => {
    const image = await buildTestGuest()
    const { dir, cleanup } = tempDir('ward-filter-guest-')
    try {
      const size = 32 * MiB
      const d = await makeEncryptedDisk(dir, size)
      const sock = join(dir, 'disk0.sock')
      const bytes = 2 * MiB
      const line = 'WARD-FILTER-GUEST-PATTERN 0123456789abcdef'
      const want = Buffer.from(`${line}\n`.repeat(Math.ceil(bytes / (line.length + 1)))).subarray(
        0,
        bytes,
      )
      const boot = async (script: string): Promise<GuestRun> => {
        const server = await serveEncryptedDisk({
          path: d.path,
          volumeKey: d.dek,
          socketPath: sock,
        })
        try {
          const r = await runTestGuest(image, {
            disks: [{ nbdSocket: sock }],
            script,
            timeoutMs: 120_000,
          })
          assert.equal(r.timedOut, false, explain(r))
          assert.equal(r.status, 0, explain(r))
          if (script.includes('conv=fsync'))
            assert.ok(server.stats.flushes >= 1, 'the guest flushed')
          return r
        } finally {
          await server.close({ timeoutMs: 5000 })
        }
      }
      await boot(
        [
          `yes '${line}' | head -c ${bytes} > /tmp/p`,
          'dd if=/tmp/p of=/dev/vda bs=65536 conv=fsync 2>/dev/null',
          'sync',
        ].join('\n'),
      )
      assert.equal(contains(d.path, 'WARD-FILTER-GUEST'), false, 'no plaintext in the disk file')
      const out = join(dir, 'plain.raw')
      await decryptDisk(d.path, out, { unlock: { kek: d.kek } })
      assert.ok(readFileSync(out).subarray(0, bytes).equals(want), 'decrypted: the pattern')
      const r = await boot(`dd if=/dev/vda bs=65536 count=${bytes / 65536} 2>/dev/null | md5sum`)
      const md5 = (await import('node:crypto')).createHash('md5').update(want).digest('hex')
      assert.equal(r.output.trim().split(/\s+/)[0], md5, explain(r))
    } finally {
      cleanup()
    }
  },
)
