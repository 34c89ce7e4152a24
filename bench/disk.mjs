#!/usr/bin/env node
// npm run bench -- disk [--size-mib N] [--raw-mib N] [--runs N] [--library] [--dir DIR]
//                        [--compare-shm] [--no-extra-ca-certs]
//
// Disk encryption throughput (issue 2): a random raw image is encrypted to a LUKS2 file by
// `ward crypto-util disk encrypt`, then deep-rekeyed (`disk rekey --deep`); the same image goes
// through `qemu-img convert -O luks` (aes-256 xts), and `openssl speed -evp aes-256-xts` gives
// the single-core limit of this CPU. Also printed: the raw XTS throughput of @ward/envelope in
// memory (native addon sync / async on all cores, node:crypto baseline). No assertions: figures.
// Files live in --dir (default: a private tmpfs mounted with huge=always when running as root,
// else /dev/shm when it has room, else os.tmpdir(); Ward and qemu-img always share it, so the
// figures compare encryption pipelines, not this VM's virtual disk or its 4 KiB page allocator).
// The last line is one JSON object.
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes, randomFillSync } from 'node:crypto'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statfsSync } from 'node:fs'
import { mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const root = new URL('..', import.meta.url).pathname
const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    'raw-mib': { type: 'string', default: '256' },
    runs: { type: 'string', default: '1' },
    library: { type: 'boolean', default: false },
    dir: { type: 'string' },
    'compare-shm': { type: 'boolean', default: false },
    'no-extra-ca-certs': { type: 'boolean', default: false },
  },
})
const sizeMiB = Number(values['size-mib'])
const rawMiB = Number(values['raw-mib'])
const runs = Number(values.runs)
if (![sizeMiB, rawMiB, runs].every((n) => Number.isInteger(n) && n >= 1)) {
  console.error(
    'usage: npm run bench -- disk [--size-mib N] [--raw-mib N] [--runs N] [--library] [--dir DIR] [--compare-shm] [--no-extra-ca-certs]',
  )
  process.exit(2)
}

const envelopeDist = join(root, 'packages/envelope/dist/src/index.js')
if (!existsSync(envelopeDist)) {
  console.error('packages/envelope is not built: run `npm run build` first')
  process.exit(2)
}
const xts = await import(envelopeDist)
const { runSectors } = await import(join(root, 'packages/envelope/dist/src/xts/xts.js'))
const { native } = await import(join(root, 'packages/envelope/dist/src/xts/native.js'))
const { runPipeline } = await import(join(root, 'packages/envelope/dist/src/disk/pipeline.js'))

const SECTOR = 4096
const MiB = 1 << 20
const now = () => Number(process.hrtime.bigint()) / 1e9
const rate = (bytes, secs) => bytes / MiB / secs
const fmt = (x) => (x === null ? 'n/a' : `${x.toFixed(0)} MiB/s`)
const round = (x) => (x === null ? null : Math.round(x * 10) / 10)

/** Children still running, killed if the bench is interrupted (so the private mount can go). */
const children = new Set()
/** Cleanup of the current storage, also run on SIGINT/SIGTERM/SIGHUP (then the bench exits). */
let cleanupStorage = () => {}

/** Runs a command to completion; resolves with its stdout, rejects with its stderr's tail. */
function exec(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts })
    children.add(child)
    child.on('exit', () => children.delete(child))
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => {
      if (out.length < 1 << 20) out += d
    })
    child.stderr.on('data', (d) => {
      err = (err + d).slice(-4000)
    })
    child.on('error', reject)
    child.on('exit', (code, sig) =>
      code === 0
        ? resolve(out)
        : reject(new Error(`${cmd} ${args[0] ?? ''} failed (${code ?? sig}): ${err.trim()}`)),
    )
  })
}

/** statfs f_type of tmpfs (linux/magic.h TMPFS_MAGIC). */
const TMPFS_MAGIC = 0x01021994

const describeFs = (dir) => {
  try {
    return statfsSync(dir).type === TMPFS_MAGIC ? 'tmpfs, RAM-backed' : 'disk-backed file system'
  } catch {
    return 'unknown file system'
  }
}

/** Bytes of RAM the kernel could hand out now (MemAvailable), or undefined. */
function memAvailable() {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))
    return m ? Number(m[1]) * 1024 : undefined
  } catch {
    return undefined
  }
}

/** Unmounts a private mount point, lazily if something still holds it, then removes it. */
function unmountPrivate(dir) {
  if (spawnSync('umount', [dir], { stdio: 'ignore' }).status !== 0)
    spawnSync('umount', ['-l', dir], { stdio: 'ignore' })
  rmSync(dir, { recursive: true, force: true })
}

