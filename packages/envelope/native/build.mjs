#!/usr/bin/env node
// Install hook of @ward/envelope: builds native/ward_xts.node with node-gyp against the headers of
// the Node that runs it (<prefix>/include/node, which carry OpenSSL's too), so nothing is
// downloaded. If the build fails, Ward still works on the node:crypto XTS baseline (correct, about
// ten times slower); the test suite asserts the native backend, so CI notices.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)

function nodeGyp() {
  try {
    return require.resolve('node-gyp/bin/node-gyp.js')
  } catch {
    return process.env.npm_config_node_gyp // the copy bundled with npm
  }
}

// The headers of the runtime that runs this build, which is the one that will load the addon
// (ward_xts resolves OpenSSL's symbols against that node binary, so its OpenSSL headers must be
// that binary's); npm's `nodedir` only when the runtime has none next to it.
function nodeDir() {
  const prefix = resolve(process.execPath, '..', '..')
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) return prefix
  const fromNpm = process.env.npm_config_nodedir
  if (fromNpm && existsSync(join(fromNpm, 'include', 'node', 'node_api.h'))) return fromNpm
  return undefined
}

const gyp = nodeGyp()
const dir = nodeDir()
const why = !gyp
  ? 'node-gyp was not found'
  : !dir
    ? `no Node headers next to ${process.execPath} (expected <prefix>/include/node/node_api.h)`
    : undefined
let ok = false
if (!why) {
  const r = spawnSync(
    process.execPath,
    [gyp, 'rebuild', '--directory', join(pkgDir, 'native'), `--nodedir=${dir}`],
    { stdio: 'inherit', cwd: pkgDir },
  )
  ok = r.status === 0
}
if (!ok) {
  process.stderr.write(
    `@ward/envelope: the native XTS addon was not built (${why ?? 'node-gyp failed, see above'}).\n` +
      'Disk encryption falls back to node:crypto (correct, slower). To build it: install a C ' +
      'toolchain (Debian: build-essential) and the Node headers, then run `npm rebuild -w @ward/envelope`.\n',
  )
}
