/**
 * The VM encryption tasks, executed by the host that runs the VM over mutual TLS (the host's
 * remote admin operations, packages/host/src/agent/protocol.ts). Each executor is a list of
 * steps; a step's outcome (a KEK id chosen, a key delivered, a VM unregistered) is saved in the
 * task's params before the next one runs, so a task resumed after a restart of the center skips
 * what was done, and the host operations resume from their own journals. KEKs come from the VM's
 * key provider (KeyProviderRuntime: newKek, then deliverKek to the host before the host needs
 * it); the center never holds key bytes here. The inventory (vms, disks) follows each task.
 */
import type { Kysely } from 'kysely'
import type { VmDescription } from '@ward/host'
import type { Privilege } from '../authz/privileges.js'
import { CenterError } from '../errors.js'
import type { KeyProviderRuntime, KeyProviders } from '../providers/types.js'
import type { CenterDb, VmsTable } from '../store/schema.js'
import type { HostClients } from './hosts.js'
import type { Executor, TaskContext } from './runner.js'

export interface VmTaskDeps {
  readonly db: Kysely<CenterDb>
  readonly hosts: HostClients
  /** The key providers (providers/); without them encryption tasks fail with a coded error. */
  readonly providers?: KeyProviders
  /**
   * Refuse (ERR_CENTER_PERMISSION_DENIED, audited) unless the task's user holds `privilege` on
   * `object`: a privilege that depends on what the host finds (an encrypted VM at a register).
   */
  readonly requirePrivilege: (
    t: Pick<TaskContext, 'id' | 'kind' | 'user'>,
    object: string,
    privilege: Privilege,
    why: string,
  ) => Promise<void>
}

/** The task kinds on VMs (the task rows' `kind`). */
export const VmTaskKinds = [
  'vm.create',
  'vm.encrypt',
  'vm.decrypt',
  'vm.recrypt',
  'vm.disk.add',
  'vm.register',
  'vm.unregister',
  'vm.power.on',
  'vm.power.off',
  'vm.unlock',
  'vm.migrate',
  'vm.clone',
] as const
export type VmTaskKind = (typeof VmTaskKinds)[number]

/** What a VM task answers (the row's result): the VM as the host describes it, trimmed. */
export interface VmTaskResult {
  readonly vm: string
  readonly host: string | null
  readonly name: string
  readonly power_state: string
  readonly encrypted: boolean
  readonly crypto_state: string | null
  readonly key_provider: string | null
  readonly kek_id: string | null
  readonly disks: number
  readonly [more: string]: unknown
}

const str = (p: Readonly<Record<string, unknown>>, k: string): string | undefined =>
  typeof p[k] === 'string' ? p[k] : undefined

function need(p: Readonly<Record<string, unknown>>, k: string): string {
  const v = str(p, k)
  if (v === undefined)
    throw new CenterError('ERR_CENTER_INTERNAL', `the task row lacks its ${k}; create it again`)
  return v
}

async function vmRow(db: Kysely<CenterDb>, id: string): Promise<VmsTable> {
  const r = await db.selectFrom('vms').selectAll().where('id', '=', id).executeTakeFirst()
  if (r === undefined)
    throw new CenterError('ERR_CENTER_NOT_FOUND', `no VM ${id}; list the VMs to check the id`)
  return r
}

function vmHost(r: VmsTable): string {
  if (r.host === null)
    throw new CenterError(
      'ERR_CENTER_VM_STATE',
      `VM ${r.id} is on no host; register it on a host first`,
    )
  return r.host
}

async function providerOf(
  d: VmTaskDeps,
  o: { readonly provider?: string | undefined; readonly host?: string },
): Promise<KeyProviderRuntime> {
  if (d.providers === undefined)
    throw new CenterError(
      'ERR_CENTER_NO_KEY_PROVIDER',
      'this center has no key provider; add one (ward provider add) and run the task again',
    )
  if (o.provider !== undefined) return d.providers.get(o.provider)
  let cluster: string | undefined
  if (o.host !== undefined) {
    const h = await d.db
      .selectFrom('hosts')
      .select('cluster')
      .where('id', '=', o.host)
      .executeTakeFirst()
    cluster = h?.cluster ?? undefined
  }
  return d.providers.defaultFor(cluster)
}

