import type { CallInput } from '@ward/api'
import { defineCommand, type Command } from '../command.js'
import { bool, int, text, texts } from '../flags.js'
import { table } from '../output.js'
import { CliError } from '../errors.js'
import { api, sessionFlag } from './center.js'
import { watchTask } from './task.js'

/*
 * `ward vm ...`: the center's VMs and their encryption tasks. Each task command queues the task
 * on the center (the VM's host runs it) and follows it with a progress bar until it ends, or
 * answers the task id at once with --async (then: ward task watch TASK).
 */

const asyncFlag = {
  async: bool('answer the task id at once instead of following the task'),
} as const
const providerFlag = {
  provider: text('the key provider (default: the default provider of the VM cluster)', {
    value: 'ID',
  }),
} as const

function need(v: string | undefined, what: string): string {
  if (v === undefined || v === '') throw new CliError('ERR_CLI_USAGE', `${what} is required`)
  return v
}

type TaskOp =
  | 'vm.encrypt'
  | 'vm.decrypt'
  | 'vm.recrypt'
  | 'vm.diskAdd'
  | 'vm.unregister'
  | 'vm.powerOn'
  | 'vm.powerOff'
  | 'vm.unlock'
  | 'vm.migrate'
  | 'vm.clone'

/** Queue the task, then follow it (or print its id with --async). */
async function runTask<K extends TaskOp | 'vm.create' | 'vm.register'>(
  session: string,
  id: K,
  input: CallInput<K>,
  o: { async: boolean; out: Parameters<typeof watchTask>[2] },
): Promise<number> {
  const r = (await api(session, id, input)) as { task: string; vm: string }
  if (o.async) {
    o.out.data(r, () => `queued ${r.task} (${r.vm}); follow it: ward task watch ${r.task}`)
    return 0
  }
  return watchTask(session, r.task, o.out)
}

/**
 * The per-VM task commands, declared once: words, operation, summary, extra flags, and the body
 * made from the flags.
 */
const perVm = [
  {
    words: ['encrypt'],
    op: 'vm.encrypt',
    summary: 'Encrypt a VM with a new KEK of its key provider (Cryptographer.Encrypt)',
    flags: providerFlag,
    body: (v: { provider?: string }) => (v.provider !== undefined ? { provider: v.provider } : {}),
  },
  {
    words: ['decrypt'],
    op: 'vm.decrypt',
    summary: 'Decrypt a VM (Cryptographer.Decrypt)',
    flags: {},
    body: () => ({}),
  },
  {
    words: ['unregister'],
    op: 'vm.unregister',
    summary: 'Unregister a VM from its host and the inventory (its files stay)',
    flags: {},
    body: () => ({}),
  },
  {
    words: ['power-on'],
    op: 'vm.powerOn',
    summary: 'Power on a VM (an encrypted VM: its key is delivered to the host first)',
    flags: {},
    body: () => ({}),
  },
  {
    words: ['power-off'],
    op: 'vm.powerOff',
    summary: 'Power off a VM (--hard: without waiting for the guest)',
    flags: { hard: bool('power off without waiting for the guest') },
    body: (v: { hard?: boolean }) => (v.hard === true ? { hard: true } : {}),
  },
  {
    words: ['unlock'],
    op: 'vm.unlock',
    summary: 'Unlock a locked encrypted VM: deliver its key to its host again',
    flags: {},
    body: () => ({}),
  },
  {
    words: ['migrate'],
    op: 'vm.migrate',
    summary:
      'Migrate a powered-off VM to another host (cold, shared storage; Cryptographer.Migrate)',
    flags: { host: text('the target host', { value: 'ID', required: true }) },
    body: (v: { host?: string }) => ({ host: need(v.host, '--host') }),
    example: 'ward vm migrate vm-12 --host host-4',
  },
  // clone (issue 13)
  {
    words: ['clone'],
    op: 'vm.clone',
    summary:
      'Full clone of a VM on its host, to a new name (an encrypted VM keeps its keys; Cryptographer.Clone)',
    flags: {
      name: text("the clone's name", { value: 'NAME', required: true }),
      datastore: text("the clone's datastore on the host (default: the source's)", {
        value: 'NAME',
      }),
    },
    body: (v: { name?: string; datastore?: string }) => ({
      name: need(v.name, '--name'),
      ...(v.datastore !== undefined ? { placement: { datastore: v.datastore } } : {}),
    }),
    example: 'ward vm clone vm-12 --name web1-copy',
  },
] as const

