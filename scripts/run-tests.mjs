#!/usr/bin/env node
// Runs every compiled test file (packages/*/dist/test/**/*.test.js, test/e2e) with node:test.
// Usage: node scripts/run-tests.mjs [filter-substring ...]
import { readdirSync, statSync, existsSync } from 'node:fs'
import { join, relative } from 'node:path'
import { spawn } from 'node:child_process'

const root = new URL('..', import.meta.url).pathname
const filters = process.argv.slice(2)
const files = []
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) walk(p)
    else if (name.endsWith('.test.js')) files.push(p)
  }
}
for (const pkg of readdirSync(join(root, 'packages'))) {
  const d = join(root, 'packages', pkg, 'dist', 'test')
  if (existsSync(d)) walk(d)
}
const selected = files
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort()
if (selected.length === 0) {
  console.error('no test files found; run `npm run build` first')
  process.exit(1)
}
const concurrency = process.env.WARD_TEST_CONCURRENCY ?? '2'
const child = spawn(
  process.execPath,
  ['--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...selected],
  { stdio: 'inherit', cwd: root },
)
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