/** The host's power state as vSphere REST names it (vcenter.vm.Power.State). */
export const restPowerState = (s: string): string =>
  s === 'poweredOn' ? 'POWERED_ON' : s === 'suspended' ? 'SUSPENDED' : 'POWERED_OFF'

/** Record the VM as the host describes it: its vms row and its disks rows. */
export async function syncVm(
  db: Kysely<CenterDb>,
  vmId: string,
  hostId: string,
  desc: VmDescription,
): Promise<VmTaskResult> {
  const now = Date.now()
  const enc = desc.encryption
  const row = {
    host: hostId,
    name: desc.name,
    path: desc.path,
    power_state: restPowerState(desc.powerState),
    crypto_state: desc.encrypted ? (desc.cryptoState ?? 'unlocked') : null,
    key_provider: enc?.providerId ?? null,
    kek_id: enc?.kekId ?? null,
  }
  await db.transaction().execute(async (tx) => {
    const has = await tx.selectFrom('vms').select('id').where('id', '=', vmId).executeTakeFirst()
    if (has === undefined) {
      const h = await tx
        .selectFrom('hosts')
        .select('datacenter')
        .where('id', '=', hostId)
        .executeTakeFirstOrThrow()
      await tx
        .insertInto('vms')
        .values({ id: vmId, datacenter: h.datacenter, datastore: null, created_at: now, ...row })
        .execute()
    } else await tx.updateTable('vms').set(row).where('id', '=', vmId).execute()
    await tx.deleteFrom('disks').where('vm', '=', vmId).execute()
    for (const k of desc.disks)
      await tx
        .insertInto('disks')
        .values({
          id: `${vmId}:${k.id}`,
          vm: vmId,
          name: k.file,
          capacity: k.sizeBytes,
          encrypted: k.encrypted ? 1 : 0,
          key_provider: k.encrypted ? (enc?.providerId ?? null) : null,
          kek_id: k.encrypted ? (enc?.kekId ?? null) : null,
          created_at: now,
        })
        .execute()
  })
  return {
    vm: vmId,
    host: hostId,
    name: desc.name,
    power_state: row.power_state,
    encrypted: desc.encrypted,
    crypto_state: row.crypto_state,
    key_provider: row.key_provider,
    kek_id: row.kek_id,
    disks: desc.disks.length,
  }
}

/** The host's answer to vm.describe, or undefined when it has no such VM. */
async function describe(
  d: VmTaskDeps,
  host: string,
  name: string,
): Promise<VmDescription | undefined> {
  const c = await d.hosts.get(host)
  try {
    return await c.call('vm.describe', { name })
  } catch (e) {
    if (e instanceof CenterError && e.code === 'ERR_CENTER_HOST_REFUSED') return undefined
    throw e
  }
}

/** Step helper: run `f` once, remember it in the params under `key`. */
async function step(t: TaskContext, key: string, f: () => Promise<unknown>): Promise<void> {
  if (t.params[key] === true) return
  await f()
  await t.save({ [key]: true })
}

/**
 * A new KEK from `p` for the VM, saved in the task (a resume reuses it), then delivered. Keys are
 * delivered on every attempt (cheap, idempotent): a host that restarted without key persistence
 * needs them again to resume.
 */
async function newKekDelivered(
  t: TaskContext,
  p: KeyProviderRuntime,
  host: string,
): Promise<{ providerId: string; kekId: string }> {
  let kekId = str(t.params, 'kekId')
  if (kekId === undefined || str(t.params, 'providerId') !== p.id) {
    kekId = (await p.newKek({ vmId: str(t.params, 'vm') ?? t.object })).kekId
    await t.save({ kekId, providerId: p.id })
  }
  // every attempt: a host that restarted without key persistence lost its cache
  await p.deliverKek(kekId, { hostId: host })
  return { providerId: p.id, kekId }
}

