#!/usr/bin/env node
// npm run bench -- vm [--size-mib N] [--dir DIR] [--boots N] [--connections N] [--runs N]
//
// Issue 12: the host's crypto filter against QEMU's own LUKS driver, over the same NBD client.
// Sequential write, then read, of random data with nbdcopy against
//   (a) Ward's crypto filter (a node process serving a LUKS2 disk of @ward/envelope),
//   (b) qemu-nbd serving a LUKS1 image made by `qemu-img create -f luks` (QEMU's LUKS driver),
//   (c) qemu-nbd serving a plain raw file (the floor),
// then the test guest's power-on-to-userspace time with its disk through the filter vs a raw
// file. Every file lives in one temporary folder (RAM-backed /dev/shm by default), removed at
// the end. The last line is one JSON object (bench/README.md).
import { spawn } from 'node:child_process'
import { randomBytes, randomFillSync } from 'node:crypto'
import {
  closeSync,
  ftruncateSync,
  mkdtempSync,
  openSync,
  rmSync,
  statfsSync,
  writeSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const root = new URL('..', import.meta.url).pathname
const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    dir: { type: 'string' },
    boots: { type: 'string', default: '5' },
    connections: { type: 'string' },
    runs: { type: 'string', default: '3' },
    'map-reads': { type: 'boolean', default: false },
  },
})
const MiB = 1 << 20
const size = Number(values['size-mib']) * MiB
const boots = Number(values.boots)
const runs = Number(values.runs)
const { encryptDisk, unlockDiskKey } = await import(
  join(root, 'packages/envelope/dist/src/index.js')
)
const { serveEncryptedDisk } = await import(join(root, 'packages/host/dist/src/filter/index.js'))
const { buildTestGuest, runTestGuest } = await import(
  join(root, 'packages/host/dist/src/testing/index.js')
)

const children = new Set()
let cleanup = () => {}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'])
  process.once(sig, () => {
    for (const c of children) c.kill('SIGKILL')
    cleanup()
    process.exit(130)
  })

function start(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], ...opts })
  children.add(child)
  child.on('exit', () => children.delete(child))
  let err = ''
  child.stderr.on('data', (d) => (err = (err + d).slice(-4000)))
  child.stdin.on('error', () => undefined)
  child.errText = () => err.trim()
  return child
}

function exec(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = start(cmd, args)
    child.stdin.end()
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.on('error', reject)
    child.on('exit', (code, sig) =>
      code === 0
        ? resolve(out)
        : reject(new Error(`${cmd} ${args.join(' ')} failed (${code ?? sig}): ${child.errText()}`)),
    )
  })
}

const waitFor = async (what, ok, ms = 20_000) => {
  const end = Date.now() + ms
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`${what} did not come up`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
const canConnect = (uri) =>
  exec('nbdinfo', ['--size', uri]).then(
    () => true,
    () => false,
  )

/** A thin file: the data range deallocated (as a fresh `qemu-img create` or `truncate`). */
const punch = (path, offset, length) =>
  exec('fallocate', ['--punch-hole', '--offset', String(offset), '--length', String(length), path])

/** Ward's filter in a child process; the key goes through its stdin. */
async function startWard(path, dek, socketPath) {
  const child = start(process.execPath, [join(root, 'bench/lib/vm-filter.mjs')])
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  const opts = { path, socketPath, exclusive: false, mapReads: values['map-reads'] }
  child.stdin.write(`${JSON.stringify(opts)}\n`)
  child.stdin.write(dek)
  await waitFor('the Ward filter', () => out.includes('READY\n') || child.exitCode !== null)
  if (child.exitCode !== null) throw new Error(`Ward filter exited: ${child.errText()}`)
  return {
    uri: `nbd+unix:///?socket=${socketPath}`,
    socketPath,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const done = new Promise((r) => child.once('exit', r))
        child.stdin.end()
        await done
      }
      return out.split('\n').filter(Boolean).at(-1)
    },
  }
}

async function startQemuNbd(args, socketPath) {
  const child = start('qemu-nbd', ['-t', '-e', '8', '-k', socketPath, ...args])
  const uri = `nbd+unix:///?socket=${socketPath}`
  await waitFor('qemu-nbd', async () => child.exitCode !== null || (await canConnect(uri)))
  if (child.exitCode !== null) throw new Error(`qemu-nbd exited: ${child.errText()}`)
  return {
    uri,
    stop: async () => {
      const done = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await done
    },
  }
}

