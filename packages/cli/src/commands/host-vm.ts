import {
  DEFAULT_DATA_DIR,
  agentClient,
  type AdminParams,
  type CallOptions,
  type VmDescription,
} from '@ward/host'
import { resolve } from 'node:path'
import { defineCommand, type Command, type CommandContext } from '../command.js'
import { CliError } from '../errors.js'
import { bool, choice, int, text, texts, type Flags, type FlagValues } from '../flags.js'
import { lazyProgress, table } from '../output.js'
import { hostDataDir } from './host.js'

const D = DEFAULT_DATA_DIR

/** Exactly `names.length` positional arguments, named for the usage error. */
function args<const N extends readonly string[]>(
  ctx: { readonly positionals: readonly string[] },
  ...names: N
): { -readonly [K in keyof N]: string } {
  if (ctx.positionals.length !== names.length)
    throw new CliError(
      'ERR_CLI_USAGE',
      `expected ${names.join(' ') || 'no arguments'} (got ${ctx.positionals.length} argument${ctx.positionals.length === 1 ? '' : 's'})`,
    )
  return [...ctx.positionals] as { -readonly [K in keyof N]: string }
}

function describeText(d: VmDescription): string {
  const lines = [
    `Name:             ${d.name}`,
    `ID:               ${d.id}`,
    `Path:             ${d.path}`,
    `Power State:      ${d.powerState}${d.qemuStatus ? ` (${d.qemuStatus})` : ''}${d.pid !== undefined ? `, pid ${d.pid}` : ''}`,
    `Accelerator:      ${d.accelerator} (${d.acceleratorReason})`,
    `CPUs:             ${d.cpus}`,
    `Memory:           ${d.memoryMiB} MiB`,
    `Firmware:         ${d.firmware}${d.nvram ? ` (NVRAM ${d.nvram.encrypted ? 'encrypted' : 'plain'}: ${d.nvram.path})` : ''}`,
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
  if (d.snapshots)
    lines.push(
      `Snapshots:        ${d.snapshots.count}${d.snapshots.current ? ` (current: ${d.snapshots.current})` : ''}`,
    )
  if (d.unfinished)
    lines.push(
      `Unfinished:       ${d.unfinished.task}: run '${d.unfinished.command}' again to finish it (power-on is refused until then)`,
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

/** The operations that answer with the VM's description (AdminOps rows with a VmDescription). */
type VmOp =
  | 'vm.create'
  | 'vm.describe'
  | 'vm.register'
  | 'vm.disk.add'
  | 'vm.autostart'
  | 'vm.power.on'
  | 'vm.power.off'
  | 'vm.suspend'
  | 'vm.resume'
  | 'vm.recrypt'
  | 'vm.encrypt'
  | 'vm.decrypt'
  | 'vm.snapshot.create'
  | 'vm.snapshot.revert'
  | 'vm.snapshot.remove'
  | 'vm.clone'

/** A command that sends one admin operation and prints the VM it returns. */
function vmCommand<O extends VmOp, const F extends Flags = Record<never, never>>(c: {
  path: readonly string[]
  summary: string
  args: string
  example: string
  flags?: F
  params: (ctx: CommandContext<FlagValues<F & typeof hostDataDir>>) => AdminParams<O>
  op: O
  done?: (d: VmDescription) => string
  /**
   * The progress label when this call streams progress (a bar on a TTY, JSON lines on stderr
   * otherwise); undefined: no progress asked for.
   */
  progress?: (params: AdminParams<O>) => string | undefined
}): Command {
  return defineCommand({
    path: c.path,
    summary: c.summary,
    args: c.args,
    example: c.example,
    flags: { ...hostDataDir, ...c.flags } as F & typeof hostDataDir,
    async run(ctx) {
      // every VmOp row answers a VmDescription; TypeScript cannot pick the row of a generic op
      const call = agentClient(ctx.values['data-dir']).call as (
        op: O,
        params: AdminParams<O>,
        options?: CallOptions,
      ) => Promise<VmDescription>
      const params = c.params(ctx)
      const label = c.progress?.(params)
      const bar = label !== undefined ? lazyProgress(ctx.out, label) : undefined
      const d = await call(
        c.op,
        params,
        bar ? { onProgress: (p) => bar.onProgress(p.done, p.total) } : undefined,
      )
      bar?.finish()
      ctx.out.data(d, () => (c.done ? `${c.done(d)}\n\n` : '') + describeText(d))
      return 0
    },
  })
}

const nameAndSnapshot = (ctx: {
  readonly positionals: readonly string[]
}): { name: string; snapshot: string } => {
  const [name, snapshot] = args(ctx, 'NAME', 'SNAPSHOT')
  return { name, snapshot }
}

const nameOnly = (ctx: { readonly positionals: readonly string[] }): { name: string } => ({
  name: args(ctx, 'NAME')[0],
})

/** `ward host datastore ...` and `ward host vm ...`: the VMs of a host (issue 12). */
export const hostVmCommands: readonly Command[] = [
  defineCommand({
    path: ['host', 'datastore', 'add'],
    summary: 'add a datastore: a folder where VM folders are created',
    args: 'NAME PATH',
    example: `ward host datastore add ds1 /srv/ward/ds1 --data-dir ${D}`,
    flags: hostDataDir,
    async run(ctx) {
      const [name, path] = args(ctx, 'NAME', 'PATH')
      const d = await agentClient(ctx.values['data-dir']).call('datastore.add', {
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
    example: `ward host datastore list --data-dir ${D}`,
    flags: hostDataDir,
    async run(ctx) {
      args(ctx)
      const r = await agentClient(ctx.values['data-dir']).call('datastore.list')
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
    example: `ward host vm create vm1 --disk 8G --encrypt --provider-id kp1 --kek-id kek-42 --data-dir ${D}`,
    flags: {
      cpus: int('virtual CPUs', { min: 1, max: 64, default: 1 }),
      memory: text('memory size, e.g. 256M or 2G', { value: 'SIZE', default: '256M' }),
      disk: texts('a disk of this size, e.g. 8G', { value: 'SIZE' }),
      firmware: choice(['bios', 'efi'] as const, 'firmware', { default: 'bios' }),
      vtpm: bool('add a vTPM (needs --encrypt)'),
      autostart: bool('power on when the host boots'),
      datastore: text('datastore to create it on (default: the only one)', { value: 'NAME' }),
      encrypt: bool('encrypt the VM and its disks under --provider-id/--kek-id'),
      'provider-id': text('key provider of the KEK', { value: 'ID' }),
      'kek-id': text('the KEK, which must be in the key cache', { value: 'ID' }),
    },
    op: 'vm.create',
    params: ({ positionals, values: v }) => {
      const [name] = args({ positionals }, 'NAME')
      return {
        name,
        cpus: v.cpus,
        memory: v.memory,
        disks: v.disk,
        firmware: v.firmware,
        ...(v.vtpm ? { vtpm: true } : {}),
        ...(v.autostart ? { autostart: true } : {}),
        ...(v.datastore !== undefined ? { datastore: v.datastore } : {}),
        ...(v.encrypt ? { encrypt: true } : {}),
        ...(v['provider-id'] !== undefined ? { providerId: v['provider-id'] } : {}),
        ...(v['kek-id'] !== undefined ? { kekId: v['kek-id'] } : {}),
      }
    },
    done: (d) => `VM ${d.name} created in ${d.path}.`,
  }),
  defineCommand({
    path: ['host', 'vm', 'list'],
    summary: 'list the registered VMs',
    example: `ward host vm list --data-dir ${D}`,
    flags: hostDataDir,
    async run(ctx) {
      args(ctx)
      const r = await agentClient(ctx.values['data-dir']).call('vm.list')
      ctx.out.data(r, () => listText(r))
      return 0
    },
  }),
  vmCommand({
    path: ['host', 'vm', 'describe'],
    summary: 'power state, accelerator, encryption, the state of every key, locked reason',
    args: 'NAME',
    example: `ward host vm describe vm1 --data-dir ${D}`,
    op: 'vm.describe',
    params: nameOnly,
  }),
  vmCommand({
    path: ['host', 'vm', 'register'],
    summary: 'register the VM in a folder (its vm.json) on this host',
    args: 'PATH',
    example: `ward host vm register /srv/ward/ds1/vm1 --data-dir ${D}`,
    op: 'vm.register',
    params: (ctx) => ({ path: resolve(args(ctx, 'PATH')[0]) }),
    done: (d) => `VM ${d.name} registered.`,
  }),
  defineCommand({
    path: ['host', 'vm', 'unregister'],
    summary: 'remove a VM from the inventory (files stay); its KEK leaves the cache unless used',
    args: 'NAME',
    example: `ward host vm unregister vm1 --data-dir ${D}`,
    flags: hostDataDir,
    async run(ctx) {
      const [name] = args(ctx, 'NAME')
      const r = await agentClient(ctx.values['data-dir']).call('vm.unregister', { name })
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
    example: `ward host vm destroy vm1 --data-dir ${D}`,
    flags: hostDataDir,
    async run(ctx) {
      const [name] = args(ctx, 'NAME')
      const r = await agentClient(ctx.values['data-dir']).call('vm.destroy', { name })
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
    example: `ward host vm disk add vm1 --size 8G --data-dir ${D}`,
    flags: {
      size: text('disk size, e.g. 8G', { value: 'SIZE', required: true }),
      encrypt: bool('ask for an encrypted disk (refused on an unencrypted VM)'),
    },
    op: 'vm.disk.add',
    params: ({ positionals, values }) => ({
      ...nameOnly({ positionals }),
      size: values.size,
      ...(values.encrypt ? { encrypt: true } : {}),
    }),
    done: (d) => `Disk added to ${d.name}.`,
  }),
  vmCommand({
    path: ['host', 'vm', 'autostart'],
    summary: 'power the VM on when the host boots (on) or not (off)',
    args: 'NAME on|off',
    example: `ward host vm autostart vm1 on --data-dir ${D}`,
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
    example: `ward host vm power-on vm1 --kernel /boot/vmlinuz --initrd /boot/initrd.img --append console=ttyS0 --data-dir ${D}`,
    flags: {
      kernel: text('boot this kernel (else the VM boots from its first disk)', { value: 'FILE' }),
      initrd: text('initramfs for --kernel', { value: 'FILE' }),
      append: text('kernel command line for --kernel', { value: 'ARGS' }),
    },
    op: 'vm.power.on',
    params: ({ positionals, values: v }) => ({
      ...nameOnly({ positionals }),
      ...(v.kernel !== undefined ? { kernel: resolve(v.kernel) } : {}),
      ...(v.initrd !== undefined ? { initrd: resolve(v.initrd) } : {}),
      ...(v.append !== undefined ? { append: v.append } : {}),
    }),
    done: (d) => `VM ${d.name} powered on.`,
  }),
  vmCommand({
    path: ['host', 'vm', 'power-off'],
    summary: 'shut the guest down (ACPI, bounded wait, then quit); --hard powers off at once',
    args: 'NAME',
    example: `ward host vm power-off vm1 --hard --data-dir ${D}`,
    flags: {
      hard: bool('power off at once (no guest shutdown)'),
      timeout: int('seconds to wait for the guest to shut down', {
        min: 0,
        max: 3600,
        default: 30,
      }),
    },
    op: 'vm.power.off',
    params: ({ positionals, values }) => ({
      ...nameOnly({ positionals }),
      ...(values.hard ? { hard: true } : {}),
      timeoutSeconds: values.timeout,
    }),
    done: (d) => `VM ${d.name} powered off.`,
  }),
  vmCommand({
    path: ['host', 'vm', 'suspend'],
    summary: "suspend: the guest's state streamed into the VM folder (encrypted with the VM)",
    args: 'NAME',
    example: `ward host vm suspend vm1 --data-dir ${D}`,
    op: 'vm.suspend',
    params: nameOnly,
    done: (d) => `VM ${d.name} suspended.`,
  }),
  vmCommand({
    path: ['host', 'vm', 'resume'],
    summary: 'resume a suspended VM where it stopped',
    args: 'NAME',
    example: `ward host vm resume vm1 --data-dir ${D}`,
    op: 'vm.resume',
    params: nameOnly,
    done: (d) => `VM ${d.name} resumed.`,
  }),
  vmCommand({
    path: ['host', 'vm', 'recrypt'],
    summary:
      'recrypt --shallow (new KEK, may run powered on) or --deep (new DEKs, data rewritten, powered off)',
    args: 'NAME',
    example: `ward host vm recrypt vm1 --shallow --new-kek-id kek-43 --data-dir ${D}`,
    flags: {
      shallow: bool('replace the KEK only: keys and disk tokens rewrapped, no data rewritten'),
      deep: bool('new DEKs: every disk re-encrypted in place (resumes after a crash); powered off'),
      'new-kek-id': text('the new KEK, in the key cache (required with --shallow)', {
        value: 'ID',
      }),
      'new-provider-id': text('its key provider (default: the current one)', { value: 'ID' }),
    },
    op: 'vm.recrypt',
    params: ({ positionals, values: v }) => {
      const { name } = nameOnly({ positionals })
      if (v.shallow === v.deep) throw new CliError('ERR_CLI_USAGE', 'give --shallow or --deep')
      if (v.shallow && v['new-kek-id'] === undefined)
        throw new CliError('ERR_CLI_USAGE', '--shallow needs --new-kek-id')
      return {
        name,
        mode: v.shallow ? ('shallow' as const) : ('deep' as const),
        ...(v['new-kek-id'] !== undefined ? { newKekId: v['new-kek-id'] } : {}),
        ...(v['new-provider-id'] !== undefined ? { newProviderId: v['new-provider-id'] } : {}),
      }
    },
    done: (d) => `VM ${d.name} recrypted.`,
    progress: (p) => (p.mode === 'deep' ? 'recrypt' : undefined),
  }),
  vmCommand({
    path: ['host', 'vm', 'encrypt'],
    summary:
      'encrypt a powered-off VM: its disks in place, its NVRAM, a key bundle (resumes after a crash)',
    args: 'NAME',
    example: `ward host vm encrypt vm1 --provider-id kp1 --kek-id kek-42 --data-dir ${D}`,
    flags: {
      'provider-id': text('key provider of the KEK', { value: 'ID', required: true }),
      'kek-id': text('the KEK, in the key cache', { value: 'ID', required: true }),
    },
    op: 'vm.encrypt',
    params: ({ positionals, values }) => ({
      ...nameOnly({ positionals }),
      providerId: values['provider-id'],
      kekId: values['kek-id'],
    }),
    done: (d) => `VM ${d.name} encrypted.`,
    progress: () => 'encrypt',
  }),
  vmCommand({
    path: ['host', 'vm', 'decrypt'],
    summary:
      'decrypt a powered-off VM: plain disks and NVRAM; its KEK leaves the cache unless used',
    args: 'NAME',
    example: `ward host vm decrypt vm1 --data-dir ${D}`,
    op: 'vm.decrypt',
    params: nameOnly,
    done: (d) => `VM ${d.name} decrypted.`,
    progress: () => 'decrypt',
  }),
  vmCommand({
    path: ['host', 'vm', 'clone'],
    summary:
      'full clone of a VM to a new name: disks copied sparse, an encrypted VM keeps its KEK and DEKs; new id, new blank vTPM',
    args: 'NAME NEW-NAME',
    example: `ward host vm clone vm1 vm1-copy --data-dir ${D}`,
    flags: {
      datastore: text("the clone's datastore (default: the source's folder's)", {
        value: 'NAME',
      }),
    },
    op: 'vm.clone',
    params: (ctx) => {
      const [name, newName] = args(ctx, 'NAME', 'NEW-NAME')
      return {
        name,
        newName,
        ...(ctx.values.datastore !== undefined ? { datastore: ctx.values.datastore } : {}),
      }
    },
    done: (d) => `VM ${d.name} cloned.`,
    progress: () => 'clone',
  }),
  vmCommand({
    path: ['host', 'vm', 'snapshot', 'create'],
    summary:
      'take a snapshot (a child of the current one): disks, NVRAM, vTPM state, and memory when powered on',
    args: 'NAME SNAPSHOT',
    example: `ward host vm snapshot create vm1 before-upgrade --no-memory --data-dir ${D}`,
    flags: {
      'no-memory': bool(
        "a powered-on VM's disks, NVRAM and vTPM state only, not its memory (the guest is paused and its disks flushed meanwhile); a revert powers it off",
      ),
    },
    op: 'vm.snapshot.create',
    params: ({ positionals, values }) => ({
      ...nameAndSnapshot({ positionals }),
      ...(values['no-memory'] ? { memory: false } : {}),
    }),
    done: (d) => `Snapshot taken of ${d.name}.`,
  }),
  defineCommand({
    path: ['host', 'vm', 'snapshot', 'list'],
    summary: "list a VM's snapshot tree: parent, memory, the current one",
    args: 'NAME',
    example: `ward host vm snapshot list vm1 --data-dir ${D}`,
    flags: hostDataDir,
    async run(ctx) {
      const [name] = args(ctx, 'NAME')
      const r = await agentClient(ctx.values['data-dir']).call('vm.snapshot.list', { name })
      ctx.out.data(r, () =>
        table(
          ['Snapshot', 'Parent', 'Created', 'Memory', 'Current'],
          r.map((x) => [
            x.name,
            x.parent ?? '-',
            x.created,
            String(x.withMemory),
            x.current ? 'yes' : '',
          ]),
        ),
      )
      return 0
    },
  }),
  vmCommand({
    path: ['host', 'vm', 'snapshot', 'revert'],
    summary: 'revert to a snapshot: its disks again; a memory snapshot resumes where it was taken',
    args: 'NAME SNAPSHOT',
    example: `ward host vm snapshot revert vm1 before-upgrade --data-dir ${D}`,
    op: 'vm.snapshot.revert',
    params: nameAndSnapshot,
    done: (d) => `VM ${d.name} reverted.`,
  }),
  vmCommand({
    path: ['host', 'vm', 'snapshot', 'remove'],
    summary: 'remove a snapshot: its children move to its parent, its files are deleted',
    args: 'NAME SNAPSHOT',
    example: `ward host vm snapshot remove vm1 before-upgrade --data-dir ${D}`,
    op: 'vm.snapshot.remove',
    params: nameAndSnapshot,
    done: (d) => `Snapshot removed from ${d.name}.`,
  }),
]