export const vmCommands: readonly Command[] = [
  defineCommand({
    path: ['vm', 'create'],
    summary:
      'Create a VM on a host; --encrypt: with a new KEK of the given or default key provider (Cryptographer.EncryptNew)',
    args: 'NAME',
    example: 'ward vm create web1 --host host-3 --disk 10G --encrypt',
    flags: {
      host: text('the host that will run it', { value: 'ID', required: true }),
      disk: texts('a disk of this size (e.g. 10G)', { value: 'SIZE' }),
      cpus: int('virtual CPUs', { min: 1, max: 256 }),
      memory: text('memory (e.g. 512M, 2G)', { value: 'SIZE' }),
      datastore: text("the host's datastore (default: its first)", { value: 'NAME' }),
      encrypt: bool('encrypt it as it is created'),
      ...providerFlag,
      ...asyncFlag,
      ...sessionFlag,
    },
    async run({ values: v, positionals, out }) {
      return runTask(
        v['session-file'],
        'vm.create',
        {
          body: {
            host: v.host,
            name: need(positionals[0], 'NAME'),
            ...(v.disk.length > 0 ? { disks: v.disk } : {}),
            ...(v.cpus !== undefined ? { cpus: v.cpus } : {}),
            ...(v.memory !== undefined ? { memory: v.memory } : {}),
            ...(v.datastore !== undefined ? { datastore: v.datastore } : {}),
            ...(v.encrypt ? { encrypt: true } : {}),
            ...(v.provider !== undefined ? { provider: v.provider } : {}),
          },
        },
        { async: v.async, out },
      )
    },
  }),
  defineCommand({
    path: ['vm', 'list'],
    summary: 'VMs you may see: host, power and crypto state',
    example: 'ward vm list --json',
    flags: sessionFlag,
    async run({ values, out }) {
      const vs = await api(values['session-file'], 'vm.list', {})
      out.data(vs, () =>
        table(
          ['vm', 'name', 'host', 'power', 'crypto'],
          vs.map((x) => [x.vm, x.name, x.host ?? '', x.power_state, x.crypto_state ?? '']),
        ),
      )
      return 0
    },
  }),
  defineCommand({
    path: ['vm', 'get'],
    summary: 'One VM',
    args: 'VM',
    example: 'ward vm get vm-12 --json',
    flags: sessionFlag,
    async run({ values, positionals, out }) {
      const x = await api(values['session-file'], 'vm.get', {
        params: { vm: need(positionals[0], 'VM') },
      })
      out.data(
        x,
        () =>
          `${x.vm} ${x.name} on ${x.host ?? '(no host)'}: ${x.power_state} ${x.crypto_state ?? ''}`,
      )
      return 0
    },
  }),
  defineCommand({
    path: ['vm', 'recrypt'],
    summary:
      'Recrypt a VM: --shallow (a new KEK rewraps its keys) or --deep (every disk rewritten); Cryptographer.Recrypt',
    args: 'VM',
    example: 'ward vm recrypt vm-12 --deep',
    flags: {
      shallow: bool('a new KEK rewraps the VM keys (fast; may run powered on)'),
      deep: bool('every disk is rewritten with new keys (powered off)'),
      ...providerFlag,
      ...asyncFlag,
      ...sessionFlag,
    },
    async run({ values: v, positionals, out }) {
      if (v.shallow === v.deep)
        throw new CliError('ERR_CLI_USAGE', 'give exactly one of --shallow or --deep')
      return runTask(
        v['session-file'],
        'vm.recrypt',
        {
          params: { vm: need(positionals[0], 'VM') },
          body: {
            mode: v.deep ? 'deep' : 'shallow',
            ...(v.provider !== undefined ? { provider: v.provider } : {}),
          },
        },
        { async: v.async, out },
      )
    },
  }),
  defineCommand({
    path: ['vm', 'disk', 'add'],
    summary:
      'Add a disk to a VM (--encrypt: an encrypted disk; an encrypted VM needs Cryptographer.AddDisk)',
    args: 'VM',
    example: 'ward vm disk add vm-12 --size 20G --encrypt',
    flags: {
      size: text('its size (e.g. 20G)', { value: 'SIZE', required: true }),
      encrypt: bool('an encrypted disk (the VM must be encrypted)'),
      ...asyncFlag,
      ...sessionFlag,
    },
    async run({ values: v, positionals, out }) {
      return runTask(
        v['session-file'],
        'vm.diskAdd',
        {
          params: { vm: need(positionals[0], 'VM') },
          body: { size: v.size, ...(v.encrypt ? { encrypt: true } : {}) },
        },
        { async: v.async, out },
      )
    },
  }),
  defineCommand({
    path: ['vm', 'register'],
    summary: "Register a VM's folder on a host (it enters the inventory)",
    args: 'PATH',
    example: 'ward vm register /srv/ds1/web1 --host host-3',
    flags: {
      host: text('the host', { value: 'ID', required: true }),
      ...asyncFlag,
      ...sessionFlag,
    },
    async run({ values: v, positionals, out }) {
      return runTask(
        v['session-file'],
        'vm.register',
        { body: { host: v.host, path: need(positionals[0], 'PATH') } },
        { async: v.async, out },
      )
    },
  }),
  ...perVm.map((row) =>
    defineCommand({
      path: ['vm', ...row.words],
      summary: row.summary,
      args: 'VM',
      example: 'example' in row ? row.example : `ward vm ${row.words.join(' ')} vm-12`,
      flags: { ...row.flags, ...asyncFlag, ...sessionFlag },
      async run({ values: v, positionals, out }) {
        const vm = need(positionals[0], 'VM')
        const body = (row.body as (x: Record<string, unknown>) => Record<string, unknown>)(v)
        return runTask(v['session-file'], row.op, { params: { vm }, body } as never, {
          async: v.async,
          out,
        })
      },
    }),
  ),
]
