/**
 * The center's tables as kysely sees them: one schema for SQLite and PostgreSQL (store/migrations.ts
 * creates it). Times are milliseconds since the epoch (bigint; pg's int8 is parsed to a number by
 * the pool, store/open.ts); booleans are 0/1 integers so both databases read them the same;
 * lists and objects are JSON text. Secrets never appear in clear: tokens and session ids as HMACs
 * (auth/hmac.ts), key material sealed under the master key (seal/).
 */
import type { ColumnType, Generated } from 'kysely'

export interface CountersTable {
  name: string
  next: number
}
export interface DatacentersTable {
  id: string
  name: string
  created_at: number
}
export interface ClustersTable {
  id: string
  datacenter: string
  name: string
  /** ClusterCryptoConfigInfo.cryptoMode: onDemand | forceEnable. */
  crypto_mode: string
  created_at: number
  /** ClusterComputeResourceCryptoModePolicy as JSON { providerId, keyId }, or null (ha). */
  crypto_policy: ColumnType<string | null, string | null | undefined, string | null>
}
export interface HostsTable {
  id: string
  datacenter: string
  cluster: string | null
  name: string
  /** host:port of the host's mutual-TLS listener. */
  address: string
  /** HostSystem.runtime.connectionState: connected | disconnected | notResponding. */
  connection_state: string
  /** HostSystem.runtime.cryptoState: incapable | prepared | safe | pendingIncapable. */
  crypto_state: string
  tpm_present: number
  key_persistence: number
  recovery_key_backed_up: number
  /** `sha256:<hex>` of the host certificate the center issued, for the mutual-TLS identity. */
  cert_fingerprint: string | null
  created_at: number
  // host status polled by the leader (monitor/, migration 2026120304_ha)
  /** The host's secure configuration mode (TPM | NONE), 'unknown' until first polled. */
  secure_config_mode: ColumnType<string, string | undefined, string>
  /** When the center last heard from the host (ms), null before the first poll. */
  last_seen: ColumnType<number | null, number | null | undefined, number | null>
  /** When the host's mutual-TLS certificate expires (ms), as the host presented it. */
  cert_not_after: ColumnType<number | null, number | null | undefined, number | null>
  /** "Enable host encryption mode" asked and not yet applied: JSON { providerId, keyId }. */
  crypto_key_wanted: ColumnType<string | null, string | null | undefined, string | null>
  /** The host key the host last reported (crypto state safe): JSON { providerId, keyId }, or null. */
  host_key: ColumnType<string | null, string | null | undefined, string | null>
}
export interface DatastoresTable {
  id: string
  datacenter: string
  host: string | null
  name: string
  path: string
  created_at: number
}
export interface VmsTable {
  id: string
  datacenter: string
  host: string | null
  datastore: string | null
  name: string
  power_state: string
  /** VirtualMachine.runtime.cryptoState (unlocked | locked), null when not encrypted. */
  crypto_state: string | null
  key_provider: string | null
  kek_id: string | null
  created_at: number
  /** The VM's folder on its host (from vm.create / vm.register; migration 2026120302_tasks). */
  path: string | null
}
export interface DisksTable {
  id: string
  vm: string
  name: string
  capacity: number
  encrypted: number
  key_provider: string | null
  kek_id: string | null
  created_at: number
}
export interface UsersTable {
  name: string
  /** PHC string: $argon2id$v=19$m=…,t=…,p=…$salt$hash (auth/password.ts). */
  password_hash: string
  failed_logins: number
  locked_until: number
  created_at: number
}
export interface RolesTable {
  id: number
  name: string
  label: string
  system: number
  /** JSON array of privilege names. */
  privileges: string
}
export interface PermissionsTable {
  /** 'root' or an inventory id (datacenter-1, domain-c2, host-3, datastore-4, vm-5). */
  object: string
  principal: string
  role: number
  propagate: number
}
export interface SessionsTable {
  /** HMAC of the session id (the id itself is only ever in the client's hands). */
  id_hmac: string
  user: string
  created_at: number
  last_used: number
}
export interface ApiTokensTable {
  id: string
  user: string
  name: string
  secret_hmac: string
  created_at: number
  expires_at: number | null
}
export interface AuditTable {
  id: string
  at: number
  request_id: string
  principal: string
  method: string
  route: string
  privileges: string
  object: string
  outcome: string
  /** The privilege that was missing (denied), or ''. */
  missing: string
  status: number
}
export interface JoinTokensTable {
  id: string
  token_hmac: string
  datacenter: string
  cluster: string | null
  created_by: string
  created_at: number
  expires_at: number
  used_at: number | null
  host: string | null
}
export interface TasksTable {
  id: string
  kind: string
  object: string
  state: string
  progress: number
  created_by: string
  created_at: number
  updated_at: number
  error: string | null
  result: string | null
  // tasks (migration 2026120302_tasks)
  /** The task's inputs and the steps it has done (JSON; ids only, never key bytes). */
  params: string
  /** The host that executes it. */
  host: string | null
  progress_done: number
  progress_total: number
  /** How many times the runner has started it (a resume after a crash, a retry). */
  attempts: number
  started_at: number | null
  completed_at: number | null
}
export interface KeyProvidersTable {
  id: string
  name: string
  type: string
  spec: string
  /** Key material (NKP key-derivation key, client private keys) sealed under master.key. */
  sealed: Uint8Array | null
  created_at: number
}
// providers (issue 13 item 2)
/** A KEK the center created on a standard provider (key status, garbage collection). */
export interface CenterKeysTable {
  provider: string
  kek_id: string
  label: string
  vm: string | null
  created_by: string
  created_at: number
  /** active | destroyed */
  state: string
  /** When garbage collection first found no VM or disk using it (null while in use). */
  unused_since: number | null
  destroyed_at: number | null
}
export interface KeyProviderDefaultsTable {
  /** 'global' or a cluster id. */
  scope: string
  provider: string
}
export interface ProviderSettingsTable {
  name: string
  value: string
}