/**
 * A private tmpfs with transparent huge pages (`huge=always`), mounted on a fresh temp dir, or
 * undefined (not root, `mount` refused, no room in RAM). Its size bounds it to the bench's peak
 * usage: the raw image and one output at a time, plus headers and slack.
 */
function mountHugeTmpfs(bytes) {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined
  const size = 2 * bytes + 512 * MiB
  const avail = memAvailable()
  if (avail !== undefined && avail < size + 512 * MiB) return undefined
  const dir = mkdtempSync(join(tmpdir(), 'ward-bench-disk-'))
  const r = spawnSync(
    'mount',
    ['-t', 'tmpfs', '-o', `size=${Math.ceil(size / MiB)}m,huge=always,mode=0700`, 'tmpfs', dir],
    { stdio: 'ignore' },
  )
  // an interrupt from here on must unmount it (main() takes cleanup over once storage is set)
  if (r.status === 0) cleanupStorage = () => unmountPrivate(dir)
  // the mount must be there, be tmpfs and have taken huge=always (a kernel without shmem THP
  // refuses the option; check anyway rather than report a storage that is not what it says)
  const line =
    r.status === 0 &&
    readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .find((l) => l.split(' ')[1] === dir)
  if (!line || statfsSync(dir).type !== TMPFS_MAGIC || !/\bhuge=always\b/.test(line)) {
    if (line || r.status === 0) unmountPrivate(dir)
    else rmSync(dir, { recursive: true, force: true })
    cleanupStorage = () => {}
    return undefined
  }
  return { dir, size }
}

/**
 * Where the bench's files live, and how to clean up: --dir when given; else a private tmpfs with
 * huge pages (root only), else /dev/shm when it exists and has room for the peak usage (the raw
 * image and one output at a time, plus headers), else os.tmpdir(). Ward and qemu-img always
 * share it, so they run on the same storage. `kind` goes into the JSON line.
 */
async function prepareStorage(bytes) {
  const inside = async (base, kind, why) => {
    const dir = await mkdtemp(join(base, 'ward-bench-disk-'))
    return {
      dir,
      kind,
      label: `${base} (${describeFs(base)}; ${why})`,
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    }
  }
  if (values.dir !== undefined) return inside(values.dir, 'dir', '--dir')
  const huge = mountHugeTmpfs(bytes)
  if (huge)
    return {
      dir: huge.dir,
      kind: 'tmpfs-huge',
      label: `${huge.dir} (private tmpfs, RAM-backed, huge=always, size ${(huge.size / MiB).toFixed(0)} MiB; default when root: 2 MiB pages, unmounted at the end)`,
      cleanup: () => unmountPrivate(huge.dir),
    }
  const need = 2 * bytes + 256 * MiB
  const why = process.getuid?.() === 0 ? 'mounting a huge-page tmpfs failed; ' : 'not root; '
  try {
    const st = statfsSync('/dev/shm')
    const free = Number(st.bavail) * Number(st.bsize)
    if (free >= need) return inside('/dev/shm', 'dev-shm', `${why}RAM-backed /dev/shm has room`)
    return inside(
      tmpdir(),
      'tmpdir',
      `${why}/dev/shm has ${(free / MiB).toFixed(0)} MiB free, ${(need / MiB).toFixed(0)} MiB needed`,
    )
  } catch {
    return inside(tmpdir(), 'tmpdir', `${why}no /dev/shm`)
  }
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'])
  process.once(sig, () => {
    for (const c of children) c.kill('SIGKILL')
    try {
      cleanupStorage()
    } finally {
      process.exit(128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 }[sig] ?? 0))
    }
  })

async function timed(fn) {
  const t = now()
  await fn()
  return now() - t
}

// ---- 1. raw XTS throughput in memory ------------------------------------------------------
async function rawThroughput() {
  const key = randomBytes(64)
  const buf = Buffer.allocUnsafe(rawMiB * MiB)
  randomFillSync(buf)
  const res = { backend: xts.xtsBackend() }
  const best = async (fn, reps = 3) => {
    let b = Infinity
    for (let i = 0; i < reps; i++) b = Math.min(b, await timed(fn))
    return b
  }
  if (native) {
    res.nativeSync = rate(
      buf.length,
      await best(() => runSectors(native, true, key, buf, 0, SECTOR)),
    )
    res.nativeSync512 = rate(
      buf.length,
      await best(() => runSectors(native, true, key, buf, 0, 512)),
    )
    res.nativeAsync = rate(
      buf.length,
      await best(() => xts.xtsEncryptSectorsAsync(key, buf, 0, SECTOR)),
    )
  }
  const small = buf.subarray(0, Math.min(buf.length, 64 * MiB))
  res.nodeCrypto = rate(
    small.length,
    await best(() => runSectors(undefined, true, key, small, 0, SECTOR), 1),
  )
  return res
}

