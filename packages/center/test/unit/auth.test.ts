/**
 * Sessions (vSphere REST: POST /api/session with basic auth, vmware-api-session-id, DELETE,
 * idle expiry), API tokens (create, use, list, revoke, expiry; stored as HMACs) and lock-out
 * after repeated failed logins (429 with Retry-After and the time in the message).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ADMIN, ADMIN_PASSWORD, startTestCenter } from '../helpers.js'

const basic = (u: string, p: string) => ({
  authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`,
})

test('sessions: basic auth gives an id; the header authenticates; DELETE ends it; idle ones expire', async () => {
  let now = Date.now()
  const t = await startTestCenter({
    options: { accounts: { now: () => now, sessionIdleMs: 60_000 } },
  })
  try {
    const none = await t.request('POST', '/api/session')
    assert.equal(none.status, 401)
    assert.equal((none.json as { error_type: string }).error_type, 'UNAUTHENTICATED')
    const sid = await t.login()
    assert.match(sid, /^[A-Za-z0-9_-]{43}$/)
    // the database keeps only an HMAC of the id
    const rows = await t.center.store.db.selectFrom('sessions').selectAll().execute()
    assert.equal(rows.length, 1)
    assert.notEqual(rows[0]!.id_hmac, sid)
    assert.ok(!JSON.stringify(rows).includes(sid))
    assert.equal((await t.request('GET', '/api/session', { auth: sid })).status, 200)
    now += 59_000
    assert.equal(
      (await t.request('GET', '/api/session', { auth: sid })).status,
      200,
      'use refreshes the idle clock',
    )
    now += 59_000
    assert.equal((await t.request('GET', '/api/session', { auth: sid })).status, 200)
    now += 61_000
    const idle = await t.request('GET', '/api/session', { auth: sid })
    assert.equal(idle.status, 401, 'idle longer than the limit')
    assert.equal((await t.center.store.db.selectFrom('sessions').selectAll().execute()).length, 0)
    const sid2 = await t.login()
    assert.equal((await t.request('DELETE', '/api/session', { auth: sid2 })).status, 204)
    assert.equal((await t.request('GET', '/api/vcenter/datacenter', { auth: sid2 })).status, 401)
    // a wrong password and an unknown user get the same answer
    const wrong = await t.request('POST', '/api/session', {
      headers: basic(ADMIN, 'wrong password!'),
    })
    const unknown = await t.request('POST', '/api/session', {
      headers: basic('nobody', 'wrong password!'),
    })
    assert.equal(wrong.status, 401)
    assert.equal(unknown.status, 401)
    assert.equal((wrong.json as { messages: unknown[] }).messages[0] !== undefined, true)
    assert.deepEqual(
      (wrong.json as { messages: unknown }).messages,
      (unknown.json as { messages: unknown }).messages,
    )
  } finally {
    await t.close()
  }
})

test('lock-out: 5 wrong passwords lock the account for the period, even for the right password; it unlocks after', async () => {
  let now = Date.now()
  const t = await startTestCenter({
    options: { accounts: { now: () => now, maxFailures: 5, lockoutMs: 300_000 } },
  })
  try {
    for (let i = 0; i < 4; i++)
      assert.equal(
        (await t.request('POST', '/api/session', { headers: basic(ADMIN, `wrong-${i}-password`) }))
          .status,
        401,
      )
    const fifth = await t.request('POST', '/api/session', {
      headers: basic(ADMIN, 'wrong-5-password'),
    })
    assert.equal(fifth.status, 429)
    const body = fifth.json as { code: string; messages: { default_message: string }[] }
    assert.equal(body.code, 'ERR_CENTER_LOCKED_OUT')
    const until = new Date(now + 300_000).toISOString()
    assert.ok(body.messages[0]!.default_message.includes(until), body.messages[0]!.default_message)
    assert.equal(fifth.headers['retry-after'], '300')
    const right = await t.request('POST', '/api/session', { headers: basic(ADMIN, ADMIN_PASSWORD) })
    assert.equal(right.status, 429, 'locked: even the right password is refused')
    now += 300_001
    assert.equal(
      (await t.request('POST', '/api/session', { headers: basic(ADMIN, ADMIN_PASSWORD) })).status,
      201,
    )
    // a success resets the count: 4 more failures do not lock
    for (let i = 0; i < 4; i++)
      assert.equal(
        (await t.request('POST', '/api/session', { headers: basic(ADMIN, `again-${i}-password`) }))
          .status,
        401,
      )
    assert.equal(
      (await t.request('POST', '/api/session', { headers: basic(ADMIN, ADMIN_PASSWORD) })).status,
      201,
    )
    const audit = await t.center.store.db
      .selectFrom('audit')
      .selectAll()
      .where('route', '=', '/api/session')
      .execute()
    assert.ok(audit.some((a) => a.outcome === 'locked-out' && a.principal === ADMIN))
    assert.ok(audit.filter((a) => a.outcome === 'unauthenticated').length >= 8)
  } finally {
    await t.close()
  }
})

test('API tokens: created for the caller, shown once, used as Bearer, listed without value, revoked, expired', async () => {
  let now = Date.now()
  const t = await startTestCenter({ options: { accounts: { now: () => now } } })
  try {
    const sid = await t.login()
    const made = await t.request('POST', '/api/ward/tokens', {
      auth: sid,
      body: { name: 'ci', ttl_seconds: 3600 },
    })
    assert.equal(made.status, 201)
    const tok = made.json as { id: string; token: string; user: string }
    assert.equal(tok.user, ADMIN)
    assert.match(tok.token, /^ward_[0-9a-f]{16}_/)
    assert.equal(
      (await t.request('GET', '/api/vcenter/datacenter', { auth: { token: tok.token } })).status,
      200,
    )
    assert.equal(
      (await t.request('GET', '/api/vcenter/datacenter', { auth: { token: `${tok.token}x` } }))
        .status,
      401,
    )
    const list = await t.request('GET', '/api/ward/tokens', { auth: sid })
    assert.deepEqual(
      (list.json as { id: string }[]).map((x) => x.id),
      [tok.id],
    )
    assert.ok(!JSON.stringify(list.json).includes(tok.token))
    const stored = await t.center.store.db.selectFrom('api_tokens').selectAll().execute()
    assert.ok(!JSON.stringify(stored).includes(tok.token), 'stored as an HMAC only')
    now += 3601_000
    assert.equal(
      (await t.request('GET', '/api/vcenter/datacenter', { auth: { token: tok.token } })).status,
      401,
      'expired',
    )
    now -= 3601_000
    assert.equal(
      (await t.request('DELETE', `/api/ward/tokens/${tok.id}`, { auth: sid })).status,
      204,
    )
    assert.equal(
      (await t.request('GET', '/api/vcenter/datacenter', { auth: { token: tok.token } })).status,
      401,
      'revoked',
    )
    assert.equal(
      (await t.request('DELETE', `/api/ward/tokens/${tok.id}`, { auth: sid })).status,
      404,
    )
  } finally {
    await t.close()
  }
})
