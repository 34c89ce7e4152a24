/**
 * No one gives what they do not hold: a No cryptography administrator may modify roles and
 * permissions, but not make or change a role with a privilege it lacks, nor give a role whose
 * privileges it lacks on that object; so it cannot make itself (or anyone) a cryptographer.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestCenter } from '../helpers.js'
import { makeFixture, snapshot } from '../samples.js'

test('NoCryptoAdmin cannot create, clone, edit or grant a role with Cryptographer privileges', async () => {
  const t = await startTestCenter()
  try {
    const f = await makeFixture(t)
    await t.request('POST', '/api/ward/users', {
      auth: f.admin,
      body: { name: 'nca', password: 'nca-password' },
    })
    await t.request('PUT', '/api/ward/permissions', {
      auth: f.admin,
      body: { object: 'root', principal: 'nca', role: 'NoCryptoAdmin', propagate: true },
    })
    const nca = await t.login('nca', 'nca-password')
    const refused = async (
      what: string,
      method: string,
      url: string,
      body: unknown,
      lacking: string,
    ) => {
      const before = await snapshot(t)
      const r = await t.request(method, url, { auth: nca, body })
      assert.equal(r.status, 403, `${what}: ${JSON.stringify(r.json)}`)
      const b = r.json as { code: string; messages: { default_message: string }[] }
      assert.equal(b.code, 'ERR_CENTER_PERMISSION_DENIED', what)
      assert.ok(b.messages[0]!.default_message.includes(lacking), what)
      assert.equal(await snapshot(t), before, what)
    }
    await refused(
      'create',
      'POST',
      '/api/ward/roles',
      { name: 'Crypto', privileges: ['Cryptographer.Decrypt'] },
      'Cryptographer.Decrypt',
    )
    await refused(
      'clone',
      'POST',
      '/api/ward/roles/NoCryptoAdmin/clone',
      { name: 'Mine', add: ['Cryptographer.Encrypt'] },
      'Cryptographer.Encrypt',
    )
    await refused(
      'clone Admin',
      'POST',
      '/api/ward/roles/Admin/clone',
      { name: 'Mine' },
      'Cryptographer.Access',
    )
    await refused(
      'grant Admin to itself',
      'PUT',
      '/api/ward/permissions',
      { object: f.dc, principal: 'nca', role: 'Admin', propagate: true },
      'Cryptographer.',
    )
    // an administrator makes a crypto role; NoCryptoAdmin may neither grant nor widen it
    const made = await t.request('POST', '/api/ward/roles/NoCryptoAdmin/clone', {
      auth: f.admin,
      body: { name: 'EncryptOnly', add: ['Cryptographer.Encrypt'] },
    })
    assert.equal(made.status, 201)
    await refused(
      'grant a crypto role',
      'PUT',
      '/api/ward/permissions',
      { object: f.dc, principal: f.victim, role: 'EncryptOnly', propagate: true },
      'Cryptographer.Encrypt',
    )
    await refused(
      'edit a role to crypto',
      'PATCH',
      '/api/ward/roles/EncryptOnly',
      { privileges: ['Cryptographer.Decrypt'] },
      'Cryptographer.Decrypt',
    )
    // what it holds, it may give
    const ok = await t.request('POST', '/api/ward/roles/ReadOnly/clone', {
      auth: nca,
      body: { name: 'Reader2', add: ['Datacenter.Create'] },
    })
    assert.equal(ok.status, 201)
    assert.equal(
      (
        await t.request('PUT', '/api/ward/permissions', {
          auth: nca,
          body: { object: f.dc, principal: f.victim, role: 'Reader2', propagate: true },
        })
      ).status,
      200,
    )
    // the administrator may give crypto roles
    assert.equal(
      (
        await t.request('PUT', '/api/ward/permissions', {
          auth: f.admin,
          body: { object: f.dc, principal: f.victim, role: 'EncryptOnly', propagate: true },
        })
      ).status,
      200,
    )
  } finally {
    await t.close()
  }
})