// ---- 2. Ward on files ---------------------------------------------------------------------
const cliDisk = join(root, 'packages/cli/src/commands/crypto-util-disk.ts')
const wardBin = join(root, 'packages/cli/bin/ward.js')

/** The disk commands exist once the CLI lists them (they are built by another part of issue 2). */
async function cliAvailable() {
  if (!existsSync(cliDisk)) return false
  try {
    const help = await exec(process.execPath, [wardBin, '--help'])
    return /crypto-util disk encrypt/.test(help) && /crypto-util disk rekey/.test(help)
  } catch {
    return false
  }
}

/**
 * The library path (`--library`, or until `ward crypto-util disk` exists) and the I/O floor: the
 * very pipeline the disk commands run (packages/envelope/src/disk/pipeline.ts: positional reads
 * and writes of 16 MiB segments, reading and transforming ahead of the writer), without LUKS2
 * header or journal, then one fdatasync.
 */
async function libPipeline(src, dst, chunk, transform) {
  const inH = await open(src, src === dst ? 'r+' : 'r')
  const outH = src === dst ? inH : await open(dst, 'w')
  try {
    const size = (await inH.stat()).size
    const steps = []
    for (let off = 0; off < size; off += chunk)
      steps.push({ readPos: off, writePos: off, length: Math.min(chunk, size - off) })
    await runPipeline({
      fdIn: inH.fd,
      fdOut: outH.fd,
      steps,
      maxLength: chunk,
      durable: false,
      transform: (buf, step) => transform(buf, step.readPos / SECTOR),
    })
    await outH.sync()
  } finally {
    await inH.close()
    if (outH !== inH) await outH.close()
  }
}

