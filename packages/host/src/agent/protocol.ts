import { HostError } from '../errors.js'
import type { EncryptionSettings } from '../config/secure-config.js'
import type { RecoveryKeyStatus } from '../config/recovery-backup.js'
import type { KeyRef } from '../keys/key-cache.js'
import type { Datastore } from '../vm/inventory.js'
import type { SnapshotInfo, VmDescription, VmInspection } from '../vm/manager.js'
import type { HostCryptoStatus, RewrapReport } from '../crypto-state/host-crypto.js'
import {
  bool,
  checkParams,
  op,
  oneOf,
  opt,
  int,
  req,
  result,
  str,
  strs,
  type OpContext,
  type OpSpec,
  type ParamsOf,
  type ResultOf,
} from './schema.js'

/** What `status` answers. */
export interface HostStatus extends EncryptionSettings {
  readonly hostId: string
  readonly keyPersistence: boolean
  readonly cachedKeys: number
  /** Host encryption mode and the host key (`ward host crypto status`). */
  readonly crypto: HostCryptoStatus
  /** Does the host have a TPM (its --tpm is not none)? */
  readonly tpm: boolean
  /** Whether the current recovery key was shown on the console since it was made (mode TPM). */
  readonly recoveryKey: RecoveryKeyStatus | null
  readonly boot: {
    readonly secureBoot: boolean
    readonly execInstalledOnly: boolean
    readonly verified: boolean
  }
}

/** A recovery key as `settings.encryption.recovery.list|rotate` answer it. */
export interface RecoveryKey {
  readonly id: string
  readonly key: string
}

/**
 * The admin protocol, declared once: each operation's parameters and result type. From this table
 * come the agent's request validation (types, required and unknown parameters, before anything
 * runs), the type of its handler map (a missing or mistyped handler does not compile) and the
 * typed client (`agentClient(dataDir).call(op, params)` resolves to the operation's result). A new
 * operation is one row here and one handler in the agent. A row's third argument says how it is
 * served: `{ progress: true }` streams progress messages before the result to a caller that asks;
 * `{ remote: true }` rows are served over the host's mutual-TLS listener to the center too
 * (issue 13), the others only on the root-only admin socket, each saying why.
 */
