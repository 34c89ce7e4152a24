import { CliError } from '../errors.js'
import { DEFAULT_DATA_DIR, agentClient, type AdminParams, type VmDescription } from '@ward/host'
import { resolve } from 'node:path'
import { defineCommand, type Command, type CommandContext, type Options } from '../command.js'
import { table } from '../output.js'
import { dataDirOf } from './host.js'

const dataDir = { 'data-dir': { type: 'string' } } as const
const dataDirHelp = { 'data-dir': `host data folder (default ${DEFAULT_DATA_DIR})` }

/** Exactly `names.length` positional arguments, named for the usage error. */
function args<const N extends readonly string[]>(
  ctx: CommandContext,
  ...names: N
): { -readonly [K in keyof N]: string } {
  if (ctx.positionals.length !== names.length)
    throw new CliError(
      'ERR_CLI_USAGE',
      `expected ${names.join(' ')} (got ${ctx.positionals.length} argument${ctx.positionals.length === 1 ? '' : 's'})`,
    )
  return [...ctx.positionals] as { -readonly [K in keyof N]: string }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

function describeText(d: VmDescription): string {
  const lines = [
    `Name:             ${d.name}`,
    `ID:               ${d.id}`,
    `Path:             ${d.path}`,
    `Power State:      ${d.powerState}${d.qemuStatus ? ` (${d.qemuStatus})` : ''}${d.pid !== undefined ? `, pid ${d.pid}` : ''}`,
    `Accelerator:      ${d.accelerator} (${d.acceleratorReason})`,
    `CPUs:             ${d.cpus}`,
    `Memory:           ${d.memoryMiB} MiB`,
    `Firmware:         ${d.firmware}`,
    `vTPM:             ${d.vtpm}`,
    `Autostart:        ${d.autostart}`,
    `Encrypted:        ${d.encrypted}`,
  ]
  if (d.encryption)
    lines.push(
      `Key Provider:     ${d.encryption.providerId}`,
      `KEK ID:           ${d.encryption.kekId}`,
      `Crypto State:     ${d.cryptoState ?? ''}${d.lockedReason ? ` (${d.lockedReason})` : ''}`,
    )
  lines.push(
    '',
    table(
      ['Disk', 'File', 'Size', 'Allocated', 'Encrypted'],
      d.disks.map((x) => [
        x.id,
        x.file,
        `${x.sizeBytes / 1048576} MiB`,
        `${Math.round(x.allocatedBytes / 1048576)} MiB`,
        String(x.encrypted),
      ]),
    ),
  )
  if (d.keys.length > 0)
    lines.push(
      '',
      table(
        ['Key', 'Provider', 'KEK ID', 'State'],
        d.keys.map((k) => [
          k.disk ? `${k.role} ${k.disk}` : k.role,
          k.providerId,
          k.kekId,
          k.state,
        ]),
      ),
    )
  lines.push('', `Log:              ${d.log}`, `Console:          ${d.console}`)
  return lines.join('\n')
}

const listText = (vms: readonly VmDescription[]): string =>
  table(
    ['Name', 'Power State', 'Encrypted', 'Crypto State', 'Disks', 'Path'],
    vms.map((v) => [
      v.name,
      v.powerState,
      String(v.encrypted),
      v.cryptoState ?? '-',
      String(v.disks.length),
      v.path,
    ]),
  )

/** The operations that answer with the VM's description (AdminOps rows with result VmDescription). */
type VmOp =
  | 'vm.create'
  | 'vm.describe'
  | 'vm.register'
  | 'vm.disk.add'
  | 'vm.autostart'
  | 'vm.power.on'
  | 'vm.power.off'
  | 'vm.suspend'
  | 'vm.encrypt'
  | 'vm.decrypt'
  | 'vm.recrypt'
  | 'vm.resume'

/** A command that sends one admin operation and prints the VM it returns. */
function vmCommand<O extends VmOp>(c: {
  path: readonly string[]
  summary: string
  args: string
  options?: Options
  help?: Record<string, string>
  params: (ctx: CommandContext) => AdminParams<O>
  op: O
  done?: (d: VmDescription) => string
}): Command {
  return defineCommand({
    path: c.path,
    summary: c.summary,
    args: c.args,
    options: { ...dataDir, ...c.options },
    help: { ...dataDirHelp, ...c.help },
    async run(ctx) {
      // every VmOp row answers a VmDescription; TypeScript cannot pick the row of a generic op
      const call = agentClient(dataDirOf(ctx.values)).call as (
        op: O,
        params: AdminParams<O>,
      ) => Promise<VmDescription>
      const d = await call(c.op, c.params(ctx))
      ctx.out.data(d, () => (c.done ? `${c.done(d)}\n\n` : '') + describeText(d))
      return 0
    },
  })
}

const int = (flag: string, v: unknown): number | undefined => {
  if (v === undefined) return undefined
  const s = String(v)
  if (!/^\d{1,9}$/.test(s))
    throw new CliError('ERR_CLI_USAGE', `--${flag} takes a whole number (got ${s.slice(0, 32)})`)
  return Number(s)
}

/** `ward host datastore ...` and `ward host vm ...`: the VMs of a host (issue 12). */
export const hostVmCommands: readonly Command[] = [
  defineCommand({
    path: ['host', 'datastore', 'add'],
    summary: 'add a datastore: a folder where VM folders are created',
    args: 'NAME PATH',
    options: dataDir,
    help: dataDirHelp,
    async run(ctx) {
      const [name, path] = args(ctx, 'NAME', 'PATH')
      const d = await agentClient(dataDirOf(ctx.values)).call('datastore.add', {
        name,
        path: resolve(path),
      })
      ctx.out.data(d, () => `Datastore ${d.name} added: ${d.path}`)
      return 0
    },
  }),
  defineCommand({
    path: ['host', 'datastore', 'list'],
    summary: 'list the datastores',
    options: dataDir,
    help: dataDirHelp,
    async run(ctx) {
      args(ctx)
      const r = await agentClient(dataDirOf(ctx.values)).call('datastore.list')
      ctx.out.data(r, () =>
        table(
          ['Name', 'Path', 'VMs'],
          r.map((d) => [d.name, d.path, String(d.vms)]),
        ),
      )
      return 0
    },
  }),
  vmCommand({
    path: ['host', 'vm', 'create'],
    summary: 'create a VM on a datastore: thin disks, encrypted with --encrypt (KEK in the cache)',
    args: 'NAME',
    options: {
      cpus: { type: 'string' },
      memory: { type: 'string' },
      disk: { type: 'string', multiple: true },
      firmware: { type: 'string' },
      vtpm: { type: 'boolean' },
      autostart: { type: 'boolean' },
      datastore: { type: 'string' },
      encrypt: { type: 'boolean' },
      'provider-id': { type: 'string' },
      'kek-id': { type: 'string' },
    },
    help: {
      cpus: 'virtual CPUs (default 1)',
      memory: 'memory size, e.g. 256M or 2G (default 256M)',
      disk: 'a disk of this size, e.g. 8G (repeat for more disks)',
      firmware: 'bios (default) or efi',
      vtpm: 'add a vTPM (needs --encrypt)',
      autostart: 'power on when the host boots',
      datastore: 'datastore to create it on (default: the only one)',
      encrypt: 'encrypt the VM and its disks with --provider-id/--kek-id',
      'provider-id': 'key provider of the KEK',
      'kek-id': 'the KEK, which must be in the key cache',
    },
    op: 'vm.create',
    params: (ctx) => {
      const [name] = args(ctx, 'NAME')
      const v = ctx.values
      const fw = str(v.firmware)
      if (fw !== undefined && fw !== 'bios' && fw !== 'efi')
        throw new CliError('ERR_CLI_USAGE', '--firmware takes bios or efi')
      const firmware: 'bios' | 'efi' | undefined = fw
      const cpus = int('cpus', v.cpus)
      const memory = str(v.memory)
      const datastore = str(v.datastore)
      const providerId = str(v['provider-id'])
      const kekId = str(v['kek-id'])
      return {
        name,
        ...(cpus !== undefined ? { cpus } : {}),
        ...(memory !== undefined ? { memory } : {}),
        ...(Array.isArray(v.disk) ? { disks: v.disk.map(String) } : {}),
        ...(firmware !== undefined ? { firmware } : {}),
        ...(v.vtpm === true ? { vtpm: true } : {}),
        ...(v.autostart === true ? { autostart: true } : {}),
        ...(datastore !== undefined ? { datastore } : {}),
        ...(v.encrypt === true ? { encrypt: true } : {}),
        ...(providerId !== undefined ? { providerId } : {}),
        ...(kekId !== undefined ? { kekId } : {}),
      }
    },
    done: (d) => `VM ${d.name} created in ${d.path}.`,
  }),
  defineCommand({
    path: ['host', 'vm', 'list'],
    summary: 'list the registered VMs',
    options: dataDir,
    help: dataDirHelp,
    async run(ctx) {
      args(ctx)
      const r = await agentClient(dataDirOf(ctx.values)).call('vm.list')
      ctx.out.data(r, () => listText(r))
      return 0
    },
  }),
  vmCommand({
    path: ['host', 'vm', 'describe'],
    summary: 'power state, accelerator, encryption, the state of every key, locked reason',
    args: 'NAME',
    op: 'vm.describe',
    params: (ctx) => ({ name: args(ctx, 'NAME')[0] }),
  }),
  vmCommand({
    path: ['host', 'vm', 'register'],
    summary: 'register the VM in a folder (its vm.json) on this host',
    args: 'PATH',
    op: 'vm.register',
    params: (ctx) => ({ path: resolve(args(ctx, 'PATH')[0]!) }),
    done: (d) => `VM ${d.name} registered.`,
  }),
  defineCommand({
    path: ['host', 'vm', 'unregister'],
    summary: 'remove a VM from the inventory (files stay); its KEK leaves the cache unless used',
    args: 'NAME',
    options: dataDir,
    help: dataDirHelp,
    async run(ctx) {
      const [name] = args(ctx, 'NAME')
      const r = await agentClient(dataDirOf(ctx.values)).call('vm.unregister', { name })
      ctx.out.data(
        r,
        () =>
          `VM ${name} unregistered.${r.evictedKey ? ' Its KEK was evicted from the key cache.' : ''}`,
      )
      return 0
    },
  }),
  defineCommand({
    path: ['host', 'vm', 'destroy'],
    summary: 'delete a powered-off VM: its configuration, disks and logs',
    args: 'NAME',
    options: dataDir,
    help: dataDirHelp,
    async run(ctx) {
      const [name] = args(ctx, 'NAME')
      const r = await agentClient(dataDirOf(ctx.values)).call('vm.destroy', { name })
      ctx.out.data(
        r,
        () =>
          `VM ${name} destroyed.${r.evictedKey ? ' Its KEK was evicted from the key cache.' : ''}`,
      )
      return 0
    },
  }),
  vmCommand({
    path: ['host', 'vm', 'disk', 'add'],
    summary: 'add a thin disk (encrypted when the VM is); powered off',
    args: 'NAME',
    options: { size: { type: 'string' }, encrypt: { type: 'boolean' } },
    help: {
      size: 'disk size, e.g. 8G (required)',
      encrypt: 'ask for an encrypted disk (refused on an unencrypted VM)',
    },
    op: 'vm.disk.add',
    params: (ctx) => {
      const [name] = args(ctx, 'NAME')
      const size = str(ctx.values.size)
      if (size === undefined) throw new CliError('ERR_CLI_USAGE', '--size is required')
      return { name, size, ...(ctx.values.encrypt === true ? { encrypt: true } : {}) }
    },
    done: (d) => `Disk added to ${d.name}.`,
  }),
  vmCommand({
    path: ['host', 'vm', 'autostart'],
    summary: 'power the VM on when the host boots (on) or not (off)',
    args: 'NAME on|off',
    op: 'vm.autostart',
    params: (ctx) => {
      const [name, v] = args(ctx, 'NAME', 'on|off')
      if (v !== 'on' && v !== 'off')
        throw new CliError('ERR_CLI_USAGE', 'autostart takes on or off')
      return { name, enabled: v === 'on' }
    },
  }),
  vmCommand({
    path: ['host', 'vm', 'power-on'],
    summary: 'power on under QEMU (KVM when usable, else TCG); --kernel boots a kernel directly',
    args: 'NAME',
    options: {
      kernel: { type: 'string' },
      initrd: { type: 'string' },
      append: { type: 'string' },
    },
    help: {
      kernel: 'boot this kernel (else the VM boots from its first disk)',
      initrd: 'initramfs for --kernel',
      append: 'kernel command line for --kernel',
    },
    op: 'vm.power.on',
    params: (ctx) => {
      const [name] = args(ctx, 'NAME')
      const k = str(ctx.values.kernel)
      const i = str(ctx.values.initrd)
      const a = str(ctx.values.append)
      return {
        name,
        ...(k !== undefined ? { kernel: resolve(k) } : {}),
        ...(i !== undefined ? { initrd: resolve(i) } : {}),
        ...(a !== undefined ? { append: a } : {}),
      }
    },
    done: (d) => `VM ${d.name} powered on.`,
  }),
  vmCommand({
    path: ['host', 'vm', 'recrypt'],
    summary:
      'recrypt --shallow (new KEK, may run powered on) or --deep (new DEKs, data rewritten, powered off)',
    args: 'NAME',
    options: {
      shallow: { type: 'boolean' },
      deep: { type: 'boolean' },
      'new-kek-id': { type: 'string' },
      'new-provider-id': { type: 'string' },
    },
    help: {
      shallow: 'replace the KEK only: keys and disk tokens rewrapped, no data rewritten',
      deep: 'new DEKs: every disk re-encrypted in place (resumes after a crash), powered off only',
      'new-kek-id':
        'the new KEK, in the key cache (required with --shallow; --deep keeps the KEK without it)',
      'new-provider-id': 'its key provider (default: the current one)',
    },
    op: 'vm.recrypt',
    params: (ctx) => {
      const [name] = args(ctx, 'NAME')
      const shallow = ctx.values.shallow === true
      const deep = ctx.values.deep === true
      if (shallow === deep) throw new CliError('ERR_CLI_USAGE', 'give --shallow or --deep')
      const k = str(ctx.values['new-kek-id'])
      if (shallow && k === undefined)
        throw new CliError('ERR_CLI_USAGE', '--shallow needs --new-kek-id')
      const p = str(ctx.values['new-provider-id'])
      return {
        name,
        mode: shallow ? ('shallow' as const) : ('deep' as const),
        ...(k !== undefined ? { newKekId: k } : {}),
        ...(p !== undefined ? { newProviderId: p } : {}),
      }
    },
    done: (d) => `VM ${d.name} recrypted.`,
  }),
  vmCommand({
    path: ['host', 'vm', 'encrypt'],
    summary:
      'encrypt a powered-off VM: its disks in place, its NVRAM, a key bundle (resumes after a crash)',
    args: 'NAME',
    options: { 'provider-id': { type: 'string' }, 'kek-id': { type: 'string' } },
    help: {
      'provider-id': 'key provider of the KEK (required)',
      'kek-id': 'the KEK, in the key cache (required)',
    },
    op: 'vm.encrypt',
    params: (ctx) => {
      const [name] = args(ctx, 'NAME')
      const providerId = str(ctx.values['provider-id'])
      const kekId = str(ctx.values['kek-id'])
      if (providerId === undefined || kekId === undefined)
        throw new CliError('ERR_CLI_USAGE', '--provider-id and --kek-id are required')
      return { name, providerId, kekId }
    },
    done: (d) => `VM ${d.name} encrypted.`,
  }),
  vmCommand({
    path: ['host', 'vm', 'decrypt'],
    summary:
      'decrypt a powered-off VM: plain disks and NVRAM; its KEK leaves the cache unless used',
    args: 'NAME',
    op: 'vm.decrypt',
    params: (ctx) => ({ name: args(ctx, 'NAME')[0] }),
    done: (d) => `VM ${d.name} decrypted.`,
  }),
  vmCommand({
    path: ['host', 'vm', 'suspend'],
    summary: "suspend: the guest's state streamed into the VM folder (encrypted with the VM)",
    args: 'NAME',
    op: 'vm.suspend',
    params: (ctx) => ({ name: args(ctx, 'NAME')[0] }),
    done: (d) => `VM ${d.name} suspended.`,
  }),
  vmCommand({
    path: ['host', 'vm', 'resume'],
    summary: 'resume a suspended VM where it stopped',
    args: 'NAME',
    op: 'vm.resume',
    params: (ctx) => ({ name: args(ctx, 'NAME')[0] }),
    done: (d) => `VM ${d.name} resumed.`,
  }),
  vmCommand({
    path: ['host', 'vm', 'power-off'],
    summary: 'shut the guest down (ACPI, bounded wait, then quit); --hard powers off at once',
    args: 'NAME',
    options: { hard: { type: 'boolean' }, timeout: { type: 'string' } },
    help: {
      hard: 'power off at once (no guest shutdown)',
      timeout: 'seconds to wait for the guest to shut down (default 30)',
    },
    op: 'vm.power.off',
    params: (ctx) => {
      const [name] = args(ctx, 'NAME')
      const t = int('timeout', ctx.values.timeout)
      return {
        name,
        ...(ctx.values.hard === true ? { hard: true } : {}),
        ...(t !== undefined ? { timeoutSeconds: t } : {}),
      }
    },
    done: (d) => `VM ${d.name} powered off.`,
  }),
]