const copyArgs = values.connections ? [`--connections=${values.connections}`] : []
/** One sequential write (with the final flush) then read (to null:) of `src`; MiB/s each. */
async function round1(uri, src) {
  let t = performance.now()
  await exec('nbdcopy', [...copyArgs, '--flush', src, uri])
  const write = size / MiB / ((performance.now() - t) / 1000)
  t = performance.now()
  await exec('nbdcopy', [...copyArgs, uri, 'null:'])
  const read = size / MiB / ((performance.now() - t) / 1000)
  return { write, read }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}
const round = (x) => Math.round(x * 10) / 10
const fmt = (r) => `write ${r.write.toFixed(0)} MiB/s, read ${r.read.toFixed(0)} MiB/s`

/** Servers still running (stopped on failure too). */
const servers = []

async function main() {
  const base = values.dir ?? (statfsSync('/dev/shm') ? '/dev/shm' : tmpdir())
  const dir = mkdtempSync(join(base, 'ward-bench-vm-'))
  cleanup = () => rmSync(dir, { recursive: true, force: true })
  try {
    console.log(
      `storage: ${dir}; ${size / MiB} MiB of random data; nbdcopy ${copyArgs.join(' ') || '(default connections)'}`,
    )
    const src = join(dir, 'random.bin')
    {
      const fd = openSync(src, 'wx', 0o600)
      const chunk = Buffer.allocUnsafe(16 * MiB)
      for (let at = 0; at < size; at += chunk.length)
        writeSync(fd, randomFillSync(chunk), 0, Math.min(chunk.length, size - at))
      closeSync(fd)
    }

    // (a) Ward: a LUKS2 disk made by the envelope, its data area deallocated (thin, like the others)
    const raw = join(dir, 'zero.raw')
    closeSync(openSync(raw, 'wx', 0o600))
    {
      const fd = openSync(raw, 'r+')
      ftruncateSync(fd, size)
      closeSync(fd)
    }
    const kek = randomBytes(32)
    const wardDisk = join(dir, 'ward.luks2')
    const made = await encryptDisk(raw, wardDisk, { kek, providerId: 'bench', kekId: 'bench' })
    rmSync(raw)
    await punch(wardDisk, made.dataOffset, size)
    const dek = await unlockDiskKey(wardDisk, { kek })
    const ward = await startWard(wardDisk, dek, join(dir, 'ward.sock'))
    servers.push(ward)

    // (b) qemu-nbd + QEMU's LUKS driver (LUKS1; secret in a 0600 file, QEMU's way)
    const secret = join(dir, 'luks.secret')
    closeSync(openSync(secret, 'wx', 0o600))
    writeSync(openSync(secret, 'r+'), randomBytes(24).toString('hex'))
    const luks = join(dir, 'qemu.luks')
    await exec('qemu-img', [
      'create',
      '-q',
      '-f',
      'luks',
      '--object',
      `secret,id=sec0,file=${secret}`,
      '-o',
      'key-secret=sec0,iter-time=100',
      luks,
      String(size),
    ])
    const q = await startQemuNbd(
      [
        '--object',
        `secret,id=sec0,file=${secret}`,
        '--image-opts',
        `driver=luks,key-secret=sec0,file.driver=file,file.filename=${luks}`,
      ],
      join(dir, 'qemu-luks.sock'),
    )
    servers.push(q)

    // (c) qemu-nbd, plain raw file
    const plainFile = join(dir, 'plain.raw')
    closeSync(openSync(plainFile, 'wx', 0o600))
    {
      const fd = openSync(plainFile, 'r+')
      ftruncateSync(fd, size)
      closeSync(fd)
    }
    const pl = await startQemuNbd(['-f', 'raw', plainFile], join(dir, 'plain.sock'))
    servers.push(pl)

    // rounds interleave the three (the load of a shared machine drifts), best of --runs each;
    // the first round writes into thin files (page allocation), later ones overwrite
    const cases = [
      ['(a) Ward crypto filter (LUKS2, aes-xts-plain64, 4096-byte sectors)', ward],
      ["(b) qemu-nbd, QEMU's LUKS driver (LUKS1, aes-xts-plain64, 512-byte sectors)", q],
      ['(c) qemu-nbd, plain raw file', pl],
    ]
    const best = cases.map(() => ({ write: 0, read: 0 }))
    for (let r = 0; r < runs; r++)
      for (const [k, [label, srv]] of cases.entries()) {
        const x = await round1(srv.uri, src)
        console.log(`  round ${r + 1}: ${label}: ${fmt(x)}`)
        best[k] = { write: Math.max(best[k].write, x.write), read: Math.max(best[k].read, x.read) }
      }
    const wardStats = await ward.stop()
    await q.stop()
    await pl.stop()
    servers.length = 0
    for (const f of [wardDisk, luks, plainFile, src]) rmSync(f)
    const [w, l, p] = best
    for (const [k, [label]] of cases.entries()) console.log(`${label}: ${fmt(best[k])}`)
    if (wardStats) console.log(`    filter stats: ${wardStats}`)

    const rq = Math.min(w.read / l.read, w.write / l.write)
    const rp = Math.min(w.read / p.read, w.write / p.write)
    console.log(
      `Ward / QEMU LUKS: write ${(w.write / l.write).toFixed(2)}x, read ${(w.read / l.read).toFixed(2)}x (goal >= 2)`,
    )
    console.log(
      `Ward / plain: write ${(w.write / p.write).toFixed(2)}x, read ${(w.read / p.read).toFixed(2)}x (goal >= 0.8)`,
    )

    // boot: power-on to the guest's userspace marker, disk through the filter vs a raw file
    const image = await buildTestGuest()
    const bootDisk = join(dir, 'boot.raw')
    {
      const fd = openSync(bootDisk, 'wx', 0o600)
      ftruncateSync(fd, 64 * MiB)
      closeSync(fd)
    }
    const bootLuks = join(dir, 'boot.luks2')
    await encryptDisk(bootDisk, bootLuks, { kek, providerId: 'bench', kekId: 'bench' })
    const bootDek = await unlockDiskKey(bootLuks, { kek })
    const enc = []
    const plain = []
    for (let i = 0; i < boots; i++) {
      // the filter is started for each power-on, in this process as the agent runs it
      const t = performance.now()
      const f = await serveEncryptedDisk({
        path: bootLuks,
        volumeKey: bootDek,
        socketPath: join(dir, 'boot.sock'),
      })
      const startMs = performance.now() - t
      try {
        const r = await runTestGuest(image, {
          script: 'true',
          disks: [{ nbdSocket: f.socketPath }],
          timeoutMs: 60_000,
        })
        if (r.readyMs === undefined)
          throw new Error(`encrypted boot failed: ${r.console.slice(-2000)}`)
        enc.push({ ready: r.readyMs, startMs, stats: { ...f.stats } })
      } finally {
        await f.close()
      }
      const r = await runTestGuest(image, {
        script: 'true',
        disks: [{ rawFile: bootDisk }],
        timeoutMs: 60_000,
      })
      if (r.readyMs === undefined) throw new Error(`plain boot failed: ${r.console.slice(-2000)}`)
      plain.push(r.readyMs)
    }
    bootDek.fill(0)
    dek.fill(0)
    const be = median(enc.map((e) => e.ready))
    const bp = median(plain)
    const st = enc.at(-1).stats
    console.log(
      `filter during one boot (power-on to power-off): ${st.reads} reads, ${st.writes} writes, ${st.flushes} flushes, ${(st.bytesRead / 1024).toFixed(0)} KiB read; requests spent ${st.serviceMs.toFixed(1)} ms in the filter in all`,
    )
    console.log(
      `boot to guest userspace (TCG, median of ${boots}): encrypted ${be.toFixed(0)} ms (the filter's own start-up before power-on: ${median(enc.map((e) => e.startMs)).toFixed(1)} ms), plain ${bp.toFixed(0)} ms; encryption adds ${(be - bp).toFixed(0)} ms (goal < 100)`,
    )
    console.log(
      JSON.stringify({
        bench: 'vm',
        ward_read_mib_s: round(w.read),
        ward_write_mib_s: round(w.write),
        qemu_luks_read_mib_s: round(l.read),
        qemu_luks_write_mib_s: round(l.write),
        plain_read_mib_s: round(p.read),
        plain_write_mib_s: round(p.write),
        ratio_vs_qemu_luks: Math.round(rq * 100) / 100,
        ratio_vs_plain: Math.round(rp * 100) / 100,
        boot_ms_encrypted: Math.round(be),
        boot_ms_plain: Math.round(bp),
      }),
    )
  } finally {
    for (const srv of servers) await srv.stop().catch(() => undefined)
    for (const c of children) c.kill('SIGKILL')
    cleanup()
  }
}

await main()
