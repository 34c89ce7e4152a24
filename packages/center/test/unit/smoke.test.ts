import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestCenter } from '../helpers.js'

test('login, create a datacenter, list it, log out', async () => {
  const t = await startTestCenter()
  try {
    const sid = await t.login()
    const who = await t.request('GET', '/api/session', { auth: sid })
    assert.equal(who.status, 200)
    assert.equal((who.json as { user: string }).user, 'admin')
    const dc = await t.request('POST', '/api/vcenter/datacenter', {
      auth: sid,
      body: { name: 'dc1' },
    })
    assert.equal(dc.status, 201, JSON.stringify(dc.json))
    assert.match(dc.json as string, /^datacenter-\d+$/)
    assert.match(String(dc.headers['content-type']), /^application\/json/)
    const list = await t.request('GET', '/api/vcenter/datacenter', { auth: sid })
    assert.deepEqual(list.json, [{ datacenter: dc.json, name: 'dc1' }])
    const out = await t.request('DELETE', '/api/session', { auth: sid })
    assert.equal(out.status, 204)
    const after = await t.request('GET', '/api/session', { auth: sid })
    assert.equal(after.status, 401)
    assert.equal((after.json as { code: string }).code, 'ERR_CENTER_UNAUTHENTICATED')
  } finally {
    await t.close()
  }
})
