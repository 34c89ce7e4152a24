import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// Usage errors, as a new user meets them: one code for the whole CLI (ERR_CLI_USAGE, exit 2), the
// flag at fault named, the closest known flag suggested; a port in use is a coded error naming
// --listen. Before: Node's raw parseArgs text, ERR_KMS_USAGE / ERR_HOST_BAD_ARGUMENT, and
// `--secure-boot=maybe` ended as exit 3 (the code of a real security violation).
const bin = fileURLToPath(new URL('../../../bin/ward', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'ward-usage-'))
test.after(() => rmSync(dir, { recursive: true, force: true }))
const ward = (...args: string[]) => spawnSync(bin, args, { encoding: 'utf8', cwd: dir })

test('an unknown flag names itself and the closest known one, coded', () => {
  const r = ward('kms', 'serve', '--data-dri', dir)
  assert.equal(r.status, 2)
  assert.match(
    r.stderr,
    /unknown option --data-dri \(did you mean --data-dir\?\) \[ERR_CLI_USAGE\]/,
  )
  assert.doesNotMatch(r.stderr, /To specify a positional argument/) // not parseArgs' own text
  const j = ward('crypto-util', 'disk', 'encrypt', '--in-plac', 'x', '--json')
  assert.equal(j.status, 2)
  assert.deepEqual(JSON.parse(j.stdout), {
    error: {
      code: 'ERR_CLI_USAGE',
      message: 'unknown option --in-plac (did you mean --in-place?)',
    },
  })
  const far = ward('kms', 'status', '--zzzzzzzz')
  assert.match(far.stderr, /unknown option --zzzzzzzz \[ERR_CLI_USAGE\]/)
})

test('a flag without its value is a coded usage error', () => {
  const r = ward('kms', 'serve', '--data-dir')
  assert.equal(r.status, 2)
  assert.match(r.stderr, /--data-dir needs a value \[ERR_CLI_USAGE\]/)
})

test('every command family uses the one usage code', () => {
  for (const args of [
    ['kms', 'serve'], // no --data-dir
    ['kms', 'grant', '--data-dir', join(dir, 'nope')],
    ['host', 'init', '--data-dir', join(dir, 'h')], // no --tpm
    ['host', 'serve', '--data-dir', join(dir, 'h'), '--simulate-firmware', '--secure-boot=maybe'],
    ['host', 'serve', '--data-dir', join(dir, 'h'), '--secure-boot=on'], // without --simulate-firmware
    ['crypto-util', 'keys', 'add', '--data-dir', join(dir, 'h')],
  ]) {
    const r = ward(...args)
    assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status} ${r.stderr}`)
    assert.match(r.stderr, /\[ERR_CLI_USAGE\]/, args.join(' '))
  }
})

test('a port in use is ERR_KMS_LISTEN naming --listen, and the data dir is left as it was', async () => {
  const data = join(dir, 'kms')
  assert.equal(ward('kms', 'init', '--data-dir', data).status, 0)
  const blocker = createServer()
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r))
  const port = (blocker.address() as AddressInfo).port
  try {
    const r = ward('kms', 'serve', '--data-dir', data, '--listen', `127.0.0.1:${port}`)
    assert.equal(r.status, 2, r.stderr)
    assert.match(r.stderr, /already in use.*--listen HOST:PORT.*\[ERR_KMS_LISTEN\]/)
    assert.equal(existsSync(join(data, 'server.json')), false, 'no runtime file left behind')
  } finally {
    blocker.close()
  }
})
