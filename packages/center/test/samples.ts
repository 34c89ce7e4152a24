/**
 * A valid request for every operation that needs a login, made ready by `prepare` (as the admin,
 * before each attempt: a delete gets a fresh object to delete). Only inputs live here; what a role
 * may do is computed from the operation table (test/unit/privilege-matrix.test.ts). A new
 * operation without a sample is a compile error.
 */
import type { OperationId } from '../src/api/operations.js'
import type { TestCenter } from './helpers.js'
// providers
import { selfSignedClient } from '../src/providers/certs.js'

export interface Fixture {
  readonly t: TestCenter
  readonly admin: string
  readonly dc: string
  readonly cluster: string
  readonly host: string
  readonly datastore: string
  readonly vm: string
  /** A user permissions are set for. */
  readonly victim: string
  unique(prefix: string): string
}

export interface Sample {
  readonly params?: Record<string, string>
  readonly query?: Record<string, string>
  readonly body?: unknown
  /** Use this session instead of the caller's (session.delete ends it). */
  readonly auth?: string
}

export type Prepare = (
  f: Fixture,
  caller: { user: string; password: string; sid: string },
) => Promise<Sample>

type Authenticated = Exclude<OperationId, 'session.create' | 'openapi.get' | 'host.join'>

const ok = async (p: Promise<{ status: number; json: unknown }>): Promise<unknown> => {
  const r = await p
  if (r.status >= 300)
    throw new Error(`fixture request failed: ${r.status} ${JSON.stringify(r.json)}`)
  return r.json
}

let hostSeq = 0
/** A host row (hosts enter by joining; tests insert them). */
export async function insertHost(
  f: Pick<Fixture, 't' | 'dc'>,
  cluster: string | null,
): Promise<string> {
  const id = `host-${900000 + ++hostSeq}`
  await f.t.center.store.db
    .insertInto('hosts')
    .values({
      id,
      datacenter: f.dc,
      cluster,
      name: `h${id}`,
      address: '127.0.0.1:8444',
      connection_state: 'connected',
      crypto_state: 'incapable',
      tpm_present: 0,
      key_persistence: 0,
      recovery_key_backed_up: 0,
      cert_fingerprint: null,
      created_at: Date.now(),
    })
    .execute()
  return id
}

export async function makeFixture(t: TestCenter): Promise<Fixture> {
  const admin = await t.login()
  let n = 0
  const unique = (p: string) => `${p}${++n}x${Date.now() % 100000}`
  const dc = (await ok(
    t.request('POST', '/api/vcenter/datacenter', { auth: admin, body: { name: 'dc-fixture' } }),
  )) as string
  const cluster = (await ok(
    t.request('POST', '/api/vcenter/cluster', {
      auth: admin,
      body: { name: 'c-fixture', datacenter: dc },
    }),
  )) as string
  const host = await insertHost({ t, dc }, cluster)
  const db = t.center.store.db
  await db
    .insertInto('datastores')
    .values({
      id: 'datastore-800001',
      datacenter: dc,
      host,
      name: 'ds1',
      path: '/srv/ds1',
      created_at: Date.now(),
    })
    .execute()
  await db
    .insertInto('vms')
    .values({
      id: 'vm-800002',
      datacenter: dc,
      host,
      datastore: 'datastore-800001',
      name: 'vm1',
      power_state: 'POWERED_OFF',
      crypto_state: null,
      key_provider: null,
      kek_id: null,
      created_at: Date.now(),
    })
    .execute()
  await ok(
    t.request('POST', '/api/ward/users', {
      auth: admin,
      body: { name: 'victim', password: 'victim-password' },
    }),
  )
  return {
    t,
    admin,
    dc,
    cluster,
    host,
    datastore: 'datastore-800001',
    vm: 'vm-800002',
    victim: 'victim',
    unique,
  }
}

