/**
 * `ward provider native ...` end to end over HTTPS against a served center: create, export (the
 * two steps in one command, the .p12 written 0600, read by openssl), list, import --dry-run and
 * a wrong password refused; the backup password in no output.
 */
import assert from 'node:assert/strict'
import { execFile, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { after, test } from 'node:test'
import { createLogger } from '@ward/core'
import { serveCenter } from '@ward/center'

const ward = fileURLToPath(new URL('../../../bin/ward.js', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'ward-cli-nkp-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const ex = promisify(execFile)
const outputs: string[] = []
const run = async (...args: string[]): Promise<string> => {
  const r = await ex(process.execPath, [ward, ...args], { encoding: 'utf8' })
  outputs.push(r.stdout, r.stderr)
  return r.stdout
}
const fails = async (...args: string[]): Promise<string> => {
  try {
    await ex(process.execPath, [ward, ...args], { encoding: 'utf8' })
  } catch (e) {
    const { stdout, stderr } = e as { stdout: string; stderr: string }
    outputs.push(stdout, stderr)
    return stderr
  }
  throw new Error(`ward ${args.join(' ')} succeeded`)
}

test('ward provider native create, export (openssl reads the file), list, import --dry-run, wrong password', async () => {
  const data = join(dir, 'center')
  const backupPw = 'backup-canary-password-3'
  writeFileSync(join(dir, 'admin.pw'), 'admin-password-nkp\n', { mode: 0o600 })
  writeFileSync(join(dir, 'backup.pw'), `${backupPw}\n`, { mode: 0o600 })
  writeFileSync(join(dir, 'wrong.pw'), 'not-the-backup-password', { mode: 0o600 })
  await run('center', 'init', '--data-dir', data, '--password-file', join(dir, 'admin.pw'))
  const s = await serveCenter({
    dataDir: data,
    listen: '127.0.0.1:0',
    logger: createLogger('center', { level: 'silent' }),
  })
  try {
    const common = ['--session-file', join(dir, 'session.json')]
    await run(
      'login',
      '--center',
      s.url,
      '--password-file',
      join(dir, 'admin.pw'),
      '--ca',
      join(data, 'pki', 'ca.crt'),
      ...common,
    )
    await run('provider', 'native', 'create', 'nkp-1', '--tpm-required', ...common)
    let list = JSON.parse(await run('provider', 'native', 'list', '--json', ...common)) as {
      provider: string
      status: string
    }[]
    assert.deepEqual(
      list.map((p) => [p.provider, p.status]),
      [['nkp-1', 'NOT_BACKED_UP']],
    )
    const out = join(dir, 'nkp-1.p12')
    await run(
      'provider',
      'native',
      'export',
      'nkp-1',
      '--password-file',
      join(dir, 'backup.pw'),
      '--out',
      out,
      ...common,
    )
    assert.equal(statSync(out).mode & 0o777, 0o600)
    const o = spawnSync(
      'openssl',
      ['pkcs12', '-info', '-nokeys', '-in', out, '-passin', `file:${join(dir, 'backup.pw')}`],
      { encoding: 'utf8' },
    )
    assert.equal(o.status, 0, o.stderr)
    list = JSON.parse(await run('provider', 'native', 'list', '--json', ...common)) as typeof list
    assert.equal(list[0]?.status, 'ACTIVE')
    const dry = JSON.parse(
      await run(
        'provider',
        'native',
        'import',
        out,
        '--password-file',
        join(dir, 'backup.pw'),
        '--dry-run',
        '--json',
        ...common,
      ),
    ) as { provider: string; dry_run: boolean; constraints: { tpm_required: boolean } }
    assert.deepEqual(
      [dry.provider, dry.dry_run, dry.constraints.tpm_required],
      ['nkp-1', true, true],
    )
    const wrong = await fails(
      'provider',
      'native',
      'import',
      out,
      '--password-file',
      join(dir, 'wrong.pw'),
      '--dry-run',
      ...common,
    )
    assert.match(wrong, /ERR_CENTER_NKP_BACKUP_PASSWORD/)
    // the provider exists: a real import is refused, nothing changed
    assert.match(
      await fails(
        'provider',
        'native',
        'import',
        out,
        '--password-file',
        join(dir, 'backup.pw'),
        ...common,
      ),
      /ERR_CENTER_EXISTS/,
    )
    await run('provider', 'native', 'delete', 'nkp-1', ...common)
    assert.deepEqual(JSON.parse(await run('provider', 'native', 'list', '--json', ...common)), [])
  } finally {
    await s.close()
  }
  assert.ok(!outputs.join('\n').includes(backupPw), 'the backup password was printed')
})
