/**
 * Handlers of the VM encryption operations: each checks what the center knows (the VM's state,
 * the privileges that depend on it), queues a task row and answers its id; the task runner
 * (tasks/) executes it on the VM's host. And the task reads.
 */
import type { Kysely } from 'kysely'
import type { Privilege } from '../../authz/privileges.js'
import { CenterError } from '../../errors.js'
import { newId } from '../../inventory/ids.js'
import type { CenterDb, VmsTable } from '../../store/schema.js'
import { taskView, type TaskStore } from '../../tasks/store.js'
import type { VmTaskKind } from '../../tasks/vm-tasks.js'
import type { Ctx, Handlers } from '../context.js'

type VmHandlers = Pick<
  Handlers,
  | 'vm.create'
  | 'vm.encrypt'
  | 'vm.decrypt'
  | 'vm.recrypt'
  | 'vm.diskAdd'
  | 'vm.register'
  | 'vm.unregister'
  | 'vm.powerOn'
  | 'vm.powerOff'
  | 'vm.unlock'
  | 'vm.migrate'
  | 'vm.clone'
  | 'task.list'
  | 'task.get'
>

const db = (ctx: Ctx): Kysely<CenterDb> => ctx.services.store.db

function tasks(ctx: Ctx): { readonly store: TaskStore; kick(): void } {
  const t = ctx.services.tasks
  if (t === undefined)
    throw new CenterError('ERR_CENTER_INTERNAL', 'this center was built without its task runner')
  return t
}

const state = (message: string): CenterError => new CenterError('ERR_CENTER_VM_STATE', message)

async function vmRow(ctx: Ctx, id: string): Promise<VmsTable> {
  const r = await db(ctx).selectFrom('vms').selectAll().where('id', '=', id).executeTakeFirst()
  if (r === undefined)
    throw new CenterError('ERR_CENTER_NOT_FOUND', `no VM ${id}; list the VMs to check the id`)
  return r
}

async function hostExists(ctx: Ctx, id: string): Promise<void> {
  const h = await db(ctx).selectFrom('hosts').select('id').where('id', '=', id).executeTakeFirst()
  if (h === undefined)
    throw new CenterError('ERR_CENTER_NOT_FOUND', `no host ${id}; list the hosts to check the id`)
}

/** Refuse unless the caller also holds `p` on `object` (a privilege that depends on the VM). */
async function alsoNeeds(ctx: Ctx, object: string, p: Privilege, why: string): Promise<void> {
  if (!(await ctx.privilegesOn(object)).has(p))
    throw new CenterError(
      'ERR_CENTER_PERMISSION_DENIED',
      `${why} needs the privilege ${p} on ${object}; ask an administrator for a role that has it`,
      { missing: p },
    )
}

const encrypted = (v: VmsTable): boolean => v.kek_id !== null

async function queue(
  ctx: Ctx,
  kind: VmTaskKind,
  object: string,
  host: string | null,
  params: Record<string, unknown>,
  vm: string = object,
): Promise<{ task: string; vm: string }> {
  const t = tasks(ctx)
  const task = await t.store.create({ kind, object, host, user: ctx.user ?? '', params })
  t.kick()
  return { task, vm }
}

/** Drop undefined values (the params JSON). */
const defined = (o: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined))