// VM encryption tasks: a fresh VM row per request (encrypted or not)
let vmSeq = 0
async function insertVm(f: Fixture, encrypted: boolean): Promise<string> {
  const id = `vm-${810000 + ++vmSeq}`
  await f.t.center.store.db
    .insertInto('vms')
    .values({
      id,
      datacenter: f.dc,
      host: f.host,
      datastore: f.datastore,
      name: `v${id}`,
      power_state: 'POWERED_OFF',
      crypto_state: encrypted ? 'unlocked' : null,
      key_provider: encrypted ? 'kp-sample' : null,
      kek_id: encrypted ? 'kek-sample' : null,
      created_at: Date.now(),
      path: `/tmp/${id}`,
    })
    .execute()
  return id
}
const vmTaskSamples = {
  'vm.create': async (f) => ({ body: { host: f.host, name: f.unique('nv'), disks: ['1M'] } }),
  'vm.encrypt': async (f) => ({ params: { vm: await insertVm(f, false) }, body: {} }),
  'vm.decrypt': async (f) => ({ params: { vm: await insertVm(f, true) }, body: {} }),
  'vm.recrypt': async (f) => ({ params: { vm: await insertVm(f, true) }, body: { mode: 'deep' } }),
  'vm.diskAdd': async (f) => ({ params: { vm: await insertVm(f, false) }, body: { size: '1M' } }),
  'vm.register': async (f) => ({ body: { host: f.host, path: '/tmp/some-vm' } }),
  'vm.unregister': async (f) => ({ params: { vm: await insertVm(f, false) }, body: {} }),
  'vm.powerOn': async (f) => ({ params: { vm: await insertVm(f, true) }, body: {} }),
  'vm.powerOff': async (f) => ({ params: { vm: await insertVm(f, false) }, body: {} }),
  'vm.unlock': async (f) => ({ params: { vm: await insertVm(f, true) }, body: {} }),
  'vm.migrate': async (f) => ({
    params: { vm: await insertVm(f, true) },
    body: { host: await insertHost(f, f.cluster) },
  }),
  // clone: a plain source (an encrypted one also needs Cryptographer.Clone, checked in the handler)
  'vm.clone': async (f) => ({
    params: { vm: await insertVm(f, false) },
    body: { name: f.unique('cl') },
  }),
  'task.list': async () => ({}),
  'task.get': async (f) => {
    const r = (await ok(
      f.t.request('POST', `/api/ward/vm/${await insertVm(f, false)}/power-off`, {
        auth: f.admin,
        body: {},
      }),
    )) as { task: string }
    return { params: { task: r.task } }
  },
} satisfies Partial<Record<Authenticated, Prepare>>

