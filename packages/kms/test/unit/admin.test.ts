/** `ward kms init | client add | status | grant` through the real CLI binary. */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { repoRoot } from '../interop/pg.js'

const ex = promisify(execFile)
const ward = (...args: string[]) =>
  ex(process.execPath, [join(repoRoot, 'packages/cli/bin/ward.js'), ...args], { encoding: 'utf8' })

test('ward kms init, client add, status --json, grant errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-kms-cli-'))
  try {
    const d = join(dir, 'kms')
    await ward('kms', 'init', '--data-dir', d)
    for (const f of ['master.key', 'ca.key', 'server.key'])
      assert.equal(statSync(join(d, f)).mode & 0o777, 0o600, f)
    const server = new X509Certificate(readFileSync(join(d, 'server.crt')))
    const ca = new X509Certificate(readFileSync(join(d, 'ca.pem')))
    assert.ok(server.verify(ca.publicKey))
    assert.match(server.subjectAltName ?? '', /DNS:localhost/)
    assert.match(server.subjectAltName ?? '', /IP Address:127\.0\.0\.1/)
    await assert.rejects(ward('kms', 'init', '--data-dir', d), (e: { stderr: string }) =>
      e.stderr.includes('ERR_KMS_ALREADY_INITIALIZED'),
    )

    const { stdout } = await ward(
      'kms',
      'client',
      'add',
      'vcenter',
      '--data-dir',
      d,
      '--out',
      join(dir, 'out'),
      '--json',
    )
    const files = JSON.parse(stdout) as { cert: string; key: string; ca: string }
    assert.equal(statSync(files.key).mode & 0o777, 0o600)
    const cert = new X509Certificate(readFileSync(files.cert))
    assert.ok(cert.verify(ca.publicKey))
    assert.match(cert.subject, /CN=vcenter/)
    assert.ok(cert.toLegacyObject().ext_key_usage?.includes('1.3.6.1.5.5.7.3.2'), 'EKU clientAuth')
    await assert.rejects(
      ward('kms', 'client', 'add', 'bad name!', '--data-dir', d, '--out', join(dir, 'o2')),
      (e: { stderr: string }) => e.stderr.includes('ERR_KMS_BAD_CLIENT_NAME'),
    )

    const st = JSON.parse((await ward('kms', 'status', '--data-dir', d, '--json')).stdout) as {
      backend: string
      listening: unknown
      clients: { name: string }[]
      objectsByState: Record<string, number>
    }
    assert.equal(st.backend, 'sqlite')
    assert.equal(st.listening, null)
    assert.deepEqual(
      st.clients.map((c) => c.name),
      ['vcenter'],
    )
    assert.deepEqual(st.objectsByState, {})
    await assert.rejects(
      ward(
        'kms',
        'grant',
        '--data-dir',
        d,
        '--object',
        'nope',
        '--identity',
        'x',
        '--operations',
        'get',
      ),
      (e: { stderr: string }) => e.stderr.includes('ERR_KMS_NOT_FOUND'),
    )
    await assert.rejects(
      ward('kms', 'status', '--data-dir', join(dir, 'none')),
      (e: { stderr: string }) => e.stderr.includes('ERR_KMS_NOT_INITIALIZED'),
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('ward kms through the CLI: a symlink in --out and a data dir others can read are refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-kms-cli-'))
  try {
    const d = join(dir, 'kms')
    await ward('kms', 'init', '--data-dir', d)
    assert.equal(statSync(d).mode & 0o777, 0o700)
    const out = join(dir, 'out')
    await ward('kms', 'client', 'add', 'esx', '--data-dir', d, '--out', out)
    const victim = join(dir, 'victim')
    writeFileSync(victim, 'keep\n')
    rmSync(join(out, 'esx.crt'))
    symlinkSync(victim, join(out, 'esx.crt'))
    await assert.rejects(
      ward('kms', 'client', 'add', 'esx', '--data-dir', d, '--out', out),
      (e: { stderr: string }) => e.stderr.includes('ERR_KMS_CLIENT_OUT'),
    )
    assert.equal(readFileSync(victim, 'utf8'), 'keep\n')
    chmodSync(d, 0o755)
    await assert.rejects(
      ward('kms', 'status', '--data-dir', d),
      (e: { stderr: string }) =>
        e.stderr.includes('ERR_KMS_DATA_DIR_MODE') && e.stderr.includes(`chmod 700 ${d}`),
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