export const vmHandlers: VmHandlers = {
  async 'vm.create'(ctx, { body }) {
    await hostExists(ctx, body.host)
    if (body.encrypt === true)
      await alsoNeeds(ctx, body.host, 'Cryptographer.EncryptNew', 'creating an encrypted VM')
    const taken = await db(ctx)
      .selectFrom('vms')
      .select('id')
      .where('host', '=', body.host)
      .where('name', '=', body.name)
      .executeTakeFirst()
    if (taken !== undefined)
      throw new CenterError(
        'ERR_CENTER_EXISTS',
        `host ${body.host} already has a VM named ${body.name} (${taken.id}); choose another name`,
      )
    const vm = await newId(db(ctx), 'vm')
    // the task is the host's until the VM exists (its row is made when the host has made it)
    return queue(ctx, 'vm.create', body.host, body.host, defined({ ...body, vm }), vm)
  },
  async 'vm.encrypt'(ctx, { params, body }) {
    const v = await vmRow(ctx, params.vm)
    if (encrypted(v)) throw state(`VM ${v.id} is already encrypted; recrypt it to change its key`)
    return queue(ctx, 'vm.encrypt', v.id, v.host, defined({ provider: body.provider }))
  },
  async 'vm.decrypt'(ctx, { params }) {
    const v = await vmRow(ctx, params.vm)
    if (!encrypted(v)) throw state(`VM ${v.id} is not encrypted: nothing to decrypt`)
    return queue(ctx, 'vm.decrypt', v.id, v.host, {})
  },
  async 'vm.recrypt'(ctx, { params, body }) {
    const v = await vmRow(ctx, params.vm)
    if (!encrypted(v)) throw state(`VM ${v.id} is not encrypted; encrypt it instead`)
    return queue(ctx, 'vm.recrypt', v.id, v.host, defined({ ...body }))
  },
  async 'vm.diskAdd'(ctx, { params, body }) {
    const v = await vmRow(ctx, params.vm)
    if (encrypted(v) || body.encrypt === true)
      await alsoNeeds(ctx, v.id, 'Cryptographer.AddDisk', 'adding a disk to an encrypted VM')
    if (body.encrypt === true && !encrypted(v))
      throw state(`VM ${v.id} is not encrypted: encrypt the VM before adding an encrypted disk`)
    return queue(ctx, 'vm.disk.add', v.id, v.host, defined({ ...body }))
  },
  async 'vm.register'(ctx, { body }) {
    await hostExists(ctx, body.host)
    const vm = await newId(db(ctx), 'vm')
    return queue(ctx, 'vm.register', body.host, body.host, { ...body, vm }, vm)
  },
  async 'vm.unregister'(ctx, { params }) {
    const v = await vmRow(ctx, params.vm)
    // the host's task: the VM leaves the inventory with it
    if (v.host === null) throw state(`VM ${v.id} is on no host: nothing to unregister`)
    return queue(ctx, 'vm.unregister', v.host, v.host, { vm: v.id }, v.id)
  },
  async 'vm.powerOn'(ctx, { params }) {
    const v = await vmRow(ctx, params.vm)
    return queue(ctx, 'vm.power.on', v.id, v.host, {})
  },
  async 'vm.powerOff'(ctx, { params, body }) {
    const v = await vmRow(ctx, params.vm)
    return queue(ctx, 'vm.power.off', v.id, v.host, defined({ hard: body.hard }))
  },
  async 'vm.unlock'(ctx, { params }) {
    const v = await vmRow(ctx, params.vm)
    if (!encrypted(v)) throw state(`VM ${v.id} is not encrypted: nothing to unlock`)
    return queue(ctx, 'vm.unlock', v.id, v.host, {})
  },
  async 'vm.migrate'(ctx, { params, body }) {
    const v = await vmRow(ctx, params.vm)
    await hostExists(ctx, body.host)
    if (v.host === body.host) throw state(`VM ${v.id} is already on host ${body.host}`)
    if (v.power_state !== 'POWERED_OFF')
      throw state(
        `VM ${v.id} is ${v.power_state}: a migration moves powered-off VMs; power it off first`,
      )
    return queue(ctx, 'vm.migrate', v.id, v.host, { target: body.host })
  },
  // clone: the clone's id is made now and answered with the task (the row when the host made it)
  async 'vm.clone'(ctx, { params, body }) {
    const v = await vmRow(ctx, params.vm)
    if (v.host === null) throw state(`VM ${v.id} is on no host; register it on a host first`)
    if (encrypted(v)) await alsoNeeds(ctx, v.id, 'Cryptographer.Clone', 'cloning an encrypted VM')
    const taken = await db(ctx)
      .selectFrom('vms')
      .select('id')
      .where('host', '=', v.host)
      .where('name', '=', body.name)
      .executeTakeFirst()
    if (taken !== undefined)
      throw new CenterError(
        'ERR_CENTER_EXISTS',
        `host ${v.host} already has a VM named ${body.name} (${taken.id}); choose another name for the clone`,
      )
    const vm = await newId(db(ctx), 'vm')
    return queue(
      ctx,
      'vm.clone',
      v.id,
      v.host,
      defined({ name: body.name, datastore: body.placement?.datastore, vm }),
      vm,
    )
  },
  async 'task.list'(ctx, { query }) {
    const rows = await tasks(ctx).store.list(
      query.object !== undefined ? { object: query.object } : {},
    )
    const out = []
    for (const r of rows) if (await ctx.visible(r.object)) out.push(taskView(r))
    return out
  },
  async 'task.get'(ctx, { params }) {
    const r = await tasks(ctx).store.get(params.task)
    if (r === undefined)
      throw new CenterError(
        'ERR_CENTER_NOT_FOUND',
        `no task ${params.task}; list the tasks to check the id`,
      )
    return taskView(r)
  },
}
