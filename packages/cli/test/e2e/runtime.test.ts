import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import {
  chmodSync,
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// Ward runs on Node.js 24 LTS, whatever `node` the machine has (the system one here is 20), and a
// service started the way a user starts it stops on the signal the user sends to that pid.
const ROOT = fileURLToPath(new URL('../../../../../', import.meta.url))
const LAUNCHER = join(ROOT, 'packages/cli/bin/ward')
const dir = mkdtempSync(join(tmpdir(), 'ward-runtime-'))
test.after(() => rmSync(dir, { recursive: true, force: true }))

const major = (v: string): number => Number(v.replace(/^v/, '').split('.')[0])

test('the suite runs on Node.js 24', () => {
  assert.equal(
    major(process.versions.node),
    24,
    `tests run on Node ${process.versions.node}: run them through 'npm test' (scripts/runtime.sh picks Node 24)`,
  )
})

test('ward --version names the Node.js it runs on, in text and JSON', () => {
  const text = spawnSync(LAUNCHER, ['--version'], { encoding: 'utf8' })
  assert.equal(text.status, 0, text.stderr)
  assert.match(text.stdout, /^ward \d+\.\d+\.\d+ \(Node\.js 24\.\d+\.\d+, OpenSSL 3\.\d+\.\d+\)\n$/)
  const json = spawnSync(LAUNCHER, ['--version', '--json'], { encoding: 'utf8' })
  assert.equal(json.status, 0, json.stderr)
  const v = JSON.parse(json.stdout) as { ward: string; node: string; openssl: string }
  assert.equal(major(v.node), 24)
  assert.match(v.ward, /^\d+\.\d+\.\d+$/)
})

test('the launcher picks Node 24 when the only node on PATH is older', (t) => {
  // a PATH whose `node` says it is 20: the launcher must take the pinned runtime instead
  const bin = join(dir, 'old-node')
  rmSync(bin, { recursive: true, force: true })
  spawnSync('mkdir', ['-p', bin])
  writeFileSync(join(bin, 'node'), '#!/bin/sh\necho v20.20.2\nexit 0\n', { mode: 0o755 })
  const r = spawnSync(LAUNCHER, ['--version', '--json'], {
    encoding: 'utf8',
    env: { PATH: `${bin}:/usr/bin:/bin` },
  })
  if (r.status !== 0 && /needs Node\.js 24/.test(r.stderr)) t.diagnostic(r.stderr)
  assert.equal(r.status, 0, r.stderr)
  assert.equal(major((JSON.parse(r.stdout) as { node: string }).node), 24)
})

test('the launcher refuses clearly when no Node 24 can be found', () => {
  // a copy of the launcher with no node_modules above it and an old node on PATH
  const lonely = mkdtempSync(join(tmpdir(), 'ward-lonely-'))
  try {
    copyFileSync(LAUNCHER, join(lonely, 'ward'))
    chmodSync(join(lonely, 'ward'), 0o755)
    writeFileSync(join(lonely, 'node'), '#!/bin/sh\necho v20.20.2\n', { mode: 0o755 })
    const r = spawnSync(join(lonely, 'ward'), ['--version'], {
      encoding: 'utf8',
      env: { PATH: `${lonely}:/bin` },
    })
    assert.equal(r.status, 127)
    assert.match(r.stderr, /needs Node\.js 24 or newer/)
    assert.match(r.stderr, /npm ci/)
  } finally {
    rmSync(lonely, { recursive: true, force: true })
  }
})

test("the launcher uses the user's own node when it is 24 or newer (no pinned package needed)", () => {
  // a copy of the CLI package with no node_modules above it: only PATH's node can run it
  const own = mkdtempSync(join(tmpdir(), 'ward-own-node-'))
  try {
    const bin = join(own, 'bin')
    spawnSync('mkdir', ['-p', bin])
    spawnSync('ln', ['-s', process.execPath, join(bin, 'node')]) // stands in for a system Node 24
    copyFileSync(LAUNCHER, join(bin, 'ward'))
    chmodSync(join(bin, 'ward'), 0o755)
    writeFileSync(
      join(bin, 'ward.js'),
      'console.log(JSON.stringify({ node: process.versions.node, exe: process.execPath }))\n',
    )
    const r = spawnSync(join(bin, 'ward'), [], {
      encoding: 'utf8',
      env: { PATH: `${bin}:/usr/bin:/bin` },
    })
    assert.equal(r.status, 0, r.stderr)
    const v = JSON.parse(r.stdout) as { node: string; exe: string }
    assert.equal(major(v.node), 24)
  } finally {
    rmSync(own, { recursive: true, force: true })
  }
})

test('a symlink to the launcher (ward on PATH) runs Ward on Node 24', () => {
  const onPath = join(dir, 'path-bin')
  spawnSync('mkdir', ['-p', onPath])
  rmSync(join(onPath, 'ward'), { force: true })
  spawnSync('ln', ['-s', LAUNCHER, join(onPath, 'ward')])
  const r = spawnSync('ward', ['--version', '--json'], {
    encoding: 'utf8',
    env: { PATH: `${onPath}:/usr/bin:/bin` },
  })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(major((JSON.parse(r.stdout) as { node: string }).node), 24)
})

test('native addons load in this runtime (better-sqlite3, ward_xts)', async () => {
  const { default: Database } = await import('better-sqlite3')
  const db = new Database(':memory:')
  assert.deepEqual(db.prepare('select 41 + 1 as x').get(), { x: 42 })
  db.close()
  const r = spawnSync(
    process.execPath,
    [
      '-e',
      `require(${JSON.stringify(join(ROOT, 'packages/envelope/native/build/Release/ward_xts.node'))})`,
    ],
    { encoding: 'utf8' },
  )
  assert.equal(r.status, 0, r.stderr)
})

// --- signals -------------------------------------------------------------------------------

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0))
    })
  })
}

