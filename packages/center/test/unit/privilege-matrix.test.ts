/**
 * Every operation × Administrator, No cryptography administrator, Read-only, No access and a
 * custom "encrypt but not decrypt" role (a clone of NoCryptoAdmin plus Cryptographer.Encrypt,
 * EncryptNew and RegisterVM, no Decrypt), each given at root: allowed exactly where the role's
 * privileges cover the operation's (the expectation is computed from the operation table and
 * the role table), refused with ERR_CENTER_PERMISSION_DENIED and no state change elsewhere.
 * Run on SQLite and on PostgreSQL.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { operations, type OperationId } from '../../src/api/operations.js'
import type { AnyOp } from '../../src/api/spec.js'
import { systemRole } from '../../src/authz/roles.js'
import type { Privilege } from '../../src/authz/privileges.js'
import { startTestCenter } from '../helpers.js'
import { makeFixture, samples, snapshot, urlOf } from '../samples.js'

const encryptOnlyAdds: Privilege[] = [
  'Cryptographer.Encrypt',
  'Cryptographer.EncryptNew',
  'Cryptographer.RegisterVM',
]

for (const pg of [false, true])
  test(`privilege matrix: every operation × 5 roles (${pg ? 'PostgreSQL' : 'SQLite'})`, async () => {
    const t = await startTestCenter({ pg })
    try {
      const f = await makeFixture(t)
      const clone = await t.request('POST', '/api/ward/roles/NoCryptoAdmin/clone', {
        auth: f.admin,
        body: { name: 'EncryptOnly', add: encryptOnlyAdds },
      })
      assert.equal(clone.status, 201)
      const roles: Record<string, ReadonlySet<Privilege>> = {
        Admin: new Set(systemRole('Admin').privileges),
        NoCryptoAdmin: new Set(systemRole('NoCryptoAdmin').privileges),
        ReadOnly: new Set(systemRole('ReadOnly').privileges),
        NoAccess: new Set(),
        EncryptOnly: new Set([...systemRole('NoCryptoAdmin').privileges, ...encryptOnlyAdds]),
      }
      assert.ok(!roles['EncryptOnly']!.has('Cryptographer.Decrypt'))
      const callers: { role: string; user: string; password: string; sid: string }[] = []
      for (const role of Object.keys(roles)) {
        const user = `as-${role.toLowerCase()}`
        const password = `pw-${role}-secret`
        assert.equal(
          (
            await t.request('POST', '/api/ward/users', {
              auth: f.admin,
              body: { name: user, password },
            })
          ).status,
          201,
        )
        assert.equal(
          (
            await t.request('PUT', '/api/ward/permissions', {
              auth: f.admin,
              body: { object: 'root', principal: user, role, propagate: true },
            })
          ).status,
          200,
        )
        callers.push({ role, user, password, sid: await t.login(user, password) })
      }
      let allowed = 0
      let denied = 0
      for (const [id, raw] of Object.entries(operations)) {
        const op = raw as AnyOp
        const prepare = samples[id as keyof typeof samples]
        if (op.access.kind === 'public') {
          assert.equal(prepare, undefined, `${id} is public and needs no sample`)
          continue
        }
        assert.ok(prepare !== undefined, `${id}: no sample`)
        for (const c of callers) {
          const s = await prepare(f, c)
          const before = await snapshot(t)
          const r = await t.request(op.method, urlOf(op.url, s), {
            auth: s.auth ?? c.sid,
            ...(s.body !== undefined ? { body: s.body } : {}),
          })
          const held = roles[c.role]!
          const where = `${id} as ${c.role}: ${r.status} ${JSON.stringify(r.json)}`
          if (op.access.kind === 'object' && !op.access.privileges.every((p) => held.has(p))) {
            denied++
            assert.equal(r.status, 403, where)
            const body = r.json as {
              code: string
              error_type: string
              messages: { default_message: string }[]
            }
            assert.equal(body.code, 'ERR_CENTER_PERMISSION_DENIED', where)
            assert.equal(body.error_type, 'UNAUTHORIZED', where)
            const lacking = op.access.privileges.find((p) => !held.has(p))!
            assert.ok(body.messages[0]!.default_message.includes(lacking), where)
            assert.equal(await snapshot(t), before, `${where}: a refused request changed state`)
          } else {
            allowed++
            assert.equal(r.status, op.status ?? 200, where)
            if (op.access.kind === 'filter') {
              const visible: boolean = op.access.privileges.every((p) => held.has(p))
              const items = r.json as unknown[]
              assert.equal(
                items.length > 0,
                visible,
                `${where}: a list shows exactly what the role may see`,
              )
            }
          }
        }
      }
      // NoAccess may still log in and out, and see itself; every inventory read is refused
      assert.ok(allowed > 0 && denied > 0)
      // unauthenticated: every operation but the public ones is refused with 401
      for (const [id, raw] of Object.entries(operations)) {
        const op = raw as AnyOp
        if (op.access.kind === 'public') continue
        const s = await samples[
          id as Exclude<OperationId, 'session.create' | 'openapi.get' | 'host.join'>
        ](f, callers[0]!)
        const before = await snapshot(t)
        const r = await t.request(op.method, urlOf(op.url, s), {
          ...(s.body !== undefined ? { body: s.body } : {}),
          auth: 'not-a-session',
        })
        assert.equal(r.status, 401, id)
        assert.equal((r.json as { code: string }).code, 'ERR_CENTER_UNAUTHENTICATED', id)
        assert.equal(await snapshot(t), before, id)
      }
      // each decision was audited: a denied row names the missing privilege
      const rows = await t.center.store.db
        .selectFrom('audit')
        .selectAll()
        .where('outcome', '=', 'denied')
        .execute()
      assert.equal(rows.length, denied)
      assert.ok(rows.every((r) => r.missing !== '' && r.principal.startsWith('as-')))
    } finally {
      await t.close()
    }
  })
