/**
 * Standard and native providers side by side: provider.list shows both, the server and trust
 * routes refuse a native one (it has its own, under native/), key status reports the seed's
 * KeyStateManagedByNKP for its keys, and the default provider may be a native one.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { startTestCenter } from '../helpers.js'

const P = '/api/vcenter/crypto-manager/kms/providers'

test('a native provider among the key providers: listed, standard-only routes refused, ManagedByNKP, default', async () => {
  const t = await startTestCenter()
  try {
    const auth = await t.login()
    const req = (method: string, url: string, body?: unknown) =>
      t.request(method, url, { auth, ...(body !== undefined ? { body } : {}) })
    assert.equal((await req('POST', `${P}/native`, { provider: 'nkp1' })).status, 201)
    assert.equal((await req('POST', P, { provider: 'kms1' })).status, 201)
    const list = (await req('GET', P)).json as { provider: string; type: string }[]
    assert.deepEqual(list.map((p) => [p.provider, p.type]).sort(), [
      ['kms1', 'standard'],
      ['nkp1', 'native'],
    ])
    for (const [m, url, body] of [
      ['GET', `${P}/nkp1/status`, undefined],
      ['POST', `${P}/nkp1/servers`, { name: 'a', address: '127.0.0.1', port: 5696 }],
      ['DELETE', `${P}/nkp1`, undefined],
    ] as const) {
      const r = await req(m, url, body)
      assert.equal(r.status, 400, `${m} ${url}`)
      assert.equal((r.json as { code: string }).code, 'ERR_CENTER_PROVIDER_TYPE')
    }
    const ks = (
      await req('POST', '/api/ward/keys/status', {
        keys: [{ provider: 'nkp1', key_id: 'any' }],
      })
    ).json as { reason: string; key_available: boolean }[]
    assert.deepEqual(
      ks.map((k) => [k.reason, k.key_available]),
      [['KeyStateManagedByNKP', false]],
    )
    assert.equal((await req('PUT', `${P}/nkp1/default`, {})).status, 200)
    const rt = await t.center.keyProviders.defaultFor()
    assert.equal(rt.type, 'native')
    assert.equal(rt.id, 'nkp1')
  } finally {
    await t.close()
  }
})