export const AdminOps = {
  status: op({}, result<HostStatus>(), { remote: true }),
  // The host's own secure configuration (mode, sealing policy, recovery key, key persistence) is
  // a console matter, as esxcli's is: `status` reports it to the center, nothing changes it from
  // the network. settings.encryption.set to TPM cannot be undone and seals to this boot.
  'settings.encryption.get': op({}, result<EncryptionSettings>()),
  'settings.encryption.set': op(
    {
      mode: opt(oneOf('TPM', 'NONE')),
      requireSecureBoot: opt(bool),
      requireExecInstalledOnly: opt(bool),
    },
    result<EncryptionSettings>(),
  ),
  // The recovery key unlocks the configuration without the TPM: it leaves the host only on the
  // console of someone root there, never over the network (the center only shows whether it was
  // backed up).
  'settings.encryption.recovery.list': op({}, result<RecoveryKey>()),
  'settings.encryption.recovery.rotate': op({}, result<RecoveryKey>()),
  'security.keypersistence.get': op({}, result<{ enabled: boolean; storeError?: string }>()),
  'security.keypersistence.enable': op({}, result<{ enabled: true; storedKeys: number }>()),
  // Disabling key persistence (with --remove-all-stored-keys: every stored key gone) leaves VMs
  // locked at the next boot until a KMS answers: local only, like esxcli's.
  'security.keypersistence.disable': op(
    { removeAllStoredKeys: opt(bool) },
    result<{ enabled: false; removedStoredKeys: boolean }>(),
  ),
  'keys.add': op(
    { providerId: req(str), kekId: req(str), key: req(str) },
    result<{ providerId: string; kekId: string; persisted: boolean }>(),
    { remote: true },
  ),
  'keys.has': op({ providerId: req(str), kekId: req(str) }, result<{ inCache: boolean }>(), {
    remote: true,
  }),
  'keys.list': op({}, result<KeyRef[]>(), { remote: true }),
  'keys.remove': op({ providerId: req(str), kekId: req(str) }, result<{ removed: true }>(), {
    remote: true,
  }),
  // issue 13, native key providers (keys/kdk.ts): the center installs a provider's key-derivation
  // key; the host derives that provider's KEKs itself from then on (even with the center down)
  'keys.kdk.install': op(
    { providerId: req(str), kdk: req(str) },
    result<{ providerId: string; persisted: boolean }>(),
    { remote: true },
  ),
  'datastore.add': op({ name: req(str), path: req(str) }, result<Datastore>(), { remote: true }),
  'datastore.list': op({}, result<(Datastore & { vms: number })[]>(), { remote: true }),
  'vm.create': op(
    {
      name: req(str),
      cpus: opt(int),
      memory: opt(str),
      disks: opt(strs),
      firmware: opt(oneOf('bios', 'efi')),
      vtpm: opt(bool),
      autostart: opt(bool),
      datastore: opt(str),
      encrypt: opt(bool),
      providerId: opt(str),
      kekId: opt(str),
    },
    result<VmDescription>(),
    { remote: true },
  ),
  'vm.list': op({}, result<VmDescription[]>(), { remote: true }),
  'vm.describe': op({ name: req(str) }, result<VmDescription>(), { remote: true }),
  'vm.register': op({ path: req(str) }, result<VmDescription>(), { remote: true }),
  // issue 13 (clone): read a VM folder's vm.json without registering it (the center checks
  // Cryptographer.RegisterVM for an encrypted VM first); and a full clone that keeps the keys
  'vm.inspect': op({ path: req(str) }, result<VmInspection>(), { remote: true }),
  'vm.clone': op(
    { name: req(str), newName: req(str), datastore: opt(str) },
    result<VmDescription & { clonedFrom: string }>(),
    // every disk copied (bytes done / total over the source's disks)
    { progress: true, remote: true },
  ),
  'vm.unregister': op({ name: req(str) }, result<{ name: string; evictedKey: boolean }>(), {
    remote: true,
  }),
  'vm.destroy': op({ name: req(str) }, result<{ name: string; evictedKey: boolean }>(), {
    remote: true,
  }),
  'vm.disk.add': op(
    { name: req(str), size: req(str), encrypt: opt(bool) },
    result<VmDescription>(),
    { remote: true },
  ),
  'vm.autostart': op({ name: req(str), enabled: req(bool) }, result<VmDescription>(), {
    remote: true,
  }),
  'vm.power.on': op(
    { name: req(str), kernel: opt(str), initrd: opt(str), append: opt(str) },
    result<VmDescription>(),
    { remote: true },
  ),
  'vm.recrypt': op(
    {
      name: req(str),
      mode: req(oneOf('shallow', 'deep')),
      newKekId: opt(str),
      newProviderId: opt(str),
    },
    result<
      VmDescription & {
        disksRewrapped?: number
        snapshotDisksRewrapped?: number
        disksReencrypted?: number
      }
    >(),
    // deep: every disk rewritten (bytes done / total over the VM); shallow sends none
    { progress: true, remote: true },
  ),
  'vm.encrypt': op(
    { name: req(str), providerId: req(str), kekId: req(str) },
    result<VmDescription>(),
    { progress: true, remote: true },
  ),
  'vm.decrypt': op({ name: req(str) }, result<VmDescription & { evictedKey: boolean }>(), {
    progress: true,
    remote: true,
  }),
  'vm.suspend': op({ name: req(str) }, result<VmDescription>(), { remote: true }),
  'vm.resume': op({ name: req(str) }, result<VmDescription>(), { remote: true }),
  'vm.snapshot.create': op(
    // memory: default true when powered on (vSphere's "Snapshot the virtual machine's memory")
    { name: req(str), snapshot: req(str), memory: opt(bool) },
    result<VmDescription & { snapshot: SnapshotInfo }>(),
    { remote: true },
  ),
  'vm.snapshot.list': op({ name: req(str) }, result<SnapshotInfo[]>(), { remote: true }),
  'vm.snapshot.revert': op(
    { name: req(str), snapshot: req(str) },
    result<VmDescription & { snapshot: SnapshotInfo }>(),
    { remote: true },
  ),
  'vm.snapshot.remove': op(
    { name: req(str), snapshot: req(str) },
    result<VmDescription & { removed: string }>(),
    { remote: true },
  ),
  // A memory dump holds the guest's secrets and is written to a host path the caller names: a
  // console diagnostic (like vm-support), not a network operation.
  'vm.dump.memory': op(
    { name: req(str), out: opt(str) },
    result<{
      vm: string
      file: string
      hostProviderId: string
      hostKeyId: string
      plaintextBytes: number
      fileBytes: number
    }>(),
  ),
  // vCenter's CryptoManagerHost calls: the center drives the host's crypto state
  'crypto.status': op({}, result<HostCryptoStatus>(), { remote: true }),
  'crypto.prepare': op({}, result<HostCryptoStatus>(), { remote: true }),
  'crypto.enable': op({ providerId: req(str), keyId: req(str) }, result<HostCryptoStatus>(), {
    remote: true,
  }),
  'crypto.key.change': op(
    { providerId: req(str), keyId: req(str) },
    result<HostCryptoStatus & RewrapReport>(),
    { remote: true },
  ),
  'crypto.disable': op({}, result<HostCryptoStatus & { rebootRequired: true }>(), { remote: true }),
  // The host key under a password: it leaves the host only on its console, never over the network.
  'crypto.key.export': op(
    { password: req(str) },
    result<{ providerId: string; keyId: string; export: string }>(),
  ),
  'vm.power.off': op(
    { name: req(str), hard: opt(bool), timeoutSeconds: opt(int) },
    result<VmDescription & { how: string }>(),
    { remote: true },
  ),
} as const satisfies Record<string, OpSpec>

