/**
 * Native key providers without hosts: refused until backed up, the "not backed up" alarm again
 * every 24 hours (an injected clock), the two-step export (one-time token; openssl reads the
 * PKCS#12 with the password and not without), import with dry_run / a wrong password / a
 * foreign file into a new center (same KDK), and a canary password and KDK in no log, audit row
 * or error.
 */
import { describe, it, after, before } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { deriveKek } from '@ward/host'
import { NativeLimits, NOT_BACKED_UP_ALARM } from '../../src/providers/native/native.js'
import { buildPkcs12 } from '../../src/providers/native/pkcs12.js'
import { startTestCenter, type TestCenter } from '../helpers.js'
import { snapshot } from '../samples.js'

const BASE = '/api/vcenter/crypto-manager/kms/providers/native'
const PASSWORD = `nkp-canary-pw-${randomBytes(8).toString('hex')}`
const KDK = randomBytes(32)
const KDK_FORMS = [KDK.toString('base64'), KDK.toString('hex'), KDK.toString('base64url')]

interface Info {
  status: string
  backed_up: boolean
  alarm: { name: string; raises: number; raised: string } | null
  export_time: string | null
  key_id: string
  constraints: { tpm_required: boolean }
}

for (const pg of [false, true])
  describe(`native key provider (center, no hosts; ${pg ? 'PostgreSQL' : 'SQLite'})`, () => {
    let clock = Date.parse('2026-12-03T12:00:00Z')
    let t: TestCenter
    let t2: TestCenter
    let admin: string
    const tmp = mkdtempSync(join(tmpdir(), 'ward-nkp-unit-'))
    const errors: string[] = []
    let file: Buffer

    before(async () => {
      t = await startTestCenter({ pg, options: { now: () => clock } })
      t2 = await startTestCenter({ pg })
      admin = await t.login()
    })
    after(async () => {
      await t?.close()
      await t2?.close()
      rmSync(tmp, { recursive: true, force: true })
    })

    const req = async (
      c: TestCenter,
      method: string,
      url: string,
      body?: unknown,
      auth?: string,
    ): Promise<{ status: number; json: unknown }> => {
      const r = await c.request(method, url, {
        auth: auth ?? (c === t ? admin : await c.login()),
        ...(body !== undefined ? { body } : {}),
      })
      if (r.status >= 400) errors.push(JSON.stringify(r.json))
      return r
    }

    it("create (with a given KDK): refused until backed up, with the seed's rule; the alarm is raised", async () => {
      const r = await req(t, 'POST', BASE, {
        provider: 'nkp-a',
        native_spec: { key_derivation_key: KDK.toString('base64') },
        constraints: { tpm_required: true },
      })
      assert.equal(r.status, 201, JSON.stringify(r.json))
      assert.equal(r.json, 'nkp-a')
      const dup = await req(t, 'POST', BASE, { provider: 'nkp-a' })
      assert.equal(dup.status, 409)
      const rt = t.center.nkp.runtime('nkp-a')
      await assert.rejects(rt.newKek({ vmId: 'vm-1' }), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'ERR_CENTER_NKP_NOT_BACKED_UP')
        assert.match(e.message, /cannot be used until it is backed up at least once/)
        return true
      })
      await assert.rejects(rt.deliverKek('k', { hostId: 'host-1' }), {
        code: 'ERR_CENTER_NKP_NOT_BACKED_UP',
      })
      const g = (await req(t, 'GET', `${BASE}/nkp-a`)).json as Info
      assert.equal(g.status, 'NOT_BACKED_UP')
      assert.equal(g.backed_up, false)
      assert.deepEqual(g.constraints, { tpm_required: true })
      assert.match(g.key_id, /^[0-9a-f-]{36}$/)
      assert.equal(g.alarm?.name, NOT_BACKED_UP_ALARM)
      assert.equal(g.alarm?.raises, 1)
      assert.ok(t.logs.some((l) => l.includes('alarm: native key provider not backed up')))
    })

    it('the not-backed-up alarm comes back every 24 hours, not before', async () => {
      clock += NativeLimits.alarmEveryMs - 60_000
      assert.equal(((await req(t, 'GET', `${BASE}/nkp-a`)).json as Info).alarm?.raises, 1)
      clock += 60_000
      const g = (await req(t, 'GET', `${BASE}/nkp-a`)).json as Info
      assert.equal(g.alarm?.raises, 2)
      assert.equal(g.alarm?.raised, new Date(clock).toISOString())
      clock += NativeLimits.alarmEveryMs
      const list = (await req(t, 'GET', BASE)).json as Info[]
      assert.equal(list[0]?.alarm?.raises, 3)
    })

    it('export in two steps: a one-time token, then the PKCS#12; openssl reads it with the password only', async () => {
      const e = await req(t, 'POST', `${BASE}/nkp-a/export`, { password: PASSWORD })
      assert.equal(e.status, 200, JSON.stringify(e.json))
      const ex = e.json as {
        type: string
        location: { url: string; download_token: { token: string; expiry: string } }
      }
      assert.equal(ex.type, 'NATIVE')
      assert.equal(ex.location.url, `${BASE}/nkp-a/export/download`)
      assert.ok(!ex.location.url.includes(ex.location.download_token.token), 'no token in the URL')
      // not backed up until the file was downloaded
      assert.equal(((await req(t, 'GET', `${BASE}/nkp-a`)).json as Info).backed_up, false)
      // the token is for this provider only
      await req(t, 'POST', BASE, { provider: 'nkp-b' })
      const other = await req(t, 'POST', `${BASE}/nkp-b/export/download`, {
        token: ex.location.download_token.token,
      })
      assert.equal(other.status, 403)
      assert.equal((other.json as { code: string }).code, 'ERR_CENTER_NKP_EXPORT_TOKEN')
      const d = await req(t, 'POST', ex.location.url, { token: ex.location.download_token.token })
      assert.equal(d.status, 200)
      const dl = d.json as { file_name: string; content_type: string; config: string }
      assert.equal(dl.file_name, 'nkp-a.p12')
      assert.equal(dl.content_type, 'application/x-pkcs12')
      file = Buffer.from(dl.config, 'base64')
      const again = await req(t, 'POST', ex.location.url, {
        token: ex.location.download_token.token,
      })
      assert.equal(again.status, 403, 'the token works once')
      // backed up now: alarm cleared, usable, keys are the NKP's
      const g = (await req(t, 'GET', `${BASE}/nkp-a`)).json as Info
      assert.equal(g.backed_up, true)
      assert.equal(g.alarm, null)
      assert.equal(g.status, 'ACTIVE', 'no host in a cluster: nothing to push')
      assert.equal(g.export_time, new Date(clock).toISOString())
      const rt = t.center.nkp.runtime('nkp-a')
      const { kekId } = await rt.newKek({ vmId: 'vm-1' })
      assert.match(kekId, /^[0-9a-f-]{36}$/)
      assert.notEqual((await rt.newKek({})).kekId, kekId)
      assert.equal(await rt.keyState(kekId), 'KeyStateManagedByNKP')
      // checked independently: openssl reads it with the password (from a file, not argv)
      const p12 = join(tmp, 'nkp-a.p12')
      writeFileSync(p12, file, { mode: 0o600 })
      writeFileSync(join(tmp, 'pw'), PASSWORD, { mode: 0o600 })
      writeFileSync(join(tmp, 'wrong'), 'not the password', { mode: 0o600 })
      const info = spawnSync(
        'openssl',
        ['pkcs12', '-info', '-nokeys', '-in', p12, '-passin', `file:${join(tmp, 'pw')}`],
        { encoding: 'utf8' },
      )
      assert.equal(info.status, 0, info.stderr)
      assert.match(info.stderr, /MAC: sha256/)
      assert.match(info.stderr, /PBES2, PBKDF2, AES-256-CBC/)
      assert.match(info.stderr, /PRF hmacWithSHA256/)
      assert.match(info.stderr + info.stdout, /Secret bag/)
      assert.match(info.stdout, /friendlyName: nkp-a/)
      const bad = spawnSync(
        'openssl',
        ['pkcs12', '-info', '-nokeys', '-in', p12, '-passin', `file:${join(tmp, 'wrong')}`],
        { encoding: 'utf8' },
      )
      assert.notEqual(bad.status, 0)
      assert.match(bad.stderr, /Mac verify error/)
    })

    it('import into a new center: a wrong password and a foreign file are refused; dry_run changes nothing; then the same KDK', async () => {
      const before = await snapshot(t2)
      const wrong = await req(t2, 'POST', `${BASE}/import`, {
        config: file.toString('base64'),
        password: 'not the password',
      })
      assert.equal(wrong.status, 403)
      assert.equal((wrong.json as { code: string }).code, 'ERR_CENTER_NKP_BACKUP_PASSWORD')
      const foreign = await req(t2, 'POST', `${BASE}/import`, {
        config: buildPkcs12(Buffer.from('{"format":"other"}'), 'x', Buffer.from(PASSWORD)).toString(
          'base64',
        ),
        password: PASSWORD,
      })
      assert.equal(foreign.status, 400)
      assert.equal((foreign.json as { code: string }).code, 'ERR_CENTER_NKP_BACKUP_FORMAT')
      const garbage = await req(t2, 'POST', `${BASE}/import`, {
        config: randomBytes(300).toString('base64'),
        password: PASSWORD,
      })
      assert.equal((garbage.json as { code: string }).code, 'ERR_CENTER_NKP_BACKUP_FORMAT')
      const dry = await req(t2, 'POST', `${BASE}/import`, {
        config: file.toString('base64'),
        password: PASSWORD,
        dry_run: true,
      })
      assert.equal(dry.status, 200, JSON.stringify(dry.json))
      const original = (await req(t, 'GET', `${BASE}/nkp-a`)).json as Info
      assert.deepEqual(dry.json, {
        provider: 'nkp-a',
        type: 'NATIVE',
        native_info: { key_id: original.key_id },
        export_time: original.export_time,
        constraints: { tpm_required: true },
        dry_run: true,
      })
      assert.equal(await snapshot(t2), before, 'dry_run changed nothing')
      assert.equal(((await req(t2, 'GET', BASE)).json as unknown[]).length, 0)
      const real = await req(t2, 'POST', `${BASE}/import`, {
        config: file.toString('base64'),
        password: PASSWORD,
      })
      assert.equal(real.status, 200)
      assert.equal((real.json as { dry_run: boolean }).dry_run, false)
      const g = (await req(t2, 'GET', `${BASE}/nkp-a`)).json as Info
      assert.equal(g.backed_up, true, 'restored from a backup: backed up')
      assert.equal(g.key_id, original.key_id)
      // the same KDK, under the new center's master key: the hosts derive the same KEKs
      const kdkOf = async (c: TestCenter): Promise<Buffer> => {
        const row = await c.center.store.db
          .selectFrom('key_providers')
          .select('sealed')
          .where('id', '=', 'nkp-a')
          .executeTakeFirstOrThrow()
        return c.center.sealer.open('key_providers/nkp-a', row.sealed!).use((k) => Buffer.from(k))
      }
      const [a, b] = [await kdkOf(t), await kdkOf(t2)]
      assert.deepEqual(a, KDK)
      assert.deepEqual(b, KDK)
      const kek = (k: Buffer) => deriveKek(k, 'nkp-a', 'kek-1').use((x) => Buffer.from(x))
      assert.deepEqual(kek(a), kek(b))
      const twice = await req(t2, 'POST', `${BASE}/import`, {
        config: file.toString('base64'),
        password: PASSWORD,
      })
      assert.equal(twice.status, 409)
      // the provider's sealed row opens only as its own row
      assert.equal(
        ((await req(t2, 'GET', `${BASE}/nkp-zz`)).json as { code: string }).code,
        'ERR_CENTER_NOT_FOUND',
      )
    })

    it('an export token expires; delete removes the provider; a bad KDK at creation is refused', async () => {
      const short = await req(t, 'POST', BASE, {
        provider: 'nkp-c',
        native_spec: { key_derivation_key: Buffer.alloc(33).toString('base64') },
      })
      assert.equal(short.status, 400)
      // an export token expires after 5 minutes
      const e = (await req(t, 'POST', `${BASE}/nkp-a/export`, { password: PASSWORD })).json as {
        location: { url: string; download_token: { token: string } }
      }
      clock += NativeLimits.exportTokenMs
      const late = await req(t, 'POST', e.location.url, { token: e.location.download_token.token })
      assert.equal((late.json as { code: string }).code, 'ERR_CENTER_NKP_EXPORT_TOKEN')
      assert.equal((await req(t, 'DELETE', `${BASE}/nkp-b`)).status, 204)
      assert.equal((await req(t, 'GET', `${BASE}/nkp-b`)).status, 404)
      assert.equal((await req(t, 'POST', BASE, { provider: 'ward-nkp-kdk' })).status, 400)
    })

    it('the canary password and KDK are in no log, audit row, error or table in clear', async () => {
      const tables = async (c: TestCenter): Promise<string> => {
        const db = c.center.store.db
        const rows = [
          await db.selectFrom('audit').selectAll().execute(),
          await db.selectFrom('key_providers').selectAll().execute(),
          await db.selectFrom('native_providers').selectAll().execute(),
          await db.selectFrom('nkp_exports').selectAll().execute(),
        ]
        return JSON.stringify(rows, (_k, v: unknown) =>
          v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
        )
      }
      const all = [...t.logs, ...t2.logs, ...errors, await tables(t), await tables(t2)].join('\n')
      assert.ok(t.logs.length > 0 && errors.length > 0)
      assert.ok(!all.includes(PASSWORD), 'the backup password leaked')
      for (const k of KDK_FORMS) assert.ok(!all.includes(k), 'the KDK leaked')
    })
  })