export const samples: { readonly [K in Authenticated]: Prepare } = {
  ...vmTaskSamples,
  'session.get': async () => ({}),
  'session.delete': async (f, c) => ({ auth: await f.t.login(c.user, c.password) }),
  'token.create': async (f) => ({ body: { name: f.unique('tok') } }),
  'token.list': async () => ({}),
  'token.revoke': async (f, c) => {
    const r = (await ok(
      f.t.request('POST', '/api/ward/tokens', { auth: c.sid, body: { name: 'r' } }),
    )) as { id: string }
    return { params: { token: r.id } }
  },
  'user.list': async () => ({}),
  'user.create': async (f) => ({ body: { name: f.unique('u'), password: 'a-long-password' } }),
  'user.delete': async (f) => {
    const name = f.unique('gone')
    await ok(
      f.t.request('POST', '/api/ward/users', {
        auth: f.admin,
        body: { name, password: 'a-long-password' },
      }),
    )
    return { params: { user: name } }
  },
  'privilege.list': async () => ({}),
  'role.list': async () => ({}),
  'role.get': async () => ({ params: { role: 'ReadOnly' } }),
  'role.create': async (f) => ({ body: { name: f.unique('R'), privileges: ['System.Read'] } }),
  'role.clone': async (f) => ({
    params: { role: 'ReadOnly' },
    body: { name: f.unique('C'), add: ['Datacenter.Create'] },
  }),
  'role.update': async (f) => {
    const name = f.unique('U')
    await ok(
      f.t.request('POST', '/api/ward/roles', {
        auth: f.admin,
        body: { name, privileges: ['System.View'] },
      }),
    )
    return { params: { role: name }, body: { label: 'changed' } }
  },
  'role.delete': async (f) => {
    const name = f.unique('D')
    await ok(
      f.t.request('POST', '/api/ward/roles', { auth: f.admin, body: { name, privileges: [] } }),
    )
    return { params: { role: name } }
  },
  'permission.list': async () => ({}),
  'permission.set': async (f) => ({
    body: { object: f.dc, principal: f.victim, role: 'ReadOnly', propagate: true },
  }),
  'permission.remove': async (f) => {
    await ok(
      f.t.request('PUT', '/api/ward/permissions', {
        auth: f.admin,
        body: { object: f.cluster, principal: f.victim, role: 'View', propagate: false },
      }),
    )
    return { query: { object: f.cluster, principal: f.victim } }
  },
  'datacenter.list': async () => ({}),
  'datacenter.get': async (f) => ({ params: { datacenter: f.dc } }),
  'datacenter.create': async (f) => ({ body: { name: f.unique('dc') } }),
  'datacenter.delete': async (f) => {
    const id = (await ok(
      f.t.request('POST', '/api/vcenter/datacenter', {
        auth: f.admin,
        body: { name: f.unique('dcx') },
      }),
    )) as string
    return { params: { datacenter: id } }
  },
  'cluster.list': async () => ({}),
  'cluster.get': async (f) => ({ params: { cluster: f.cluster } }),
  'cluster.create': async (f) => ({ body: { name: f.unique('c'), datacenter: f.dc } }),
  'cluster.delete': async (f) => {
    const id = (await ok(
      f.t.request('POST', '/api/vcenter/cluster', {
        auth: f.admin,
        body: { name: f.unique('cx'), datacenter: f.dc },
      }),
    )) as string
    return { params: { cluster: id } }
  },
  'host.list': async () => ({}),
  'host.get': async (f) => ({ params: { host: f.host } }),
  'host.delete': async (f) => ({ params: { host: await insertHost(f, f.cluster) } }),
  'host.joinToken': async (f) => ({ body: { datacenter: f.dc, cluster: f.cluster } }),
  'datastore.list': async () => ({}),
  'datastore.get': async (f) => ({ params: { datastore: f.datastore } }),
  'vm.list': async () => ({}),
  'vm.get': async (f) => ({ params: { vm: f.vm } }),
  // native key providers
  'nkp.create': async (f) => ({ body: { provider: f.unique('nkp') } }),
  'nkp.list': async () => ({}),
  'nkp.get': async (f) => ({ params: { provider: await makeNkp(f) } }),
  'nkp.delete': async (f) => ({ params: { provider: await makeNkp(f) } }),
  'nkp.export': async (f) => ({
    params: { provider: await makeNkp(f) },
    body: { password: NKP_PASSWORD },
  }),
  'nkp.download': async (f) => {
    const provider = await makeNkp(f)
    return { params: { provider }, body: { token: await nkpExportToken(f, provider) } }
  },
  'nkp.import': async (f) => {
    const provider = await makeNkp(f)
    const token = await nkpExportToken(f, provider)
    const url = `/api/vcenter/crypto-manager/kms/providers/native/${provider}`
    const file = (await ok(
      f.t.request('POST', `${url}/export/download`, { auth: f.admin, body: { token } }),
    )) as { config: string }
    await ok(f.t.request('DELETE', url, { auth: f.admin }))
    return { body: { config: file.config, password: NKP_PASSWORD } }
  },
  // providers
  'provider.list': async (f) => (await newProvider(f), {}),
  'provider.get': async (f) => ({ params: { provider: await newProvider(f) } }),
  'provider.create': async (f) => ({ body: { provider: f.unique('kp'), servers: [kms1] } }),
  'provider.update': async (f) => ({
    params: { provider: await newProvider(f) },
    body: { servers: [kms1, { ...kms1, name: 'kms2' }] },
  }),
  'provider.delete': async (f) => ({ params: { provider: await newProvider(f) } }),
  'provider.serverAdd': async (f) => ({
    params: { provider: await newProvider(f) },
    body: { ...kms1, name: 'kms9' },
  }),
  'provider.serverRemove': async (f) => ({
    params: { provider: await newProvider(f), server: kms1.name },
  }),
  'provider.trustKms': async (f) => ({
    params: { provider: await newProvider(f) },
    body: { certificates: [(await samplePair()).certPem] },
  }),
  'provider.selfSignedClientCert': async (f) => ({
    params: { provider: await newProvider(f) },
    body: {},
  }),
  'provider.clientCsr': async (f) => ({ params: { provider: await newProvider(f) } }),
  'provider.setClientCert': async (f) => {
    const p = await samplePair()
    return {
      params: { provider: await newProvider(f) },
      body: { certificate: p.certPem, private_key: p.keyPem },
    }
  },
  'provider.status': async (f) => ({ params: { provider: await newProvider(f) } }),
  'provider.setDefault': async (f) => ({ params: { provider: await newProvider(f) }, body: {} }),
  'key.status': async (f) => ({
    body: { keys: [{ provider: await newProvider(f), key_id: '1' }] },
  }),
  'key.gcList': async () => ({}),
  'key.gcRun': async () => ({}),
  'key.gcSettings': async () => ({ body: { grace_seconds: 3600 } }),
  // ha: leadership, events and alarms (a row of each on the fixture's host), host encryption mode
  'ha.status': async () => ({}),
  'event.list': async (f) => {
    await f.t.center.events.post('HostConnectedEvent', f.host, { host: 'h', datacenter: 'dc' })
    return {}
  },
  'alarm.list': async (f) => {
    await f.t.center.alarms.raise({ definition: 'HostDisconnected', object: f.host }, 'down')
    return {}
  },
  'alarm.acknowledge': async (f) => {
    await f.t.center.alarms.raise({ definition: 'HostDisconnected', object: f.host }, 'down')
    return { body: { definition: 'HostDisconnected', object: f.host } }
  },
  // the fixture's host does not answer: the wanted host key stays pending
  'host.encryptionMode': async (f) => ({
    params: { host: f.host },
    body: { provider_id: 'kms-a', key_id: 'host-key-1' },
  }),
  'cluster.cryptoMode': async (f) => ({
    params: { cluster: f.cluster },
    body: { crypto_mode: 'onDemand' },
  }),
}

