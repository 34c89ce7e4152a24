/**
 * Permission propagation, vSphere's rule: the nearest permission on the path decides; one on the
 * object itself always applies, one on an ancestor only when it propagates; a child's permission
 * overrides the inherited one (NoAccess on a child denies below it).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { effectivePrivileges, type HeldPermission } from '../../src/authz/effective.js'
import type { Privilege } from '../../src/authz/privileges.js'
import { startTestCenter } from '../helpers.js'
import { insertHost, makeFixture } from '../samples.js'

const perm = (object: string, propagate: boolean, ps: Privilege[]): [string, HeldPermission] => [
  object,
  { object, propagate, privileges: new Set(ps) },
]

test('effectivePrivileges: nearest permission wins, non-propagating ancestors are skipped', () => {
  const held = new Map([
    perm('root', true, ['System.Read', 'Datacenter.Create']),
    perm('datacenter-1', false, ['System.View']),
    perm('domain-c2', true, []),
  ])
  const path = (id: string, ...up: string[]) => [id, ...up, 'root']
  assert.deepEqual([...effectivePrivileges(held, path('datacenter-1'))], ['System.View'])
  // datacenter-1's permission does not propagate: its cluster-less host inherits root's
  assert.deepEqual([...effectivePrivileges(held, path('host-9', 'datacenter-1'))].sort(), [
    'Datacenter.Create',
    'System.Read',
  ])
  // NoAccess on the cluster denies its hosts
  assert.equal(effectivePrivileges(held, path('host-3', 'domain-c2', 'datacenter-1')).size, 0)
  assert.equal(effectivePrivileges(new Map(), ['root']).size, 0)
})

test('through the API: ReadOnly at root, NoAccess on a cluster, Admin on a datacenter only', async () => {
  const t = await startTestCenter()
  try {
    const f = await makeFixture(t)
    const standalone = await insertHost(f, null)
    const set = async (object: string, principal: string, role: string, propagate: boolean) =>
      assert.equal(
        (
          await t.request('PUT', '/api/ward/permissions', {
            auth: f.admin,
            body: { object, principal, role, propagate },
          })
        ).status,
        200,
      )
    for (const u of ['alice', 'bob', 'carol'])
      assert.equal(
        (
          await t.request('POST', '/api/ward/users', {
            auth: f.admin,
            body: { name: u, password: `${u}-password` },
          })
        ).status,
        201,
      )
    await set('root', 'alice', 'ReadOnly', true)
    await set(f.cluster, 'alice', 'NoAccess', true)
    const alice = await t.login('alice', 'alice-password')
    assert.equal(
      (await t.request('GET', `/api/vcenter/datacenter/${f.dc}`, { auth: alice })).status,
      200,
    )
    assert.equal(
      (await t.request('GET', `/api/vcenter/cluster/${f.cluster}`, { auth: alice })).status,
      403,
    )
    assert.equal(
      (await t.request('GET', `/api/vcenter/host/${f.host}`, { auth: alice })).status,
      403,
      'below the cluster',
    )
    assert.equal(
      (await t.request('GET', `/api/vcenter/vm/${f.vm}`, { auth: alice })).status,
      403,
      'a VM on a host of the cluster',
    )
    assert.equal(
      (await t.request('GET', `/api/vcenter/host/${standalone}`, { auth: alice })).status,
      200,
      'a standalone host',
    )
    const hosts = (await t.request('GET', '/api/vcenter/host', { auth: alice })).json as {
      host: string
    }[]
    assert.deepEqual(
      hosts.map((h) => h.host),
      [standalone],
    )
    assert.deepEqual((await t.request('GET', '/api/vcenter/cluster', { auth: alice })).json, [])

    // bob: Admin on the datacenter (propagating), nothing at root
    await set(f.dc, 'bob', 'Admin', true)
    const bob = await t.login('bob', 'bob-password')
    assert.equal(
      (
        await t.request('POST', '/api/vcenter/cluster', {
          auth: bob,
          body: { name: 'bobs', datacenter: f.dc },
        })
      ).status,
      201,
    )
    assert.equal((await t.request('GET', `/api/vcenter/host/${f.host}`, { auth: bob })).status, 200)
    assert.equal(
      (await t.request('POST', '/api/vcenter/datacenter', { auth: bob, body: { name: 'other' } }))
        .status,
      403,
      'root is not his',
    )
    assert.deepEqual(
      (
        (await t.request('GET', '/api/vcenter/datacenter', { auth: bob })).json as {
          datacenter: string
        }[]
      ).map((d) => d.datacenter),
      [f.dc],
    )

    // carol: Admin at root, ReadOnly on the cluster overrides it there
    await set('root', 'carol', 'Admin', true)
    await set(f.cluster, 'carol', 'ReadOnly', false)
    const carol = await t.login('carol', 'carol-password')
    assert.equal(
      (await t.request('DELETE', `/api/vcenter/cluster/${f.cluster}`, { auth: carol })).status,
      403,
    )
    // the non-propagating ReadOnly covers only the cluster: its host falls back to root's Admin
    assert.equal(
      (
        await t.request('POST', '/api/vcenter/host/join-token', {
          auth: carol,
          body: { datacenter: f.dc },
        })
      ).status,
      201,
    )
    assert.equal(
      (await t.request('GET', `/api/vcenter/host/${f.host}`, { auth: carol })).status,
      200,
    )
  } finally {
    await t.close()
  }
})
