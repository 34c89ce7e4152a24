/**
 * `ward kms objects list|show` and the `grant` warning, through the real CLI binary, on SQLite and
 * PostgreSQL (issue 11 item 10: there was no command listing KMS objects; `grant --object ID`
 * told users to find ids "with a Locate"). Objects are made by a real KMIP client.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { KmipClient, attr, text } from '@ward/kmip'
import { startFixture } from '../helpers.js'
import type { Fixture } from '../helpers.js'
import { createTestDb, repoRoot } from './pg.js'
import type { TestDb } from './pg.js'

const ex = promisify(execFile)
const ward = (...args: string[]) =>
  ex(process.execPath, [join(repoRoot, 'packages/cli/bin/ward.js'), ...args], { encoding: 'utf8' })

interface Summary {
  id: string
  type: string
  algorithm: string | null
  length: number | null
  state: string
  owner: string
  names: string[]
  created: string
  dates: Record<string, string>
  custom: Record<string, string>
  grants?: { identity: string; operations: string[] }[]
}

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`ward kms objects list|show (${backend})`, () => {
    let f: Fixture
    let db: TestDb | undefined
    const clients: KmipClient[] = []
    const client = async (name: string): Promise<KmipClient> => {
      await f.tls(name)
      const d = join(f.dir, 'clients', name)
      const c = new KmipClient({
        servers: [{ host: '127.0.0.1', port: f.server.port }],
        tls: {
          caPem: readFileSync(join(d, 'ca.pem'), 'utf8'),
          certPem: readFileSync(join(d, `${name}.crt`), 'utf8'),
          keyPem: readFileSync(join(d, `${name}.key`), 'utf8'),
        },
      } as never)
      clients.push(c)
      return c
    }
    const dbArgs = (): string[] => (db !== undefined ? ['--db', db.url] : [])
    before(async () => {
      if (backend === 'postgres') db = await createTestDb()
      f = await startFixture(db !== undefined ? { db: db.url } : {})
    })
    after(async () => {
      for (const c of clients) c.close()
      await f.close()
      await db?.drop()
    })

    test('lists every owner’s objects without key material; filters; show; grant warns', async () => {
      const host = await client('ward-host')
      const other = await client('other')
      const a = await host.create({ name: 'disk-kek-1' })
      await host.addAttribute(a, attr('x-Vendor', text(0, 'Ward')))
      await host.activate(a)
      const b = await other.create({ name: 'other-key', length: 128 })
      const keyA = Buffer.from((await host.get(a)).keyMaterial ?? new Uint8Array()).toString('hex')
      const keyB = Buffer.from((await other.get(b)).keyMaterial ?? new Uint8Array()).toString('hex')
      assert.equal(keyA.length, 64)

      const r = await ward('kms', 'objects', 'list', '--data-dir', f.dir, ...dbArgs(), '--json')
      const rows = JSON.parse(r.stdout) as Summary[]
      assert.deepEqual(
        rows.map((o) => o.id),
        [a, b],
      )
      const [ra, rb] = rows as [Summary, Summary]
      assert.equal(ra.type, 'SymmetricKey')
      assert.equal(ra.algorithm, 'AES')
      assert.equal(ra.length, 256)
      assert.equal(ra.state, 'Active')
      assert.equal(ra.owner, 'ward-host')
      assert.deepEqual(ra.names, ['disk-kek-1'])
      assert.equal(ra.custom['x-Vendor'], 'Ward')
      assert.match(ra.dates['Activation Date'] ?? '', /^\d{4}-\d\d-\d\dT/)
      assert.equal(rb.owner, 'other')
      assert.equal(rb.state, 'PreActive')
      assert.equal(rb.length, 128)
      for (const k of [keyA, keyB]) {
        assert.ok(!r.stdout.toLowerCase().includes(k), 'no key bytes (hex)')
        assert.ok(
          !r.stdout.includes(Buffer.from(k, 'hex').toString('base64')),
          'no key bytes (b64)',
        )
      }
      assert.deepEqual(Object.keys(ra).sort(), [
        'algorithm',
        'created',
        'custom',
        'dates',
        'id',
        'length',
        'names',
        'owner',
        'state',
        'type',
        'updated',
      ])

      const only = async (...flags: string[]): Promise<string[]> =>
        (
          JSON.parse(
            (
              await ward(
                'kms',
                'objects',
                'list',
                '--data-dir',
                f.dir,
                ...dbArgs(),
                ...flags,
                '--json',
              )
            ).stdout,
          ) as Summary[]
        ).map((o) => o.id)
      assert.deepEqual(await only('--owner', 'other'), [b])
      assert.deepEqual(await only('--state', 'active'), [a])
      assert.deepEqual(await only('--state', 'pre-active'), [b])
      assert.deepEqual(await only('--type', 'SecretData'), [])
      assert.deepEqual(await only('--type', 'symmetric_key', '--owner', 'ward-host'), [a])
      await assert.rejects(
        ward('kms', 'objects', 'list', '--data-dir', f.dir, ...dbArgs(), '--state', 'Shiny'),
        (e: { stderr: string }) => /ERR_KMS_BAD_FILTER/.test(e.stderr) && /Active/.test(e.stderr),
      )

      const text1 = (await ward('kms', 'objects', 'list', '--data-dir', f.dir, ...dbArgs())).stdout
      assert.match(text1, /^id\s+type\s+algorithm\s+state\s+owner/)
      assert.match(
        text1,
        new RegExp(`${a}\\s+SymmetricKey\\s+AES-256\\s+Active\\s+ward-host\\s+disk-kek-1`),
      )

      // grant: to an identity with no certificate here → a warning (stderr and --json)
      const g = await ward(
        'kms',
        'grant',
        '--data-dir',
        f.dir,
        ...dbArgs(),
        '--object',
        a,
        '--identity',
        'nobody',
        '--operations',
        'get',
        '--json',
      )
      const gj = JSON.parse(g.stdout) as { warnings: string[] }
      assert.equal(gj.warnings.length, 1)
      assert.match(gj.warnings[0] ?? '', /no client certificate was issued for nobody/)
      assert.match(g.stderr, /warning: no client certificate was issued for nobody/)
      const g2 = await ward(
        'kms',
        'grant',
        '--data-dir',
        f.dir,
        ...dbArgs(),
        '--object',
        a,
        '--identity',
        'other',
        '--operations',
        'get',
      )
      assert.equal(g2.stderr, '')
      assert.match(g2.stdout, /other may now get on/)

      const s = JSON.parse(
        (await ward('kms', 'objects', 'show', a, '--data-dir', f.dir, ...dbArgs(), '--json'))
          .stdout,
      ) as Summary
      assert.equal(s.id, a)
      assert.deepEqual(s.grants?.map((x) => x.identity).sort(), ['nobody', 'other'])
      const st = (await ward('kms', 'objects', 'show', a, '--data-dir', f.dir, ...dbArgs())).stdout
      assert.match(st, /algorithm: AES 256 bits/)
      assert.match(st, /x-Vendor:\s+Ward/)
      assert.ok(!st.toLowerCase().includes(keyA))
      await assert.rejects(
        ward('kms', 'objects', 'show', 'no-such-id', '--data-dir', f.dir, ...dbArgs()),
        (e: { stderr: string }) =>
          /ERR_KMS_NOT_FOUND/.test(e.stderr) && /objects list/.test(e.stderr),
      )
      await assert.rejects(
        ward(
          'kms',
          'grant',
          '--data-dir',
          f.dir,
          ...dbArgs(),
          '--object',
          'nope',
          '--identity',
          'x',
          '--operations',
          'get',
        ),
        (e: { stderr: string }) => /ward kms objects list/.test(e.stderr),
      )
    })
  })
}