/** Deliver the VM's current KEK to `host` (encrypted VMs only). */
async function deliverCurrent(d: VmTaskDeps, vm: VmsTable, host: string): Promise<void> {
  if (vm.key_provider === null || vm.kek_id === null) return
  const p = await providerOf(d, { provider: vm.key_provider })
  await p.deliverKek(vm.kek_id, { hostId: host })
}

const progressTo =
  (t: TaskContext) =>
  (g: { done: number; total: number }): void =>
    t.progress(g.done, g.total)

/** The executors of {@link VmTaskKinds}. */
export function vmExecutors(d: VmTaskDeps): Record<VmTaskKind, Executor> {
  const { db } = d
  return {
    async 'vm.create'(t) {
      const host = need(t.params, 'host')
      const name = need(t.params, 'name')
      const c = await d.hosts.get(host)
      const vmId = need(t.params, 'vm')
      const existing = await describe(d, host, name)
      if (existing !== undefined) return syncVm(db, vmId, host, existing)
      const encrypt = t.params.encrypt === true
      let keys: { providerId: string; kekId: string } | undefined
      if (encrypt) {
        const p = await providerOf(d, { provider: str(t.params, 'provider'), host })
        keys = await newKekDelivered(t, p, host)
      }
      const desc = await c.call('vm.create', {
        name,
        ...(Array.isArray(t.params.disks) ? { disks: t.params.disks as string[] } : {}),
        ...(typeof t.params.cpus === 'number' ? { cpus: t.params.cpus } : {}),
        ...(str(t.params, 'memory') !== undefined ? { memory: need(t.params, 'memory') } : {}),
        ...(str(t.params, 'datastore') !== undefined
          ? { datastore: need(t.params, 'datastore') }
          : {}),
        ...(keys !== undefined ? { encrypt: true, ...keys } : {}),
      })
      return syncVm(db, vmId, host, desc)
    },
    async 'vm.encrypt'(t) {
      const vm = await vmRow(db, t.object)
      const host = vmHost(vm)
      const c = await d.hosts.get(host)
      const now = await describe(d, host, vm.name)
      // resumed after the host finished: nothing left to do
      if (now?.encrypted === true && now.unfinished === undefined)
        return syncVm(db, vm.id, host, now)
      const p = await providerOf(d, { provider: str(t.params, 'provider'), host })
      const keys = await newKekDelivered(t, p, host)
      const desc = await c.call(
        'vm.encrypt',
        { name: vm.name, ...keys },
        { onProgress: progressTo(t) },
      )
      return syncVm(db, vm.id, host, desc)
    },
    async 'vm.decrypt'(t) {
      const vm = await vmRow(db, t.object)
      const host = vmHost(vm)
      const c = await d.hosts.get(host)
      await deliverCurrent(d, vm, host)
      const now = await describe(d, host, vm.name)
      if (now?.encrypted === false && now.unfinished === undefined)
        return syncVm(db, vm.id, host, now)
      const desc = await c.call('vm.decrypt', { name: vm.name }, { onProgress: progressTo(t) })
      return { ...(await syncVm(db, vm.id, host, desc)), evicted_key: desc.evictedKey }
    },
    async 'vm.recrypt'(t) {
      const vm = await vmRow(db, t.object)
      const host = vmHost(vm)
      const c = await d.hosts.get(host)
      const mode = t.params.mode === 'deep' ? 'deep' : 'shallow'
      // the old KEK too: the host unwraps with it
      await deliverCurrent(d, vm, host)
      // a new KEK from the VM's provider (or the one asked for)
      const p = await providerOf(d, {
        provider: str(t.params, 'provider') ?? vm.key_provider ?? undefined,
        host,
      })
      const keys = await newKekDelivered(t, p, host)
      // resumed after a restart of the center while the host went on: the host serializes its
      // calls, so this answers once that one is done; a VM on the new KEK is finished
      const now = await describe(d, host, vm.name)
      if (
        t.attempt > 1 &&
        now?.encryption?.kekId === keys.kekId &&
        now.encryption.providerId === keys.providerId &&
        now.unfinished === undefined
      )
        return { ...(await syncVm(db, vm.id, host, now)), mode }
      const desc = await c.call(
        'vm.recrypt',
        { name: vm.name, mode, newKekId: keys.kekId, newProviderId: keys.providerId },
        { onProgress: progressTo(t) },
      )
      return {
        ...(await syncVm(db, vm.id, host, desc)),
        mode,
        ...(desc.disksRewrapped !== undefined ? { disks_rewrapped: desc.disksRewrapped } : {}),
        ...(desc.disksReencrypted !== undefined
          ? { disks_reencrypted: desc.disksReencrypted }
          : {}),
      }
    },
    async 'vm.disk.add'(t) {
      const vm = await vmRow(db, t.object)
      const host = vmHost(vm)
      const c = await d.hosts.get(host)
      await deliverCurrent(d, vm, host)
      // a resume after the host added it: the disk count tells
      const before = t.params.disksBefore
      if (typeof before === 'number') {
        const now = await describe(d, host, vm.name)
        if (now !== undefined && now.disks.length > before) return syncVm(db, vm.id, host, now)
      } else {
        const now = await describe(d, host, vm.name)
        if (now !== undefined) await t.save({ disksBefore: now.disks.length })
      }
      const desc = await c.call('vm.disk.add', {
        name: vm.name,
        size: need(t.params, 'size'),
        ...(t.params.encrypt === true ? { encrypt: true } : {}),
      })
      return syncVm(db, vm.id, host, desc)
    },
    async 'vm.register'(t) {
      const host = need(t.params, 'host')
      const c = await d.hosts.get(host)
      const name = str(t.params, 'name')
      const existing = name !== undefined ? await describe(d, host, name) : undefined
      let desc = existing
      if (desc === undefined) {
        // the VM file described first, nothing registered: an encrypted VM needs
        // Cryptographer.RegisterVM on the host before the host registers it
        const path = need(t.params, 'path')
        const seen = await c.call('vm.inspect', { path })
        if (seen.encrypted)
          await d.requirePrivilege(
            t,
            host,
            'Cryptographer.RegisterVM',
            'registering an encrypted VM',
          )
        desc = await c.call('vm.register', { path })
      }
      await t.save({ name: desc.name })
      if (desc.encryption !== undefined) {
        const p = await providerOf(d, { provider: desc.encryption.providerId })
        await p.deliverKek(desc.encryption.kekId, { hostId: host })
      }
      return syncVm(db, need(t.params, 'vm'), host, (await describe(d, host, desc.name)) ?? desc)
    },
    async 'vm.unregister'(t) {
      const vm = await vmRow(db, need(t.params, 'vm'))
      const host = vmHost(vm)
      const c = await d.hosts.get(host)
      let evicted = false
      if ((await describe(d, host, vm.name)) !== undefined)
        evicted = (await c.call('vm.unregister', { name: vm.name })).evictedKey
      await db.transaction().execute(async (tx) => {
        await tx.deleteFrom('disks').where('vm', '=', vm.id).execute()
        await tx.deleteFrom('permissions').where('object', '=', vm.id).execute()
        await tx.deleteFrom('vms').where('id', '=', vm.id).execute()
      })
      return { vm: vm.id, host, name: vm.name, path: vm.path, evicted_key: evicted }
    },
    async 'vm.power.on'(t) {
      const vm = await vmRow(db, t.object)
      const host = vmHost(vm)
      const c = await d.hosts.get(host)
      await deliverCurrent(d, vm, host)
      const now = await describe(d, host, vm.name)
      if (now?.powerState === 'poweredOn') return syncVm(db, vm.id, host, now)
      return syncVm(db, vm.id, host, await c.call('vm.power.on', { name: vm.name }))
    },
    async 'vm.power.off'(t) {
      const vm = await vmRow(db, t.object)
      const host = vmHost(vm)
      const c = await d.hosts.get(host)
      const now = await describe(d, host, vm.name)
      if (now?.powerState === 'poweredOff') return syncVm(db, vm.id, host, now)
      const desc = await c.call('vm.power.off', {
        name: vm.name,
        ...(t.params.hard === true ? { hard: true } : {}),
      })
      return { ...(await syncVm(db, vm.id, host, desc)), how: desc.how }
    },
    async 'vm.unlock'(t) {
      const vm = await vmRow(db, t.object)
      const host = vmHost(vm)
      if (vm.kek_id === null)
        throw new CenterError(
          'ERR_CENTER_VM_STATE',
          `VM ${vm.id} is not encrypted: nothing to unlock`,
        )
      await deliverCurrent(d, vm, host)
      const desc = await describe(d, host, vm.name)
      if (desc === undefined)
        throw new CenterError(
          'ERR_CENTER_VM_STATE',
          `host ${host} has no VM ${vm.name}; register it again`,
        )
      return syncVm(db, vm.id, host, desc)
    },
    async 'vm.migrate'(t) {
      // cold: the VM is powered off; its folder is on storage both hosts see (a shared
      // datastore): the key is delivered to the target first, then the source lets the VM go and
      // the target registers its folder
      const vm = await vmRow(db, t.object)
      const target = need(t.params, 'target')
      const source = str(t.params, 'source') ?? vmHost(vm)
      if (t.params.source === undefined) await t.save({ source, path: vm.path })
      const path = str(t.params, 'path') ?? vm.path
      if (path === null || path === undefined)
        throw new CenterError(
          'ERR_CENTER_VM_STATE',
          `the center does not know VM ${vm.id}'s folder; register it again`,
        )
      await deliverCurrent(d, vm, target)
      await step(t, 'unregistered', async () => {
        const src = await d.hosts.get(source)
        const now = await describe(d, source, vm.name)
        if (now === undefined) return
        if (now.powerState !== 'poweredOff')
          throw new CenterError(
            'ERR_CENTER_VM_STATE',
            `VM ${vm.id} is ${now.powerState}: a migration moves powered-off VMs; power it off first`,
          )
        await src.call('vm.unregister', { name: vm.name })
      })
      const dst = await d.hosts.get(target)
      const desc = (await describe(d, target, vm.name)) ?? (await dst.call('vm.register', { path }))
      return { ...(await syncVm(db, vm.id, target, desc)), source }
    },
    // clone: the source's key delivered (the host opens its bundle to seal the clone's), then the
    // host's vm.clone (its own staging and marker make it safe to call again); a resume finds the
    // clone made and records it
    async 'vm.clone'(t) {
      const vm = await vmRow(db, t.object)
      const host = vmHost(vm)
      const c = await d.hosts.get(host)
      const cloneId = need(t.params, 'vm')
      const name = need(t.params, 'name')
      await deliverCurrent(d, vm, host)
      if (t.params.started === true) {
        const made = await describe(d, host, name)
        if (made !== undefined && made.unfinished === undefined)
          return { ...(await syncVm(db, cloneId, host, made)), source: vm.id }
      } else await t.save({ started: true })
      const desc = await c.call(
        'vm.clone',
        {
          name: vm.name,
          newName: name,
          ...(str(t.params, 'datastore') !== undefined
            ? { datastore: need(t.params, 'datastore') }
            : {}),
        },
        { onProgress: progressTo(t) },
      )
      return { ...(await syncVm(db, cloneId, host, desc)), source: vm.id }
    },
  }
}
