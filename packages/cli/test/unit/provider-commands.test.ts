/**
 * `ward provider ...` and `ward key status|gc` as a user types them, against a served center and
 * a real `ward kms serve` (mutual TLS): create with a server, trust the KMS's CA, upload the
 * client certificate and key `ward kms client add` issued, status green, default, the other
 * trust set-ups' outputs (a self-signed certificate, a CSR), server add/remove, key status and
 * gc, delete; the client private key never in any output.
 */
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { after, test } from 'node:test'
import { createLogger } from '@ward/core'
import { serveCenter } from '@ward/center'

const ward = fileURLToPath(new URL('../../../bin/ward.js', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'ward-cli-provider-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const ex = promisify(execFile)
const outputs: string[] = []
const run = async (...args: string[]): Promise<string> => {
  const r = await ex(process.execPath, [ward, ...args], { encoding: 'utf8' })
  outputs.push(r.stdout, r.stderr)
  return r.stdout
}
/** A command that exits 1 (a red status, an unavailable key): its stdout. */
const runFailing = async (...args: string[]): Promise<{ code: number; stdout: string }> => {
  try {
    const out = await run(...args)
    return { code: 0, stdout: out }
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string }
    outputs.push(err.stdout, err.stderr)
    return { code: err.code, stdout: err.stdout }
  }
}

test('ward provider create, trust kms|upload|self-signed|csr, status, default, server add/remove, key status|gc, delete', async () => {
  const data = join(dir, 'center')
  writeFileSync(join(dir, 'admin.pw'), 'admin-password-for-providers\n', { mode: 0o600 })
  await run('center', 'init', '--data-dir', data, '--password-file', join(dir, 'admin.pw'))
  const kmsDir = join(dir, 'kms')
  await run('kms', 'init', '--data-dir', kmsDir)
  await run('kms', 'client', 'add', 'center', '--data-dir', kmsDir, '--out', join(dir, 'cc'))
  const kms = spawn(
    process.execPath,
    [ward, 'kms', 'serve', '--data-dir', kmsDir, '--listen', '127.0.0.1:0'],
    { stdio: 'ignore' },
  )
  const s = await serveCenter({
    dataDir: data,
    listen: '127.0.0.1:0',
    logger: createLogger('center', { level: 'silent' }),
  })
  try {
    let port = 0
    for (let i = 0; i < 600 && port === 0; i++) {
      const rt = join(kmsDir, 'server.json')
      if (existsSync(rt))
        try {
          const j = JSON.parse(readFileSync(rt, 'utf8')) as { pid: number; port: number }
          if (j.pid === kms.pid) port = j.port
        } catch {
          /* being written */
        }
      if (port === 0) await new Promise((r) => setTimeout(r, 50))
    }
    assert.ok(port > 0, 'ward kms serve listens')
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
    const created = JSON.parse(
      await run(
        'provider',
        'create',
        'kp',
        '--server',
        `kms1=127.0.0.1:${port}`,
        '--json',
        ...common,
      ),
    ) as { provider: string; servers: { port: number }[] }
    assert.equal(created.provider, 'kp')
    assert.equal(created.servers[0]!.port, port)
    await run('provider', 'trust', 'kms', 'kp', '--cert-file', join(kmsDir, 'ca.pem'), ...common)
    const up = JSON.parse(
      await run(
        'provider',
        'trust',
        'upload',
        'kp',
        '--cert-file',
        join(dir, 'cc', 'center.crt'),
        '--key-file',
        join(dir, 'cc', 'center.key'),
        '--json',
        ...common,
      ),
    ) as { client_certificate_kind: string }
    assert.equal(up.client_certificate_kind, 'uploaded')
    const st = JSON.parse(await run('provider', 'status', 'kp', '--json', ...common)) as {
      overall_status: string
    }
    assert.equal(st.overall_status, 'green')
    await run('provider', 'default', 'kp', ...common)
    const list = JSON.parse(await run('provider', 'list', '--json', ...common)) as {
      provider: string
      is_default: boolean
    }[]
    assert.deepEqual(
      list.map((p) => [p.provider, p.is_default]),
      [['kp', true]],
    )
    // the other set-ups' outputs, on a second provider
    await run('provider', 'create', 'kp2', ...common)
    await run('provider', 'trust', 'self-signed', 'kp2', '--out', join(dir, 'self.pem'), ...common)
    assert.match(readFileSync(join(dir, 'self.pem'), 'utf8'), /^-----BEGIN CERTIFICATE-----/)
    const csr = JSON.parse(await run('provider', 'trust', 'csr', 'kp2', '--json', ...common)) as {
      csr: string
    }
    assert.match(csr.csr, /BEGIN CERTIFICATE REQUEST/)
    await run('provider', 'server', 'add', 'kp2', '--server', 'k9=127.0.0.1:1', ...common)
    const removed = JSON.parse(
      await run('provider', 'server', 'remove', 'kp2', 'k9', '--json', ...common),
    ) as { servers: unknown[] }
    assert.equal(removed.servers.length, 0)
    // key status: an unknown key is missing in the KMS (exit 1)
    const ks = await runFailing(
      'key',
      'status',
      '--provider',
      'kp',
      'no-such-key',
      '--json',
      ...common,
    )
    assert.equal(ks.code, 1)
    assert.equal((JSON.parse(ks.stdout) as { reason: string }[])[0]!.reason, 'KeyStateMissingInKMS')
    const gc = JSON.parse(await run('key', 'gc', '--grace-seconds', '60', '--json', ...common)) as {
      grace_seconds: number
      keys: unknown[]
    }
    assert.deepEqual(gc, { grace_seconds: 60, keys: [] })
    const ran = JSON.parse(await run('key', 'gc', '--run', '--json', ...common)) as {
      destroyed: unknown[]
    }
    assert.deepEqual(ran.destroyed, [])
    await run('provider', 'delete', 'kp2', ...common)
    const key = readFileSync(join(dir, 'cc', 'center.key'), 'utf8')
      .replace(/-----[^-]+-----/g, '')
      .replace(/\s+/g, '')
    for (const o of outputs) {
      assert.ok(!o.includes(key.slice(20, 80)), 'the client private key was printed')
      assert.doesNotMatch(o, /PRIVATE KEY/)
    }
  } finally {
    await s.close()
    kms.kill('SIGTERM')
  }
})
