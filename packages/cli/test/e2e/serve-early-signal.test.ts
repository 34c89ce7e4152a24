// A service's stop handlers are in place before it is reachable: a SIGTERM sent the moment its
// port (kms) or admin socket (host) appears stops it cleanly, exit code 0, never the default
// action's death by signal. `ward kms serve` used to start listening, then write server.json and
// load the logger, and only then install its handlers: 9 of 20 such SIGTERMs killed it (fixed by
// installing them before start-up; runtime.test.ts waits 100 ms between polls and caught it only
// now and then, this test polls every 2 ms and fails at once on the old code).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../../../../', import.meta.url))
const LAUNCHER = join(ROOT, 'packages/cli/bin/ward')
const dir = mkdtempSync(join(tmpdir(), 'ward-early-signal-'))
test.after(() => rmSync(dir, { recursive: true, force: true }))
const ROUNDS = 8

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address()
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0))
    })
  })

const listening = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const c = connect({ port, host: '127.0.0.1' })
    c.once('connect', () => {
      c.destroy()
      resolve(true)
    })
    c.once('error', () => resolve(false))
  })

/** Starts `args`, polls `up` every 2 ms, sends SIGTERM the moment it holds, returns the exit. */
async function stopAtOnce(
  args: string[],
  up: () => Promise<boolean> | boolean,
): Promise<{ code: number | null; signal: string | null }> {
  const child = spawn(LAUNCHER, args, { cwd: dir, stdio: 'ignore' })
  const end = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  try {
    const deadline = Date.now() + 30_000
    while (!(await up())) {
      if (child.exitCode !== null) break
      if (Date.now() > deadline) throw new Error(`${args.join(' ')} did not come up in 30 s`)
      await new Promise((r) => setTimeout(r, 2))
    }
    child.kill('SIGTERM')
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000)
    const r = await end
    clearTimeout(t)
    return r
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
}

test('ward kms serve: SIGTERM as soon as the port accepts stops it cleanly (exit 0)', async () => {
  const data = join(dir, 'kms')
  const init = spawnSync(LAUNCHER, ['kms', 'init', '--data-dir', data], { encoding: 'utf8' })
  assert.equal(init.status, 0, init.stderr)
  for (let i = 0; i < ROUNDS; i++) {
    const port = await freePort()
    const end = await stopAtOnce(
      ['kms', 'serve', '--data-dir', data, '--listen', `127.0.0.1:${port}`],
      () => listening(port),
    )
    assert.deepEqual(end, { code: 0, signal: null }, `round ${i}`)
  }
})

test('ward host serve: SIGTERM as soon as the admin socket exists stops it cleanly (exit 0)', async () => {
  const data = join(dir, 'host')
  const init = spawnSync(LAUNCHER, ['host', 'init', '--data-dir', data, '--tpm', 'none'], {
    encoding: 'utf8',
  })
  assert.equal(init.status, 0, init.stderr)
  for (let i = 0; i < ROUNDS; i++) {
    const end = await stopAtOnce(['host', 'serve', '--data-dir', data], () =>
      existsSync(join(data, 'agent.sock')),
    )
    assert.deepEqual(end, { code: 0, signal: null }, `round ${i}`)
  }
})
