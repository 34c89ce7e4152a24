import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// Server logs: a readable one-line form or JSON lines, chosen by --log-format, WARD_LOG_FORMAT,
// else by whether stdout is a terminal (here a pipe: JSON). Before: JSON only, no flag.
const bin = fileURLToPath(new URL('../../../bin/ward', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'ward-logfmt-'))
test.after(() => rmSync(dir, { recursive: true, force: true }))
const kms = join(dir, 'kms')

/** Starts `ward kms serve` and resolves with its first stdout line, then stops it. */
async function firstLine(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const env2: NodeJS.ProcessEnv = { ...process.env, ...env }
  if (!('WARD_LOG_FORMAT' in env)) delete env2['WARD_LOG_FORMAT']
  const p = spawn(bin, ['kms', 'serve', '--data-dir', kms, '--listen', '127.0.0.1:0', ...args], {
    env: env2,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  p.stderr.on('data', (b: Buffer) => (err += b.toString()))
  try {
    return await new Promise<string>((res, rej) => {
      p.stdout.on('data', (b: Buffer) => {
        out += b.toString()
        const i = out.indexOf('\n')
        if (i >= 0) res(out.slice(0, i))
      })
      p.on('exit', (code) => rej(new Error(`serve exited ${code}: ${err}`)))
    })
  } finally {
    p.kill('SIGTERM')
    await new Promise((r) => (p.exitCode !== null ? r(null) : p.on('exit', r)))
  }
}

test('ward kms serve --log-format pretty|json, WARD_LOG_FORMAT, JSON on a pipe', async () => {
  assert.equal(spawnSync(bin, ['kms', 'init', '--data-dir', kms]).status, 0)
  const plain = await firstLine([])
  assert.equal((JSON.parse(plain) as { component: string }).component, 'kms')
  const json = await firstLine(['--log-format', 'json'], { WARD_LOG_FORMAT: 'pretty' })
  assert.equal((JSON.parse(json) as { component: string }).component, 'kms')
  const pretty = await firstLine(['--log-format', 'pretty'])
  assert.match(pretty, /^\d\d:\d\d:\d\d\.\d{3} (INFO |WARN ) kms: \S/)
  assert.throws(() => JSON.parse(pretty))
  const env = await firstLine([], { WARD_LOG_FORMAT: 'pretty' })
  assert.match(env, /^\d\d:\d\d:\d\d\.\d{3} (INFO |WARN ) kms: /)
})

test('a bad --log-format or WARD_LOG_FORMAT is a usage error (kms serve, host serve)', () => {
  const env = { ...process.env }
  delete env['WARD_LOG_FORMAT']
  const r = spawnSync(bin, ['kms', 'serve', '--data-dir', kms, '--log-format', 'xml'], {
    encoding: 'utf8',
    env,
  })
  assert.equal(r.status, 2)
  assert.match(r.stderr, /--log-format must be json or pretty \(got xml\) \[ERR_CLI_USAGE\]/)
  const h = spawnSync(bin, ['host', 'serve', '--data-dir', join(dir, 'h'), '--log-format', 'xml'], {
    encoding: 'utf8',
    env,
  })
  assert.equal(h.status, 2)
  assert.match(h.stderr, /--log-format must be json or pretty/)
  const e = spawnSync(bin, ['kms', 'serve', '--data-dir', kms], {
    encoding: 'utf8',
    env: { ...env, WARD_LOG_FORMAT: 'yaml' },
  })
  assert.equal(e.status, 2)
  assert.match(e.stderr, /WARD_LOG_FORMAT must be json or pretty \(got yaml\)/)
})