const listening = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const c = connect({ port, host: '127.0.0.1' })
    c.once('connect', () => {
      c.destroy()
      resolve(true)
    })
    c.once('error', () => resolve(false))
  })

async function waitFor(
  what: string,
  ok: () => Promise<boolean> | boolean,
  ms = 20_000,
): Promise<void> {
  const end = Date.now() + ms
  for (;;) {
    if (await ok()) return
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Processes whose command line holds `marker` (the test's unique data dir). */
function processesWith(marker: string): number[] {
  const pids: number[] = []
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'latin1')
      const st = readFileSync(`/proc/${p}/stat`, 'latin1')
      if (cmd.includes(marker) && st.slice(st.lastIndexOf(')') + 2)[0] !== 'Z') pids.push(Number(p))
    } catch {
      // gone
    }
  }
  return pids
}

/** The child's end, or a failure after `ms` (a test must never hang on a service that stays up). */
const exited = (
  c: ChildProcess,
  ms = 15_000,
): Promise<{ code: number | null; signal: string | null }> =>
  new Promise((resolve, reject) => {
    if (c.exitCode !== null || c.signalCode !== null) {
      resolve({ code: c.exitCode, signal: c.signalCode })
      return
    }
    const t = setTimeout(() => reject(new Error(`pid ${c.pid} still running after ${ms} ms`)), ms)
    c.once('exit', (code, signal) => {
      clearTimeout(t)
      resolve({ code, signal })
    })
  })

const kmsData = join(dir, 'kms-data')
let initialized = false
function kmsInit(): void {
  if (initialized) return
  const r = spawnSync(LAUNCHER, ['kms', 'init', '--data-dir', kmsData], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  initialized = true
}

const starts = {
  /** what the README shows: `npx ward kms serve ...`, in the repository */
  npx: (args: string[]) => spawn('npx', ['ward', ...args], { cwd: ROOT, stdio: 'ignore' }),
  /** `ward` on PATH (the launcher), as a user who linked it does */
  launcher: (args: string[]) => spawn(LAUNCHER, args, { cwd: dir, stdio: 'ignore' }),
}

for (const [how, start] of Object.entries(starts))
  for (const signal of ['SIGTERM', 'SIGINT'] as const)
    test(`ward kms serve started with ${how}: ${signal} to that pid stops the service and frees its port`, async () => {
      kmsInit()
      const port = await freePort()
      const child = start(['kms', 'serve', '--data-dir', kmsData, '--listen', `127.0.0.1:${port}`])
      try {
        await waitFor(`port ${port}`, () => listening(port))
        assert.ok(processesWith(kmsData).length > 0)
        child.kill(signal)
        const end = await exited(child)
        if (how === 'launcher')
          assert.deepEqual(end, { code: 0, signal: null }, 'exit code is the service’s')
        await waitFor('the service to end', () => processesWith(kmsData).length === 0, 10_000)
        assert.equal(await listening(port), false, 'port still open')
        // and the data dir is usable again right away: a new server starts (no stale lock)
        const again = starts.launcher([
          'kms',
          'serve',
          '--data-dir',
          kmsData,
          '--listen',
          `127.0.0.1:${port}`,
        ])
        await waitFor(`port ${port} again`, () => listening(port))
        again.kill('SIGTERM')
        assert.deepEqual(await exited(again), { code: 0, signal: null })
      } finally {
        for (const p of processesWith(kmsData)) process.kill(p, 'SIGKILL')
      }
    })

test('ward host serve started with npx stops when npx is killed, even with SIGKILL', async () => {
  // SIGKILL cannot be forwarded: the agent notices that its npm wrapper is gone (cli/src/service.ts)
  const hostData = join(dir, 'host-data')
  const init = spawnSync(LAUNCHER, ['host', 'init', '--data-dir', hostData, '--tpm', 'none'], {
    encoding: 'utf8',
  })
  assert.equal(init.status, 0, init.stderr)
  const child = starts.npx(['host', 'serve', '--data-dir', hostData])
  try {
    await waitFor('the admin socket', () => readdirSync(hostData).some((f) => f.endsWith('.sock')))
    child.kill('SIGKILL')
    await exited(child)
    await waitFor('the agent to end', () => processesWith(hostData).length === 0, 10_000)
  } finally {
    for (const p of processesWith(hostData)) process.kill(p, 'SIGKILL')
  }
})