// providers: a KMIP server nobody listens on (a status probe is refused at once)
const kms1 = { name: 'kms1', address: '127.0.0.1', port: 1 }
let pair: Promise<{ certPem: string; keyPem: string }> | undefined
const samplePair = () => (pair ??= selfSignedClient('sample', 30))
async function newProvider(f: Fixture): Promise<string> {
  const provider = f.unique('kp')
  await ok(
    f.t.request('POST', '/api/vcenter/crypto-manager/kms/providers', {
      auth: f.admin,
      body: { provider, servers: [kms1] },
    }),
  )
  return provider
}

// native key providers: a provider made by the admin, and an export token of it
const NKP_PASSWORD = 'sample backup password'
async function makeNkp(f: Fixture): Promise<string> {
  return (await ok(
    f.t.request('POST', '/api/vcenter/crypto-manager/kms/providers/native', {
      auth: f.admin,
      body: { provider: f.unique('nkp') },
    }),
  )) as string
}
async function nkpExportToken(f: Fixture, provider: string): Promise<string> {
  const r = (await ok(
    f.t.request('POST', `/api/vcenter/crypto-manager/kms/providers/native/${provider}/export`, {
      auth: f.admin,
      body: { password: NKP_PASSWORD },
    }),
  )) as { location: { download_token: { token: string } } }
  return r.location.download_token.token
}

/** The URL of an operation with its params and query filled in. */
export function urlOf(url: string, s: Sample): string {
  const path = url.replace(/:([A-Za-z_]+)/g, (_, k: string) =>
    encodeURIComponent(s.params?.[k] ?? `missing-${k}`),
  )
  const q = new URLSearchParams(s.query ?? {}).toString()
  return q === '' ? path : `${path}?${q}`
}

/** Every table but the ones each request writes (audit, sessions), for "nothing changed" checks. */
export async function snapshot(t: TestCenter): Promise<string> {
  const db = t.center.store.db
  const tables = [
    'datacenters',
    'clusters',
    'hosts',
    'datastores',
    'vms',
    'disks',
    'roles',
    'permissions',
    'api_tokens',
    'join_tokens',
    'tasks',
    'key_providers',
    'counters',
    // native key providers (nkp_hosts is written by background pushes)
    'native_providers',
    'nkp_exports',
    // providers
    'center_keys',
    'key_provider_defaults',
    'provider_settings',
    // ha
    'events',
    'alarms',
    'leader_lease',
  ] as const
  const out: Record<string, unknown> = {}
  for (const tb of tables)
    out[tb] = await db
      .selectFrom(tb)
      .selectAll()
      .execute()
      .then((rows) => rows.map((r) => JSON.stringify(r)).sort())
  out['users'] = await db
    .selectFrom('users')
    .select(['name', 'password_hash'])
    .orderBy('name')
    .execute()
  return JSON.stringify(out)
}