export type AdminOp = keyof typeof AdminOps
export type AdminParams<O extends AdminOp> = ParamsOf<(typeof AdminOps)[O]>
export type AdminResult<O extends AdminOp> = ResultOf<(typeof AdminOps)[O]>
/** A validated request: the operation and its typed parameters. */
export type AdminRequest = { [O in AdminOp]: { op: O; params: AdminParams<O> } }[AdminOp]
/**
 * The agent's implementation of the table: one handler per operation, typed by its row. The
 * context's `onProgress` is set only for a row declared `{ progress: true }` whose caller asked.
 */
export type AdminHandlers = {
  readonly [O in AdminOp]: (
    params: AdminParams<O>,
    ctx: OpContext,
  ) => Promise<AdminResult<O>> | AdminResult<O>
}

/** Does operation `op` stream progress (its row says `{ progress: true }`)? */
export function streamsProgress(op: string): boolean {
  return (
    Object.hasOwn(AdminOps, op) && (AdminOps[op as AdminOp] as OpSpec).options.progress === true
  )
}

/**
 * The handlers of one area's operations (`HandlersFor<'keys'>`: keys.add, keys.has, ...), for an
 * area that keeps its handlers in its own module and spreads them into the agent's map.
 */
export type HandlersFor<Area extends string> = Pick<
  AdminHandlers,
  Extract<AdminOp, `${Area}.${string}`>
>

/** The operations the center may call over mutual TLS (their row says `{ remote: true }`). */
export type RemoteOp = {
  [O in AdminOp]: (typeof AdminOps)[O]['options'] extends { remote: true } ? O : never
}[AdminOp]

/** Is `op` served over the mutual-TLS listener (its row says `{ remote: true }`)? */
export function isRemoteOp(op: string): op is RemoteOp {
  return Object.hasOwn(AdminOps, op) && (AdminOps[op as AdminOp] as OpSpec).options.remote === true
}

/**
 * Check an admin request against `AdminOps`. Unknown operation: ERR_HOST_BAD_REQUEST; a missing,
 * unknown or mistyped parameter: ERR_HOST_BAD_ARGUMENT naming the operation and the parameter.
 */
export function checkRequest(op: string, params: unknown): AdminRequest {
  if (!Object.hasOwn(AdminOps, op))
    throw new HostError('ERR_HOST_BAD_REQUEST', `unknown operation '${op.slice(0, 64)}'`)
  const spec: OpSpec = AdminOps[op as AdminOp]
  return { op, params: checkParams(op, spec.params, params) } as AdminRequest
}

/**
 * Validate a request and run its handler; `ctx.onProgress` reaches it only when its row streams
 * progress.
 */
export async function dispatchAdmin(
  handlers: AdminHandlers,
  op: string,
  params: unknown,
  ctx: OpContext = {},
): Promise<unknown> {
  const r = checkRequest(op, params)
  // the request was checked against r.op's row, so its handler takes these parameters
  const handler = handlers[r.op] as (p: typeof r.params, c: OpContext) => unknown
  return handler(r.params, ctx.onProgress && streamsProgress(r.op) ? ctx : {})
}
