/**
 * `ward host encryption enable|status`, `ward cluster encryption set`, `ward center ha status`
 * end to end against a served center over HTTPS (after `ward login`): text and --json, the
 * routes' answers, and the usage refusals.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { after, test } from 'node:test'
import { createLogger } from '@ward/core'
import { serveCenter } from '@ward/center'

const ward = fileURLToPath(new URL('../../../bin/ward.js', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'ward-cli-center-enc-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const ex = promisify(execFile)
const run = async (...args: string[]): Promise<string> =>
  (await ex(process.execPath, [ward, ...args], { encoding: 'utf8' })).stdout
const fails = async (args: string[], code: RegExp): Promise<void> =>
  assert.rejects(run(...args), (e: { stderr?: string; code?: number }) => {
    assert.notEqual(e.code, 0)
    assert.match(e.stderr ?? '', code)
    return true
  })

test('ward host encryption enable|status, ward cluster encryption set, ward center ha status', async () => {
  const data = join(dir, 'center')
  writeFileSync(join(dir, 'admin.pw'), 'admin-password-enc-test\n', { mode: 0o600 })
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
    // HA: the one SQLite process leads
    const ha = JSON.parse(await run('center', 'ha', 'status', '--json', ...common)) as {
      mode: string
      is_leader: boolean
      node: string
      leader: string
    }
    assert.equal(ha.mode, 'sqlite')
    assert.equal(ha.is_leader, true)
    assert.equal(ha.leader, ha.node)
    assert.match(await run('center', 'ha', 'status', ...common), /^Mode: +sqlite$/m)

    // a cluster's encryption mode
    const dc = JSON.parse(await run('datacenter', 'create', 'dc1', '--json', ...common)) as {
      datacenter: string
    }
    const cl = JSON.parse(
      await run('cluster', 'create', 'c1', '--datacenter', dc.datacenter, '--json', ...common),
    ) as { cluster: string }
    const forced = JSON.parse(
      await run(
        'cluster',
        'encryption',
        'set',
        cl.cluster,
        'forceEnable',
        '--provider-id',
        'kp1',
        '--key-id',
        'kek-c1',
        '--json',
        ...common,
      ),
    ) as { cluster: string; crypto_mode: string }
    assert.equal(forced.cluster, cl.cluster)
    assert.equal(forced.crypto_mode, 'forceEnable')
    assert.match(
      await run('cluster', 'encryption', 'set', cl.cluster, 'onDemand', ...common),
      /crypto mode onDemand/,
    )
    const listed = JSON.parse(await run('cluster', 'list', '--json', ...common)) as {
      crypto_mode: string
    }[]
    assert.deepEqual(
      listed.map((c) => c.crypto_mode),
      ['onDemand'],
    )
    await fails(
      ['cluster', 'encryption', 'set', cl.cluster, 'sometimes', ...common],
      /ERR_CLI_USAGE/,
    )
    await fails(
      ['cluster', 'encryption', 'set', cl.cluster, 'forceEnable', '--key-id', 'k', ...common],
      /--provider-id and --key-id together/,
    )
    await fails(['cluster', 'encryption', 'set', cl.cluster, ...common], /CLUSTER MODE/)

    // a host in the inventory that does not answer: its status from the row; enabling is pending
    await s.center.store.db
      .insertInto('hosts')
      .values({
        id: 'host-9101',
        datacenter: dc.datacenter,
        cluster: null,
        name: 'esx-quiet',
        address: '127.0.0.1:1',
        connection_state: 'connected',
        crypto_state: 'incapable',
        tpm_present: 1,
        key_persistence: 0,
        recovery_key_backed_up: 0,
        cert_fingerprint: null,
        created_at: Date.now(),
      })
      .execute()
    const st = JSON.parse(
      await run('host', 'encryption', 'status', 'host-9101', '--json', ...common),
    ) as { host: string; crypto_state: string; tpm_present: boolean; key_persistence: boolean }
    assert.equal(st.host, 'host-9101')
    assert.equal(st.crypto_state, 'incapable')
    assert.equal(st.tpm_present, true)
    assert.equal(st.key_persistence, false)
    assert.match(
      await run('host', 'encryption', 'status', 'host-9101', ...common),
      /^Crypto State: +incapable$/m,
    )
    const en = JSON.parse(
      await run(
        'host',
        'encryption',
        'enable',
        'host-9101',
        '--provider-id',
        'kp1',
        '--key-id',
        'kek-h1',
        '--json',
        ...common,
      ),
    ) as { pending: boolean; host_key: { provider_id: string; key_id: string } }
    assert.equal(en.pending, true)
    assert.deepEqual(en.host_key, { provider_id: 'kp1', key_id: 'kek-h1' })
    await fails(['host', 'encryption', 'enable', 'host-9101', ...common], /--provider-id/)
    await fails(['host', 'encryption', 'status', 'host-424242', ...common], /ERR_CENTER_NOT_FOUND/)
  } finally {
    await s.close()
  }
})