// native key providers (providers/native/; migration 2026120302_nkp)
/** A native provider's state beside its key_providers row (type 'native', KDK sealed there). */
export interface NativeProvidersTable {
  id: string
  key_id: string
  tpm_required: number
  /** When it was last backed up (export downloaded, or imported); null: not backed up. */
  backed_up_at: number | null
  /** The export time written in the latest backup file. */
  export_time: number | null
  /** The "not backed up" alarm: when it was last raised, how many times. */
  alarm_raised_at: number | null
  alarm_raises: number
}
/** One export in progress: the PKCS#12 waits (sealed) for its one-time download token. */
export interface NkpExportsTable {
  token_hmac: string
  provider: string
  sealed: Uint8Array
  export_time: number
  created_by: string
  created_at: number
  expires_at: number
  used_at: number | null
}
/** Whether a host holds a native provider's KDK (pushed over mutual TLS). */
export interface NkpHostsTable {
  provider: string
  host: string
  /** installed | refused (tpm_required, host not TPM-protected) | failed */
  state: string
  detail: string | null
  updated_at: number
}

// ha, events and alarms (migration 2026120304_ha)
export interface LeaderLeaseTable {
  name: string
  /** The node id of the holder (ha/leadership.ts). */
  holder: string
  /** The holder's API URL, '' when not listening. */
  url: string
  /** Incremented at each change of holder (a fencing token). */
  epoch: number
  acquired_at: number
  /** In the database's clock (ms). */
  expires_at: number
}
export interface EventsTable {
  id: Generated<number>
  at: number
  /** An event type of events/types.ts. */
  type: string
  severity: string
  object: string
  message: string
  /** Who caused it, or 'system'. */
  principal: string
}
export interface AlarmsTable {
  /** An alarm definition id of alarms/definitions.ts. */
  definition: string
  /** The inventory object it is on ('root': the center, e.g. for a key provider's alarm). */
  object: string
  /** What on the object (a key provider id, a certificate's name), or ''. */
  subject: string
  /** green | yellow | red */
  status: string
  message: string
  first_raised: number
  last_raised: number
  cleared_at: number | null
  acknowledged: number
  acknowledged_at: number | null
  acknowledged_by: string | null
}

export interface CenterDb {
  counters: CountersTable
  datacenters: DatacentersTable
  clusters: ClustersTable
  hosts: HostsTable
  datastores: DatastoresTable
  vms: VmsTable
  disks: DisksTable
  users: UsersTable
  roles: RolesTable
  permissions: PermissionsTable
  sessions: SessionsTable
  api_tokens: ApiTokensTable
  audit: AuditTable
  join_tokens: JoinTokensTable
  tasks: TasksTable
  key_providers: KeyProvidersTable
  // native key providers
  native_providers: NativeProvidersTable
  nkp_exports: NkpExportsTable
  nkp_hosts: NkpHostsTable
  // providers
  center_keys: CenterKeysTable
  key_provider_defaults: KeyProviderDefaultsTable
  provider_settings: ProviderSettingsTable
  // ha, events and alarms
  leader_lease: LeaderLeaseTable
  events: EventsTable
  alarms: AlarmsTable
}
