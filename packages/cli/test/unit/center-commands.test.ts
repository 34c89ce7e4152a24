/**
 * The center commands end to end, as a user types them: `ward center init` (password from a 0600
 * file), a served center over HTTPS, `ward login` (session kept 0600), `ward user add`,
 * `ward role clone`, `ward permission set|list`, `ward datacenter|cluster create`, `ward host
 * add|list`, `ward logout`; and the
 * passwords never in any output.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { after, test } from 'node:test'
import { createLogger } from '@ward/core'
import { serveCenter } from '@ward/center'

const ward = fileURLToPath(new URL('../../../bin/ward.js', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'ward-cli-center-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const ex = promisify(execFile)
const outputs: string[] = []
const run = async (...args: string[]): Promise<string> => {
  const r = await ex(process.execPath, [ward, ...args], { encoding: 'utf8' })
  outputs.push(r.stdout, r.stderr)
  return r.stdout
}

test('ward center init, login, user add, role clone, permission set/list, host add, logout', async () => {
  const data = join(dir, 'center')
  const adminPw = 'admin-canary-password-1'
  const alicePw = 'alice-canary-password-2'
  writeFileSync(join(dir, 'admin.pw'), `${adminPw}\n`, { mode: 0o600 })
  writeFileSync(join(dir, 'alice.pw'), alicePw, { mode: 0o600 })
  const init = JSON.parse(
    await run(
      'center',
      'init',
      '--data-dir',
      data,
      '--password-file',
      join(dir, 'admin.pw'),
      '--json',
    ),
  ) as { admin: string; caFingerprint: string }
  assert.equal(init.admin, 'admin')
  assert.match(init.caFingerprint, /^sha256:/)
  const s = await serveCenter({
    dataDir: data,
    listen: '127.0.0.1:0',
    logger: createLogger('center', { level: 'silent' }),
  })
  try {
    const session = join(dir, 'session.json')
    const common = ['--session-file', session]
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
    assert.equal(statSync(session).mode & 0o777, 0o600)
    await run('user', 'add', 'alice', '--password-file', join(dir, 'alice.pw'), ...common)
    const role = JSON.parse(
      await run(
        'role',
        'clone',
        'NoCryptoAdmin',
        'EncryptOnly',
        '--add',
        'Cryptographer.Encrypt,Cryptographer.EncryptNew',
        '--json',
        ...common,
      ),
    ) as { name: string; privileges: string[] }
    assert.equal(role.name, 'EncryptOnly')
    assert.ok(
      role.privileges.includes('Cryptographer.Encrypt') &&
        !role.privileges.includes('Cryptographer.Decrypt'),
    )
    await run(
      'permission',
      'set',
      '--object',
      'root',
      '--principal',
      'alice',
      '--role',
      'EncryptOnly',
      ...common,
    )
    const perms = JSON.parse(await run('permission', 'list', '--json', ...common)) as {
      principal: string
      role: string
    }[]
    assert.deepEqual(perms.map((p) => `${p.principal}:${p.role}`).sort(), [
      'admin:Admin',
      'alice:EncryptOnly',
    ])
    const users = JSON.parse(await run('user', 'list', '--json', ...common)) as { name: string }[]
    assert.deepEqual(
      users.map((u) => u.name),
      ['admin', 'alice'],
    )
    const dc = JSON.parse(await run('datacenter', 'create', 'dc1', '--json', ...common)) as {
      datacenter: string
    }
    const cl = JSON.parse(
      await run('cluster', 'create', 'c1', '--datacenter', dc.datacenter, '--json', ...common),
    ) as { cluster: string }
    const tok = JSON.parse(
      await run(
        'host',
        'add',
        '--datacenter',
        dc.datacenter,
        '--cluster',
        cl.cluster,
        '--json',
        ...common,
      ),
    ) as { token: string; expires: string }
    assert.match(tok.token, /^wardjoin_/)
    const dcs = JSON.parse(await run('datacenter', 'list', '--json', ...common)) as {
      name: string
    }[]
    assert.deepEqual(
      dcs.map((d) => d.name),
      ['dc1'],
    )
    assert.deepEqual(JSON.parse(await run('host', 'list', '--json', ...common)), [])
    await run('logout', ...common)
    assert.ok(!existsSync(session))
    await assert.rejects(run('role', 'list', ...common), (e: { stderr?: string }) =>
      /ERR_CENTER_LOGIN_FILE/.test(e.stderr ?? ''),
    )
    const all = outputs.join('\n')
    assert.ok(!all.includes(adminPw) && !all.includes(alicePw), 'a password was printed')
  } finally {
    await s.close()
  }
})
