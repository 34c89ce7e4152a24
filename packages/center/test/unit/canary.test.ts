/**
 * A canary password, API token, session id and join token planted in a run never appear in any
 * log line, audit row or database table (in clear).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestCenter } from '../helpers.js'
import { makeFixture } from '../samples.js'

test('canary password, token, session id and join token: in no log, audit row or table', async () => {
  const t = await startTestCenter()
  try {
    const f = await makeFixture(t)
    const password = `canary-pw-${Math.random().toString(36).slice(2)}`
    const wrong = `canary-wrong-${Math.random().toString(36).slice(2)}`
    assert.equal(
      (
        await t.request('POST', '/api/ward/users', {
          auth: f.admin,
          body: { name: 'canary', password },
        })
      ).status,
      201,
    )
    await t.request('PUT', '/api/ward/permissions', {
      auth: f.admin,
      body: { object: 'root', principal: 'canary', role: 'Admin', propagate: true },
    })
    const basic = (p: string) => ({
      authorization: `Basic ${Buffer.from(`canary:${p}`).toString('base64')}`,
    })
    await t.request('POST', '/api/session', { headers: basic(wrong) })
    const sid = await t.login('canary', password)
    const { token } = (
      await t.request('POST', '/api/ward/tokens', { auth: sid, body: { name: 'canary' } })
    ).json as { token: string }
    await t.request('GET', '/api/vcenter/datacenter', { auth: { token } })
    await t.request('GET', '/api/vcenter/datacenter?bogus=1', { auth: { token } })
    await t.request('GET', `/api/vcenter/datacenter/${f.dc}`, { auth: sid })
    const join = (
      await t.request('POST', '/api/vcenter/host/join-token', {
        auth: sid,
        body: { datacenter: f.dc },
      })
    ).json as { token: string }
    await t.request('POST', '/api/ward/host/join', {
      body: {
        token: join.token,
        name: 'x',
        address: 'x:1',
        csr: `-----BEGIN CERTIFICATE REQUEST-----${'A'.repeat(80)}`,
      },
    })
    await t.request('DELETE', '/api/session', { auth: sid })
    const canaries = { password, wrong, token, sid, joinToken: join.token }
    const db = t.center.store.db
    const dump: string[] = [...t.logs]
    for (const table of [
      'users',
      'sessions',
      'api_tokens',
      'audit',
      'join_tokens',
      'permissions',
      'roles',
      'hosts',
    ] as const)
      dump.push(JSON.stringify(await db.selectFrom(table).selectAll().execute()))
    const all = dump.join('\n')
    assert.ok(t.logs.length > 10 && all.includes('canary'), 'the run was logged')
    for (const [what, value] of Object.entries(canaries)) {
      assert.ok(!all.includes(value), `${what} leaked`)
      assert.ok(!all.includes(Buffer.from(value).toString('base64')), `${what} leaked as base64`)
    }
  } finally {
    await t.close()
  }
})
