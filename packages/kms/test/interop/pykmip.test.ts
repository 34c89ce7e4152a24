/**
 * PyKMIP's ProxyKmipClient (Debian python3-pykmip, /usr/bin/python3) against ward kms with
 * KMIP 1.0, 1.1, 1.2, 1.4 and 2.0 headers: DiscoverVersions, Query, Create, Get, GetAttributes,
 * GetAttributeList, Activate, Locate, Encrypt/Decrypt (≥1.2), Revoke, Destroy, Get-after-Destroy.
 * Run against SQLite and against PostgreSQL.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { startFixture } from '../helpers.js'
import type { Fixture } from '../helpers.js'
import { createTestDb, repoRoot } from './pg.js'
import type { TestDb } from './pg.js'

const ex = promisify(execFile)
const script = join(repoRoot, 'packages/kms/test/interop/fixtures/pykmip_smoke.py')
const versions = ['1.0', '1.1', '1.2', '1.4', '2.0'] as const
const expectedSteps: Record<string, number> = {
  '1.0': 10,
  '1.1': 11,
  '1.2': 12,
  '1.4': 12,
  '2.0': 12,
}

async function runSmoke(f: Fixture, version: string): Promise<string> {
  const tls = await f.tls('pykmip-client')
  void tls
  const dir = join(f.dir, 'clients', 'pykmip-client')
  const { stdout } = await ex(
    '/usr/bin/python3',
    [
      script,
      '--port',
      String(f.server.port),
      '--ca',
      join(dir, 'ca.pem'),
      '--cert',
      join(dir, 'pykmip-client.crt'),
      '--key',
      join(dir, 'pykmip-client.key'),
      '--kmip-version',
      version,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  )
  return stdout
}

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`PyKMIP ProxyKmipClient → ward kms (${backend})`, () => {
    let f: Fixture
    let db: TestDb | undefined
    before(async () => {
      if (backend === 'postgres') db = await createTestDb()
      f = await startFixture(db !== undefined ? { db: db.url } : {})
      assert.equal(f.server.backend, backend)
    })
    after(async () => {
      await f.close()
      await db?.drop()
    })
    for (const v of versions) {
      test(`KMIP ${v}: full lifecycle passes`, async () => {
        const out = await runSmoke(f, v)
        assert.match(out, new RegExp(`${expectedSteps[v]} passed, 0 failed`))
        if (v >= '1.2') assert.match(out, /ok {3}Encrypt\/Decrypt/)
        assert.match(out, /ok {3}Get\(destroyed\)/)
      })
    }
  })
}