async function main() {
  const storage = await prepareStorage(sizeMiB * MiB)
  const dir = storage.dir
  const cleanups = [storage.cleanup]
  cleanupStorage = () => {
    for (const c of cleanups.splice(0).reverse()) c()
  }
  try {
    console.log(
      `disk bench: ${sizeMiB} MiB image, ${availableParallelism()} cores, node ${process.version}`,
    )
    console.log(`storage for every file (Ward and qemu-img alike): ${storage.label}`)

    const raw = await rawThroughput()
    console.log(`XTS backend: ${raw.backend}`)
    if (raw.nativeSync !== undefined) {
      console.log(`  native addon, 1 thread, 4096-byte sectors:  ${fmt(raw.nativeSync)}`)
      console.log(`  native addon, 1 thread, 512-byte sectors:   ${fmt(raw.nativeSync512)}`)
      console.log(`  native addon, async on all cores (4096):    ${fmt(raw.nativeAsync)}`)
    }
    console.log(`  node:crypto baseline (createCipheriv/sector): ${fmt(raw.nodeCrypto)}`)

    const rawPath = join(dir, 'raw.img')
    const wardPath = join(dir, 'ward.luks2')
    const qemuPath = join(dir, 'qemu.luks')
    const kekPath = join(dir, 'kek')
    const qemuSecret = join(dir, 'qemu-pass')
    await writeFile(kekPath, randomBytes(32), { mode: 0o600 })
    await writeFile(qemuSecret, randomBytes(24).toString('base64url'), { mode: 0o600 })
    {
      const h = await open(rawPath, 'w')
      const chunk = Buffer.allocUnsafe(16 * MiB)
      for (let off = 0; off < sizeMiB * MiB; off += chunk.length) {
        randomFillSync(chunk)
        await h.write(chunk, 0, Math.min(chunk.length, sizeMiB * MiB - off), off)
      }
      await h.close()
    }
    const bytes = (await stat(rawPath)).size
    // Warm-up: write and delete a scratch file of the image's size. On a VM whose memory the
    // host backs lazily (and takes back when freed: virtio-balloon free page reporting), page
    // cache pages the guest has not touched lately cost several times more to write (figures:
    // bench/README.md, "Figures from source comments"); this spares the first tool the worst of it.
    const warmUp = async (where) => {
      const scratch = join(where, 'warmup')
      const h = await open(scratch, 'w')
      const chunk = Buffer.alloc(16 * MiB)
      for (let off = 0; off < bytes; off += chunk.length) await h.write(chunk, 0, chunk.length, off)
      await h.close()
      await rm(scratch)
    }
    await warmUp(dir)

    // Best of --runs for every file-based figure (default 1): file I/O on a shared VM is noisy.
    const best = async (fn, before = async () => {}) => {
      let b = Infinity
      for (let r = 0; r < runs; r++) {
        await before()
        const t = now()
        const r = await fn()
        // fn may return its own measured seconds (when it does untimed work after).
        b = Math.min(b, typeof r === 'number' ? r : now() - t)
      }
      return b
    }
    const clearWard = () => rm(wardPath, { force: true })

    let wardSecs, rekeySecs, how, encryptTo
    let wardExtraCa = false
    if (!values.library && (await cliAvailable())) {
      how = 'ward crypto-util disk (CLI, LUKS2 file)'
      const env = { ...process.env, NO_COLOR: '1' }
      // Node 20 read and parsed every certificate of NODE_EXTRA_CA_CERTS when a process started,
      // before any of Ward's code ran (its cost: `--no-extra-ca-certs` above in bench/README.md).
      // Node 24 reads it only when node:tls is loaded, which disk commands
      // never do (strace: no open of the bundle in encrypt / rekey), so it no longer costs Ward
      // anything here. The environment is kept as it is by default; --no-extra-ca-certs drops the
      // variable for Ward's processes (to compare with Node 20 figures taken that way).
      if (values['no-extra-ca-certs']) delete env.NODE_EXTRA_CA_CERTS
      wardExtraCa = env.NODE_EXTRA_CA_CERTS !== undefined
      if (wardExtraCa)
        console.log(
          `note: NODE_EXTRA_CA_CERTS is set (${env.NODE_EXTRA_CA_CERTS}): kept for Ward's processes (Node 24 reads it only when node:tls loads, which disk commands do not; --no-extra-ca-certs to leave it out)`,
        )
      const ward = (...args) =>
        exec(process.execPath, [wardBin, 'crypto-util', 'disk', ...args], { env })
      encryptTo = (raw, out, kek) => ward('encrypt', '--in', raw, '--out', out, '--kek-file', kek)
      wardSecs = await best(() => encryptTo(rawPath, wardPath, kekPath), clearWard)
      rekeySecs = await best(() => ward('rekey', '--deep', '--kek-file', kekPath, wardPath))
    } else {
      how = `library path (${values.library ? '--library' : 'ward crypto-util disk not built yet'}): read -> xts async -> write, 16 MiB chunks, fsync`
      const k1 = randomBytes(64)
      const k2 = randomBytes(64)
      encryptTo = (raw, out) =>
        libPipeline(raw, out, 16 * MiB, (b, s) => xts.xtsEncryptSectorsAsync(k1, b, s, SECTOR))
      wardSecs = await best(() => encryptTo(rawPath, wardPath), clearWard)
      // Each run re-encrypts from k1 to k2 and back, so every run starts from a k1 disk.
      rekeySecs = await best(async () => {
        const t = now()
        await libPipeline(wardPath, wardPath, 16 * MiB, (b, s) =>
          xts.xtsReencryptSectorsAsync(k1, k2, b, s, SECTOR),
        )
        const secs = now() - t
        await libPipeline(wardPath, wardPath, 16 * MiB, (b, s) =>
          xts.xtsReencryptSectorsAsync(k2, k1, b, s, SECTOR),
        )
        return secs
      })
    }
    const wardMiBs = rate(bytes, wardSecs)
    const rekeyMiBs = rate(bytes, rekeySecs)
    console.log(`Ward (${how}):`)
    console.log(`  encrypt:    ${fmt(wardMiBs)} (${wardSecs.toFixed(2)} s)`)
    console.log(`  deep rekey: ${fmt(rekeyMiBs)} (${rekeySecs.toFixed(2)} s)`)
    await clearWard()

    // --compare-shm: Ward's encrypt again, the same way, on /dev/shm (tmpfs with 4 KiB pages,
    // shmem huge pages as the system sets them), so that figure stays visible next to the
    // storage above. Its own copy of the image; removed before the next step.
    let shmMiBs = null
    if (values['compare-shm']) {
      let shmDir
      try {
        shmDir = mkdtempSync('/dev/shm/ward-bench-disk-shm-')
        const d = shmDir
        cleanups.push(() => rmSync(d, { recursive: true, force: true }))
        const shmRaw = join(shmDir, 'raw.img')
        const shmKek = join(shmDir, 'kek')
        const shmOut = join(shmDir, 'ward.luks2')
        copyFileSync(rawPath, shmRaw)
        await writeFile(shmKek, readFileSync(kekPath), { mode: 0o600 })
        await warmUp(shmDir)
        const secs = await best(
          () => encryptTo(shmRaw, shmOut, shmKek),
          () => rm(shmOut, { force: true }),
        )
        shmMiBs = rate(bytes, secs)
        console.log(
          `  encrypt on /dev/shm (${describeFs('/dev/shm')}, --compare-shm): ${fmt(shmMiBs)} (${secs.toFixed(2)} s)`,
        )
      } catch (e) {
        console.log(`  encrypt on /dev/shm: not measured (${e.message})`)
      } finally {
        if (shmDir) rmSync(shmDir, { recursive: true, force: true })
      }
    }

    // Context, not part of the JSON: the same read -> write -> fdatasync pipeline with no
    // cryptography at all is the ceiling any encryptor reaches on this machine's file I/O.
    const floorSecs = await best(
      () => libPipeline(rawPath, wardPath, 16 * MiB, async () => {}),
      clearWard,
    )
    const floorMiBs = rate(bytes, floorSecs)
    console.log(`  I/O floor (same file pipeline, no encryption): ${fmt(floorMiBs)}`)
    console.log(
      `  => Ward encrypt runs at ${((wardMiBs / floorMiBs) * 100).toFixed(0)}% of the I/O floor`,
    )
    await clearWard()

    // qemu-img: iter-time=10 ms so that qemu's default 2 s keyslot PBKDF is not counted
    // against it: the figure is its data path, like Ward's (which unwraps a DEK, no PBKDF).
    const qemuArgs = [
      'convert',
      '-O',
      'luks',
      '--object',
      `secret,id=sec0,file=${qemuSecret}`,
      '-o',
      'key-secret=sec0,cipher-alg=aes-256,cipher-mode=xts,iter-time=10',
      rawPath,
      qemuPath,
    ]
    // qemu's PBKDF calibration fails now and then on fast CPUs ("Unable to get accurate CPU
    // usage": its first timing round reads 0 ms of thread CPU time); such a run is retried, up to
    // ten attempts.
    const qemuOnce = async () => {
      for (let attempt = 1; ; attempt++) {
        await rm(qemuPath, { force: true })
        const t = now()
        try {
          await exec('qemu-img', qemuArgs)
          return now() - t
        } catch (e) {
          if (attempt < 10 && /Unable to get accurate CPU usage/.test(e.message)) continue
          throw e
        }
      }
    }
    let qemuMiBs = null
    try {
      // Best of the runs that completed (a run whose calibration kept failing is left out).
      let b = Infinity
      let lastError
      for (let r = 0; r < runs; r++) {
        try {
          b = Math.min(b, await qemuOnce())
        } catch (e) {
          lastError = e
        }
      }
      if (b === Infinity) throw lastError
      qemuMiBs = rate(bytes, b)
      console.log(`qemu-img convert -O luks (aes-256 xts): ${fmt(qemuMiBs)} (${b.toFixed(2)} s)`)
    } catch (e) {
      console.log(`qemu-img: not measured (${e.message}); is qemu-utils installed?`)
    }
    await rm(qemuPath, { force: true })

    let opensslMiBs = null
    try {
      const out = await exec('openssl', [
        'speed',
        '-evp',
        'aes-256-xts',
        '-bytes',
        '65536',
        '-seconds',
        '3',
      ])
      // "AES-256-XTS  8137519.06k": thousands of bytes (1000, not 1024) per second.
      const m = /^aes-256-xts\s+([\d.]+)k\s*$/im.exec(out)
      if (!m) throw new Error('could not parse `openssl speed` output')
      opensslMiBs = (Number(m[1]) * 1000) / MiB
      console.log(`openssl speed -evp aes-256-xts (64 KiB blocks, 1 core): ${fmt(opensslMiBs)}`)
    } catch (e) {
      console.log(`openssl speed: not measured (${e.message})`)
    }

    const result = {
      bench: 'disk',
      ward_mib_s: round(wardMiBs),
      ward_deep_rekey_mib_s: round(rekeyMiBs),
      qemu_img_mib_s: round(qemuMiBs),
      openssl_xts_mib_s: round(opensslMiBs),
      ratio_vs_qemu_img: qemuMiBs ? Math.round((wardMiBs / qemuMiBs) * 100) / 100 : null,
      ratio_vs_openssl: opensslMiBs ? Math.round((wardMiBs / opensslMiBs) * 100) / 100 : null,
      storage: storage.kind,
      ...(values['compare-shm'] ? { ward_mib_s_dev_shm: round(shmMiBs) } : {}),
      node_extra_ca_certs: wardExtraCa,
    }
    console.log(JSON.stringify(result))
  } finally {
    cleanupStorage()
  }
}

await main()
