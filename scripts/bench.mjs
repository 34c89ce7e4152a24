#!/usr/bin/env node
// npm run bench -- <name> [args]: runs bench/<name>.mjs (after `npm run build`).
// Each benchmark compares Ward with the peer its issue names, in the same run, and prints one
// JSON object as its last line.
import { readdirSync } from 'node:fs'
import { spawn } from 'node:child_process'

const dir = new URL('../bench/', import.meta.url).pathname
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.mjs'))
  .map((f) => f.slice(0, -4))
const [name, ...rest] = process.argv.slice(2)
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- <${available.join('|')}>`)
  process.exit(2)
}
const child = spawn(process.execPath, [dir + name + '.mjs', ...rest], { stdio: 'inherit' })
child.on('exit', (code) => process.exit(code ?? 1))
