import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// A new user's first minutes, on a machine whose only `node` is the system's (Node 20 here): clone,
// then the README's two commands. The first must leave a `ward` that runs on Node 24; the second
// (`npm test`, narrowed to the runtime tests so it does not run this file again) must install,
// build, lint and test on Node 24 from that clone.
const ROOT = fileURLToPath(new URL('../../../../../', import.meta.url))

/** A login-like environment: no npm variables, no node_modules/.bin of this run on PATH. */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env))
    if (!/^(npm_|NODE_|WARD_|INIT_CWD$)/i.test(k)) env[k] = v
  env.PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  return env
}

const sh = (cmd: string, cwd: string) =>
  spawnSync('bash', ['-c', cmd], { cwd, env: userEnv(), encoding: 'utf8', timeout: 30 * 60_000 })

test("a fresh clone runs the README's two commands on Node 24", { timeout: 40 * 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-clone-'))
  try {
    const clone = spawnSync('git', ['clone', '--quiet', ROOT, join(dir, 'ward')], {
      encoding: 'utf8',
    })
    assert.equal(clone.status, 0, clone.stderr)
    const repo = join(dir, 'ward')
    const system = sh('node --version', repo)
    const first = sh(
      'npm ci && npm run build && npx ward --help && npx ward --version --json',
      repo,
    )
    assert.equal(first.status, 0, `${first.stdout.slice(-2000)}\n${first.stderr.slice(-4000)}`)
    assert.match(first.stdout, /Usage: ward <command>/)
    const version = JSON.parse(first.stdout.trim().split('\n').at(-1) ?? '{}') as { node?: string }
    assert.match(version.node ?? '', /^24\./, `system node ${system.stdout.trim()}`)
    const second = sh('npm test -- runtime.test', repo)
    assert.equal(second.status, 0, `${second.stdout.slice(-4000)}\n${second.stderr.slice(-4000)}`)
    assert.match(second.stdout, /ℹ pass \d+/)
    assert.match(second.stdout, /ℹ fail 0/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
