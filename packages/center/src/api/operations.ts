/**
 * Every operation of the center's REST API, declared once (see api/spec.ts). vSphere REST shapes
 * where vSphere has the resource (/api/session, /api/vcenter/...), Ward's own under /api/ward/.
 * The keys are the operation ids of the OpenAPI document and of the typed client.
 */
import { Type, type TObject, type TSchema } from 'typebox'
import { op } from './spec.js'
import type { Privilege } from '../authz/privileges.js'
import { TASK_ID_PATTERN, TaskStates, taskObject } from '../tasks/store.js'
import {
  Cluster,
  ClusterId,
  CryptoMode,
  Datacenter,
  DatacenterId,
  Datastore,
  DatastoreId,
  Host,
  HostId,
  Name,
  ObjectId,
  Permission,
  Privileges,
  Role,
  RoleName,
  Seconds,
  Time,
  Token,
  User,
  UserName,
  Vm,
  VmId,
  closed,
} from './schemas.js'
// providers
import {
  CertPem,
  KeyId,
  KeyPem,
  KeyStatus,
  KmipServer,
  Provider,
  ProviderId,
  ProviderStatus,
  ServerName,
  UnusedKey,
} from '../providers/schemas.js'
import {
  Alarm,
  AlarmDefinitionName,
  AlarmSubject,
  Event,
  HostEncryptionMode,
  KeyRefId,
  LeaderStatus,
} from './ha-schemas.js'

const NoQuery = Type.Object({}, closed)
// native key providers
const NkpName = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
})
const NkpKeyId = Type.String({
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
})
const NkpConstraints = Type.Object({ tpm_required: Type.Boolean() }, closed)
const NkpPassword = Type.String({ minLength: 8, maxLength: 1024 })
const NkpInfo = Type.Object(
  {
    provider: Type.String(),
    type: Type.Literal('NATIVE'),
    key_id: Type.String(),
    constraints: NkpConstraints,
    status: Type.Union([
      Type.Literal('NOT_BACKED_UP'),
      Type.Literal('WARNING'),
      Type.Literal('ACTIVE'),
    ]),
    backed_up: Type.Boolean(),
    export_time: Type.Union([Time, Type.Null()]),
    alarm: Type.Union([
      Type.Object({ name: Type.String(), raised: Time, raises: Type.Integer() }, closed),
      Type.Null(),
    ]),
    hosts: Type.Array(
      Type.Object(
        { host: Type.String(), state: Type.String(), detail: Type.Optional(Type.String()) },
        closed,
      ),
    ),
  },
  closed,
)

// VM encryption tasks: shapes and the row maker of the per-VM task routes
const VmName = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' })
const DiskSize = Type.String({ pattern: '^[1-9][0-9]{0,9}[KMGT]?$', maxLength: 11 })
const ProviderRef = Type.String({
  minLength: 1,
  maxLength: 80,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
})
const TaskId = Type.String({ maxLength: 64, pattern: TASK_ID_PATTERN })
const TaskRef = Type.Object({ task: Type.String(), vm: Type.String() }, closed)
const Task = Type.Object(
  {
    task: Type.String(),
    kind: Type.String(),
    object: Type.String(),
    host: Type.Union([Type.String(), Type.Null()]),
    state: Type.Union([
      Type.Literal(TaskStates[0]),
      Type.Literal(TaskStates[1]),
      Type.Literal(TaskStates[2]),
      Type.Literal(TaskStates[3]),
    ]),
    progress: Type.Integer(),
    progress_done: Type.Integer(),
    progress_total: Type.Integer(),
    user: Type.String(),
    attempts: Type.Integer(),
    created: Time,
    started: Type.Union([Time, Type.Null()]),
    completed: Type.Union([Time, Type.Null()]),
    error: Type.Union([
      Type.Object(
        { code: Type.String(), message: Type.String(), hostCode: Type.Optional(Type.String()) },
        closed,
      ),
      Type.Null(),
    ]),
    result: Type.Unknown(),
  },
  closed,
)
const VmParams = Type.Object({ vm: VmId }, closed)
function vmTask<B extends TSchema = TObject<Record<string, never>>>(
  action: string,
  summary: string,
  privileges: readonly Privilege[],
  body?: B,
) {
  return op({
    method: 'POST',
    url: `/api/ward/vm/:vm/${action}`,
    summary,
    status: 201,
    params: VmParams,
    body: (body ?? Type.Object({}, closed)) as B,
    response: TaskRef,
    access: { kind: 'object', privileges, object: (i) => i.params.vm },
  })
}
const Empty = Type.Null()
const Pem = (max: number) => Type.String({ minLength: 64, maxLength: max, pattern: '^-----BEGIN ' })

export const operations = {
  // sessions (vSphere REST: com.vmware.cis.session)
  'session.create': op({
    method: 'POST',
    url: '/api/session',
    summary: 'Log in with HTTP basic auth; the session id goes in vmware-api-session-id',
    status: 201,
    response: Type.String(),
    access: { kind: 'public' },
  }),
  'session.get': op({
    method: 'GET',
    url: '/api/session',
    summary: 'Who is logged in on this session',
    response: Type.Object({ user: Type.String(), created_time: Time }, closed),
    access: { kind: 'session' },
  }),
  'session.delete': op({
    method: 'DELETE',
    url: '/api/session',
    summary: 'Log out: end this session',
    status: 204,
    response: Empty,
    access: { kind: 'session' },
  }),
  'openapi.get': op({
    method: 'GET',
    url: '/api/openapi.json',
    summary: 'This API as an OpenAPI 3 document',
    response: Type.Object({}, { additionalProperties: true }),
    access: { kind: 'public' },
  }),
  // API tokens (the caller's own)
  'token.create': op({
    method: 'POST',
    url: '/api/ward/tokens',
    summary: 'Create an API token for the caller (shown once; sent as Authorization: Bearer)',
    status: 201,
    body: Type.Object({ name: Name, ttl_seconds: Type.Optional(Seconds) }, closed),
    response: Type.Object(
      {
        id: Type.String(),
        name: Type.String(),
        user: Type.String(),
        created: Time,
        expires: Type.Union([Time, Type.Null()]),
        token: Type.String(),
      },
      closed,
    ),
    access: { kind: 'session' },
  }),
  'token.list': op({
    method: 'GET',
    url: '/api/ward/tokens',
    summary: "The caller's API tokens (never their values)",
    query: NoQuery,
    response: Type.Array(Token),
    access: { kind: 'session' },
  }),
  'token.revoke': op({
    method: 'DELETE',
    url: '/api/ward/tokens/:token',
    summary: "Revoke one of the caller's API tokens",
    status: 204,
    params: Type.Object({ token: Type.String({ pattern: '^[0-9a-f]{16}$' }) }, closed),
    response: Empty,
    access: { kind: 'session' },
  }),
  // users
  'user.list': op({
    method: 'GET',
    url: '/api/ward/users',
    summary: 'Local users',
    query: NoQuery,
    response: Type.Array(User),
    access: { kind: 'object', privileges: ['System.Read'], object: () => 'root' },
  }),
  'user.create': op({
    method: 'POST',
    url: '/api/ward/users',
    summary: 'Create a local user (argon2id password hash)',
    status: 201,
    body: Type.Object(
      { name: UserName, password: Type.String({ minLength: 8, maxLength: 1024 }) },
      closed,
    ),
    response: User,
    access: { kind: 'object', privileges: ['Host.Local.ManageUserGroups'], object: () => 'root' },
  }),
  'user.delete': op({
    method: 'DELETE',
    url: '/api/ward/users/:user',
    summary: 'Delete a local user, their sessions, tokens and permissions',
    status: 204,
    params: Type.Object({ user: UserName }, closed),
    response: Empty,
    access: { kind: 'object', privileges: ['Host.Local.ManageUserGroups'], object: () => 'root' },
  }),
  // privileges and roles
  'privilege.list': op({
    method: 'GET',
    url: '/api/ward/privileges',
    summary: 'Every privilege, with what it allows',
    query: NoQuery,
    response: Type.Array(Type.Object({ id: Type.String(), description: Type.String() }, closed)),
    access: { kind: 'session' },
  }),
  'role.list': op({
    method: 'GET',
    url: '/api/ward/roles',
    summary: 'Roles (system and custom) and their privileges',
    query: NoQuery,
    response: Type.Array(Role),
    access: { kind: 'session' },
  }),
  'role.get': op({
    method: 'GET',
    url: '/api/ward/roles/:role',
    summary: 'One role',
    params: Type.Object({ role: RoleName }, closed),
    response: Role,
    access: { kind: 'session' },
  }),
  'role.create': op({
    method: 'POST',
    url: '/api/ward/roles',
    summary: 'Create a custom role from a set of privileges',
    status: 201,
    body: Type.Object(
      { name: RoleName, label: Type.Optional(Name), privileges: Privileges },
      closed,
    ),
    response: Role,
    access: { kind: 'object', privileges: ['Authorization.ModifyRoles'], object: () => 'root' },
  }),
  'role.clone': op({
    method: 'POST',
    url: '/api/ward/roles/:role/clone',
    summary: 'Clone a role (system or custom) into a custom one, adding and removing privileges',
    status: 201,
    params: Type.Object({ role: RoleName }, closed),
    body: Type.Object(
      {
        name: RoleName,
        label: Type.Optional(Name),
        add: Type.Optional(Privileges),
        remove: Type.Optional(Privileges),
      },
      closed,
    ),
    response: Role,
    access: { kind: 'object', privileges: ['Authorization.ModifyRoles'], object: () => 'root' },
  }),
  'role.update': op({
    method: 'PATCH',
    url: '/api/ward/roles/:role',
    summary: "Change a custom role's label or privileges (system roles are immutable)",
    params: Type.Object({ role: RoleName }, closed),
    body: Type.Object(
      { label: Type.Optional(Name), privileges: Type.Optional(Privileges) },
      closed,
    ),
    response: Role,
    access: { kind: 'object', privileges: ['Authorization.ModifyRoles'], object: () => 'root' },
  }),
  'role.delete': op({
    method: 'DELETE',
    url: '/api/ward/roles/:role',
    summary: 'Delete a custom role no permission uses',
    status: 204,
    params: Type.Object({ role: RoleName }, closed),
    response: Empty,
    access: { kind: 'object', privileges: ['Authorization.ModifyRoles'], object: () => 'root' },
  }),
  // permissions
  'permission.list': op({
    method: 'GET',
    url: '/api/ward/permissions',
    summary: 'Permissions, on objects the caller may read',
    query: Type.Object(
      { object: Type.Optional(ObjectId), principal: Type.Optional(UserName) },
      closed,
    ),
    response: Type.Array(Permission),
    access: { kind: 'filter', privileges: ['System.Read'] },
  }),
  'permission.set': op({
    method: 'PUT',
    url: '/api/ward/permissions',
    summary: 'Give a principal a role on an object (replaces their permission there)',
    body: Type.Object(
      { object: ObjectId, principal: UserName, role: RoleName, propagate: Type.Boolean() },
      closed,
    ),
    response: Permission,
    access: {
      kind: 'object',
      privileges: ['Authorization.ModifyPermissions'],
      object: (i) => i.body.object,
    },
  }),
  'permission.remove': op({
    method: 'DELETE',
    url: '/api/ward/permissions',
    summary: "Remove a principal's permission on an object",
    status: 204,
    query: Type.Object({ object: ObjectId, principal: UserName }, closed),
    response: Empty,
    access: {
      kind: 'object',
      privileges: ['Authorization.ModifyPermissions'],
      object: (i) => i.query.object,
    },
  }),
  // datacenters (vSphere REST: vcenter.Datacenter)
  'datacenter.list': op({
    method: 'GET',
    url: '/api/vcenter/datacenter',
    summary: 'Datacenters',
    query: NoQuery,
    response: Type.Array(Datacenter),
    access: { kind: 'filter', privileges: ['System.View'] },
  }),
  'datacenter.get': op({
    method: 'GET',
    url: '/api/vcenter/datacenter/:datacenter',
    summary: 'One datacenter',
    params: Type.Object({ datacenter: DatacenterId }, closed),
    response: Datacenter,
    access: { kind: 'object', privileges: ['System.Read'], object: (i) => i.params.datacenter },
  }),
  'datacenter.create': op({
    method: 'POST',
    url: '/api/vcenter/datacenter',
    summary: 'Create a datacenter; answers its id',
    status: 201,
    body: Type.Object({ name: Name }, closed),
    response: Type.String(),
    access: { kind: 'object', privileges: ['Datacenter.Create'], object: () => 'root' },
  }),
  'datacenter.delete': op({
    method: 'DELETE',
    url: '/api/vcenter/datacenter/:datacenter',
    summary: 'Delete an empty datacenter',
    status: 204,
    params: Type.Object({ datacenter: DatacenterId }, closed),
    response: Empty,
    access: {
      kind: 'object',
      privileges: ['Datacenter.Delete'],
      object: (i) => i.params.datacenter,
    },
  }),
  // clusters (vcenter.Cluster)
  'cluster.list': op({
    method: 'GET',
    url: '/api/vcenter/cluster',
    summary: 'Clusters',
    query: NoQuery,
    response: Type.Array(Cluster),
    access: { kind: 'filter', privileges: ['System.View'] },
  }),
  'cluster.get': op({
    method: 'GET',
    url: '/api/vcenter/cluster/:cluster',
    summary: 'One cluster',
    params: Type.Object({ cluster: ClusterId }, closed),
    response: Cluster,
    access: { kind: 'object', privileges: ['System.Read'], object: (i) => i.params.cluster },
  }),
  'cluster.create': op({
    method: 'POST',
    url: '/api/vcenter/cluster',
    summary: 'Create a cluster in a datacenter; answers its id',
    status: 201,
    body: Type.Object(
      { name: Name, datacenter: DatacenterId, crypto_mode: Type.Optional(CryptoMode) },
      closed,
    ),
    response: Type.String(),
    access: {
      kind: 'object',
      privileges: ['Host.Inventory.CreateCluster'],
      object: (i) => i.body.datacenter,
    },
  }),
  'cluster.delete': op({
    method: 'DELETE',
    url: '/api/vcenter/cluster/:cluster',
    summary: 'Delete a cluster without hosts',
    status: 204,
    params: Type.Object({ cluster: ClusterId }, closed),
    response: Empty,
    access: {
      kind: 'object',
      privileges: ['Host.Inventory.DeleteCluster'],
      object: (i) => i.params.cluster,
    },
  }),
  // hosts (vcenter.Host); a host enters the inventory by joining with a one-time token
  'host.list': op({
    method: 'GET',
    url: '/api/vcenter/host',
    summary: 'Hosts, with connection and crypto state, TPM, key persistence, recovery key backup',
    query: NoQuery,
    response: Type.Array(Host),
    access: { kind: 'filter', privileges: ['System.View'] },
  }),
  'host.get': op({
    method: 'GET',
    url: '/api/vcenter/host/:host',
    summary: 'One host',
    params: Type.Object({ host: HostId }, closed),
    response: Host,
    access: { kind: 'object', privileges: ['System.Read'], object: (i) => i.params.host },
  }),
  'host.delete': op({
    method: 'DELETE',
    url: '/api/vcenter/host/:host',
    summary: 'Remove a host from the inventory (it must have no VMs)',
    status: 204,
    params: Type.Object({ host: HostId }, closed),
    response: Empty,
    access: {
      kind: 'object',
      privileges: ['Host.Inventory.RemoveHostFromCluster'],
      object: (i) => i.params.host,
    },
  }),
  'host.joinToken': op({
    method: 'POST',
    url: '/api/vcenter/host/join-token',
    summary: 'A one-time, expiring token with which a host joins (ward host join)',
    status: 201,
    body: Type.Object(
      {
        datacenter: DatacenterId,
        cluster: Type.Optional(ClusterId),
        ttl_seconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 7 * 86400 })),
      },
      closed,
    ),
    response: Type.Object({ token: Type.String(), expires: Time }, closed),
    access: {
      kind: 'object',
      privileges: ['Host.Inventory.AddStandaloneHost', 'Cryptographer.RegisterHost'],
      object: (i) => i.body.cluster ?? i.body.datacenter,
    },
  }),
  'host.join': op({
    method: 'POST',
    url: '/api/ward/host/join',
    summary: "A host joins with its token and CSR; answers its certificate and the center's CA",
    status: 201,
    body: Type.Object(
      {
        token: Type.String({ minLength: 16, maxLength: 128 }),
        name: Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9][A-Za-z0-9.-]*$' }),
        address: Type.String({
          minLength: 3,
          maxLength: 300,
          pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$',
        }),
        csr: Pem(16384),
      },
      closed,
    ),
    response: Type.Object(
      { hostId: Type.String(), certificate: Type.String(), caCertificate: Type.String() },
      closed,
    ),
    access: { kind: 'public' },
  }),
  // datastores and VMs (vcenter.Datastore, vcenter.VM); rows come from the hosts
  'datastore.list': op({
    method: 'GET',
    url: '/api/vcenter/datastore',
    summary: 'Datastores',
    query: NoQuery,
    response: Type.Array(Datastore),
    access: { kind: 'filter', privileges: ['System.View'] },
  }),
  'datastore.get': op({
    method: 'GET',
    url: '/api/vcenter/datastore/:datastore',
    summary: 'One datastore',
    params: Type.Object({ datastore: DatastoreId }, closed),
    response: Datastore,
    access: { kind: 'object', privileges: ['System.Read'], object: (i) => i.params.datastore },
  }),
  'vm.list': op({
    method: 'GET',
    url: '/api/vcenter/vm',
    summary: 'Virtual machines',
    query: NoQuery,
    response: Type.Array(Vm),
    access: { kind: 'filter', privileges: ['System.View'] },
  }),
  'vm.get': op({
    method: 'GET',
    url: '/api/vcenter/vm/:vm',
    summary: 'One virtual machine',
    params: Type.Object({ vm: VmId }, closed),
    response: Vm,
    access: { kind: 'object', privileges: ['System.Read'], object: (i) => i.params.vm },
  }),
  // native key providers (vSphere NKP: vcenter.crypto_manager.kms.providers, type NATIVE)
  'nkp.create': op({
    method: 'POST',
    url: '/api/vcenter/crypto-manager/kms/providers/native',
    summary:
      'Create a native key provider (its key derivation key made here, or given); unusable until backed up',
    status: 201,
    body: Type.Object(
      {
        provider: NkpName,
        native_spec: Type.Optional(
          Type.Object(
            {
              key_id: Type.Optional(NkpKeyId),
              key_derivation_key: Type.Optional(
                Type.String({ minLength: 44, maxLength: 44, pattern: '^[A-Za-z0-9+/]{43}=$' }),
              ),
            },
            closed,
          ),
        ),
        constraints: Type.Optional(NkpConstraints),
      },
      closed,
    ),
    response: Type.String(),
    access: {
      kind: 'object',
      privileges: ['Cryptographer.ManageKeyServers'],
      object: () => 'root',
    },
  }),
  'nkp.list': op({
    method: 'GET',
    url: '/api/vcenter/crypto-manager/kms/providers/native',
    summary: 'Native key providers with their backup state, alarm and hosts',
    query: NoQuery,
    response: Type.Array(NkpInfo),
    access: {
      kind: 'object',
      privileges: ['Cryptographer.ReadKeyServersInfo'],
      object: () => 'root',
    },
  }),
  'nkp.get': op({
    method: 'GET',
    url: '/api/vcenter/crypto-manager/kms/providers/native/:provider',
    summary: 'One native key provider',
    params: Type.Object({ provider: NkpName }, closed),
    response: NkpInfo,
    access: {
      kind: 'object',
      privileges: ['Cryptographer.ReadKeyServersInfo'],
      object: () => 'root',
    },
  }),
  'nkp.delete': op({
    method: 'DELETE',
    url: '/api/vcenter/crypto-manager/kms/providers/native/:provider',
    summary: 'Delete a native key provider from the center (hosts keep their KDK)',
    status: 204,
    params: Type.Object({ provider: NkpName }, closed),
    response: Empty,
    access: {
      kind: 'object',
      privileges: ['Cryptographer.ManageKeyServers'],
      object: () => 'root',
    },
  }),
  'nkp.export': op({
    method: 'POST',
    url: '/api/vcenter/crypto-manager/kms/providers/native/:provider/export',
    summary:
      'Back up, step 1: a password-protected PKCS#12 is made; answers a one-time download token',
    params: Type.Object({ provider: NkpName }, closed),
    body: Type.Object({ password: NkpPassword }, closed),
    response: Type.Object(
      {
        type: Type.Literal('NATIVE'),
        location: Type.Object(
          {
            url: Type.String(),
            download_token: Type.Object({ token: Type.String(), expiry: Time }, closed),
          },
          closed,
        ),
      },
      closed,
    ),
    access: {
      kind: 'object',
      privileges: ['Cryptographer.ManageKeyServers'],
      object: () => 'root',
    },
  }),
  'nkp.download': op({
    method: 'POST',
    url: '/api/vcenter/crypto-manager/kms/providers/native/:provider/export/download',
    summary:
      'Back up, step 2: the PKCS#12 (base64), once, for the token of step 1; the provider is then backed up',
    params: Type.Object({ provider: NkpName }, closed),
    body: Type.Object({ token: Type.String({ minLength: 16, maxLength: 128 }) }, closed),
    response: Type.Object(
      { file_name: Type.String(), content_type: Type.String(), config: Type.String() },
      closed,
    ),
    access: {
      kind: 'object',
      privileges: ['Cryptographer.ManageKeyServers'],
      object: () => 'root',
    },
  }),
  'nkp.import': op({
    method: 'POST',
    url: '/api/vcenter/crypto-manager/kms/providers/native/import',
    summary: 'Restore a native key provider from its backup (dry_run: check only, change nothing)',
    body: Type.Object(
      {
        config: Type.String({ minLength: 4, maxLength: 65536, pattern: '^[A-Za-z0-9+/]+=*$' }),
        password: NkpPassword,
        constraints: Type.Optional(NkpConstraints),
        dry_run: Type.Optional(Type.Boolean()),
      },
      closed,
    ),
    response: Type.Object(
      {
        provider: Type.String(),
        type: Type.Literal('NATIVE'),
        native_info: Type.Object({ key_id: Type.String() }, closed),
        export_time: Time,
        constraints: NkpConstraints,
        dry_run: Type.Boolean(),
      },
      closed,
    ),
    access: {
      kind: 'object',
      privileges: ['Cryptographer.ManageKeyServers'],
      object: () => 'root',
    },
    bodyLimit: 128 * 1024,
  }),
  // key providers (vSphere REST: vcenter.crypto_manager.kms.providers), standard: a KMS cluster
  'provider.list': op({
    method: 'GET',
    url: '/api/vcenter/crypto-manager/kms/providers',
    summary: 'Key providers',
    query: NoQuery,
    response: Type.Array(Provider),
    access: {
      kind: 'object',
      privileges: ['Cryptographer.ReadKeyServersInfo'],
      object: () => 'root',
    },
  }),
  'provider.get': op({
    method: 'GET',
    url: '/api/vcenter/crypto-manager/kms/providers/:provider',
    summary: 'One key provider: servers, trusted KMS certificates, client certificate',
    params: Type.Object({ provider: ProviderId }, closed),
    response: Provider,
    access: {
      kind: 'object',
      privileges: ['Cryptographer.ReadKeyServersInfo'],
      object: () => 'root',
    },
  }),
  'provider.create': op({
    method: 'POST',
    url: '/api/vcenter/crypto-manager/kms/providers',
    summary: 'Create a standard key provider (a KMS cluster of KMIP servers)',
    status: 201,
    body: Type.Object(
      {
        provider: ProviderId,
        servers: Type.Optional(Type.Array(KmipServer, { maxItems: 16 })),
      },
      closed,
    ),
    response: Provider,
    access: {
      kind: 'object',
      privileges: ['Cryptographer.ManageKeyServers'],
      object: () => 'root',
    },
  }),
  'provider.update': op({
    method: 'PATCH',
    url: '/api/vcenter/crypto-manager/kms/providers/:provider',
    summary: "Replace a provider's servers (order = failover order)",
    params: Type.Object({ provider: ProviderId }, closed),
    body: Type.Object({ servers: Type.Array(KmipServer, { maxItems: 16 }) }, closed),
    response: Provider,
    access: {
      kind: 'object',
      privileges: ['Cryptographer.ManageKeyServers'],
      object: () => 'root',
    },
  }),
  'provider.delete': op({
    method: 'DELETE',
    url: '/api/vcenter/crypto-manager/kms/providers/:provider',
    summary: 'Delete a key provider no VM or disk uses (its keys stay in the KMS)',
    status: 204,
    params: Type.Object({ provider: ProviderId }, closed),
    response: Empty,
    access: {
      kind: 'object',
      privileges: ['Cryptographer.ManageKeyServers'],
      object: () => 'root',
    },
  }),
  'provider.serverAdd': op({
    method: 'POST',
    url: '/api/vcenter/crypto-manager/kms/providers/:provider/servers',
    summary: 'Add a KMIP server to the provider (last in failover order)',
    status: 201,
    params: Type.Object({ provider: ProviderId }, closed),
    body: KmipServer,
    response: Provider,
    access: {
      kind: 'object',
      privileges: ['Cryptographer.ManageKeyServers'],
      object: () => 'root',
    },
  }),
  'provider.serverRemove': op({
    method: 'DELETE',
    url: '/api/vcenter/crypto-manager/kms/providers/:provider/servers/:server',
    summary: 'Remove a KMIP server from the provider',
    params: Type.Object({ provider: ProviderId, server: ServerName }, closed),
    response: Provider,
    access: {
      kind: 'object',
      privileges: ['Cryptographer.ManageKeyServers'],
      object: () => 'root',
    },
  }),
  'provider.trustKms': op({
    method: 'PUT',
    url: '/api/vcenter/crypto-manager/kms/providers/:provider/peer-certs/trusted',
    summary:
      'Make the center trust the KMS: its server certificate or its CA (PEM; replaces the list)',
    params: Type.Object({ provider: ProviderId }, closed),
    body: Type.Object({ certificates: Type.Array(CertPem, { minItems: 1, maxItems: 8 }) }, closed),
    response: Provider,
    access: {
      kind: 'object',
      privileges: ['Cryptographer.ManageKeyServers'],
      object: () => 'root',
    },
  }),
  'provider.selfSignedClientCert': op({
    method: 'POST',
    url: '/api/vcenter/crypto-manager/kms/providers/:provider/client-cert/self-signed',
    summary:
      'Make the KMS trust the center: a self-signed client certificate (answered; its key never leaves the center)',
    status: 201,
    params: Type.Object({ provider: ProviderId }, closed),
    body: Type.Object(
      { validity_days: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })) },
      closed,
    ),
    response: Type.Object({ certificate: Type.String() }, closed),
    access: {
      kind: 'object',
      privileges: ['Cryptographer.ManageKeyServers'],
      object: () => 'root',
    },
  }),
  'provider.clientCsr': op({
    method: 'POST',
    url: '/api/vcenter/crypto-manager/kms/providers/:provider/client-cert/csr',
    summary: 'A CSR for the KMS to sign (a new key kept in the center; replaces an earlier CSR)',
    status: 201,
    params: Type.Object({ provider: ProviderId }, closed),
    response: Type.Object({ csr: Type.String() }, closed),
    access: {
      kind: 'object',
      privileges: ['Cryptographer.ManageKeyServers'],
      object: () => 'root',
    },
  }),
  'provider.setClientCert': op({
    method: 'PUT',
    url: '/api/vcenter/crypto-manager/kms/providers/:provider/client-cert',
    summary:
      'Upload the client certificate: the one the KMS signed for the latest CSR, or a certificate with its private key',
    params: Type.Object({ provider: ProviderId }, closed),
    body: Type.Object({ certificate: CertPem, private_key: Type.Optional(KeyPem) }, closed),
    response: Provider,
    access: {
      kind: 'object',
      privileges: ['Cryptographer.ManageKeyServers'],
      object: () => 'root',
    },
  }),
  'provider.status': op({
    method: 'GET',
    url: '/api/vcenter/crypto-manager/kms/providers/:provider/status',
    summary:
      'Per server: connection, both trust directions, certificate expiry, gray/green/yellow/red',
    params: Type.Object({ provider: ProviderId }, closed),
    response: ProviderStatus,
    access: {
      kind: 'object',
      privileges: ['Cryptographer.ReadKeyServersInfo'],
      object: () => 'root',
    },
  }),
  'provider.setDefault': op({
    method: 'PUT',
    url: '/api/vcenter/crypto-manager/kms/providers/:provider/default',
    summary: 'Make the provider the default one, globally or of a cluster',
    params: Type.Object({ provider: ProviderId }, closed),
    body: Type.Object({ cluster: Type.Optional(ClusterId) }, closed),
    response: Provider,
    access: {
      kind: 'object',
      privileges: ['Cryptographer.ManageKeyServers'],
      object: (i) => i.body.cluster ?? 'root',
    },
  }),
  // keys: status (QueryCryptoKeyStatus) and garbage collection
  'key.status': op({
    method: 'POST',
    url: '/api/ward/keys/status',
    summary:
      'Key status per key id: available or the reason why not, the VMs, disks and hosts using it',
    body: Type.Object(
      {
        keys: Type.Array(Type.Object({ provider: ProviderId, key_id: KeyId }, closed), {
          minItems: 1,
          maxItems: 100,
        }),
      },
      closed,
    ),
    response: Type.Array(KeyStatus),
    access: {
      kind: 'object',
      privileges: ['Cryptographer.ReadKeyServersInfo'],
      object: () => 'root',
    },
  }),
  'key.gcList': op({
    method: 'GET',
    url: '/api/ward/keys/gc',
    summary:
      'Keys the center created that no VM or disk uses any more, with when they may be destroyed',
    query: NoQuery,
    response: Type.Object({ grace_seconds: Type.Integer(), keys: Type.Array(UnusedKey) }, closed),
    access: {
      kind: 'object',
      privileges: ['Cryptographer.ReadKeyServersInfo'],
      object: () => 'root',
    },
  }),
  'key.gcRun': op({
    method: 'POST',
    url: '/api/ward/keys/gc',
    summary: 'Revoke and destroy in the KMS the unused keys whose grace period is over (audited)',
    response: Type.Object(
      {
        destroyed: Type.Array(
          Type.Object({ provider: Type.String(), key_id: Type.String() }, closed),
        ),
        waiting: Type.Integer(),
        failed: Type.Array(
          Type.Object(
            { provider: Type.String(), key_id: Type.String(), error: Type.String() },
            closed,
          ),
        ),
      },
      closed,
    ),
    access: { kind: 'object', privileges: ['Cryptographer.ManageKeys'], object: () => 'root' },
  }),
  'key.gcSettings': op({
    method: 'PUT',
    url: '/api/ward/keys/gc/settings',
    summary: 'Set the grace period between a key found unused and its destruction',
    body: Type.Object(
      { grace_seconds: Type.Integer({ minimum: 0, maximum: 3650 * 86400 }) },
      closed,
    ),
    response: Type.Object({ grace_seconds: Type.Integer() }, closed),
    access: { kind: 'object', privileges: ['Cryptographer.ManageKeys'], object: () => 'root' },
  }),
  // VM encryption tasks (issue 13 item 3; tasks/): each answers the task that does it on the host
  'vm.create': op({
    method: 'POST',
    url: '/api/vcenter/vm',
    summary:
      'Create a VM on a host (encrypt: with a new KEK of the given or default key provider; also needs Cryptographer.EncryptNew)',
    status: 201,
    body: Type.Object(
      {
        host: HostId,
        name: VmName,
        disks: Type.Optional(Type.Array(DiskSize, { maxItems: 16 })),
        cpus: Type.Optional(Type.Integer({ minimum: 1, maximum: 256 })),
        memory: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,6}[MG]$' })),
        datastore: Type.Optional(VmName),
        encrypt: Type.Optional(Type.Boolean()),
        provider: Type.Optional(ProviderRef),
      },
      closed,
    ),
    response: TaskRef,
    access: {
      kind: 'object',
      privileges: ['VirtualMachine.Inventory.Create'],
      object: (i) => i.body.host,
    },
  }),
  'vm.encrypt': vmTask(
    'encrypt',
    'Encrypt a VM (a new KEK of its provider: given, or the default)',
    ['Cryptographer.Encrypt'],
    Type.Object({ provider: Type.Optional(ProviderRef) }, closed),
  ),
  'vm.decrypt': vmTask('decrypt', 'Decrypt a VM', ['Cryptographer.Decrypt']),
  'vm.recrypt': vmTask(
    'recrypt',
    'Recrypt a VM: shallow (a new KEK rewraps its keys) or deep (every disk rewritten)',
    ['Cryptographer.Recrypt'],
    Type.Object(
      {
        mode: Type.Union([Type.Literal('shallow'), Type.Literal('deep')]),
        provider: Type.Optional(ProviderRef),
      },
      closed,
    ),
  ),
  'vm.diskAdd': vmTask(
    'disks',
    'Add a disk to a VM (an encrypted VM: also needs Cryptographer.AddDisk)',
    ['VirtualMachine.Config.AddNewDisk'],
    Type.Object({ size: DiskSize, encrypt: Type.Optional(Type.Boolean()) }, closed),
  ),
  'vm.register': op({
    method: 'POST',
    url: '/api/ward/vm/register',
    summary:
      "Register a VM's folder on a host (an encrypted VM: also needs Cryptographer.RegisterVM)",
    status: 201,
    body: Type.Object(
      { host: HostId, path: Type.String({ minLength: 2, maxLength: 4096, pattern: '^/' }) },
      closed,
    ),
    response: TaskRef,
    access: {
      kind: 'object',
      privileges: ['VirtualMachine.Inventory.Register'],
      object: (i) => i.body.host,
    },
  }),
  'vm.unregister': vmTask('unregister', 'Unregister a VM (its files stay)', [
    'VirtualMachine.Inventory.Unregister',
  ]),
  'vm.powerOn': vmTask('power-on', 'Power on a VM (an encrypted VM gets its key delivered first)', [
    'VirtualMachine.Interact.PowerOn',
  ]),
  'vm.powerOff': vmTask(
    'power-off',
    'Power off a VM (hard: without waiting for the guest)',
    ['VirtualMachine.Interact.PowerOff'],
    Type.Object({ hard: Type.Optional(Type.Boolean()) }, closed),
  ),
  'vm.unlock': vmTask('unlock', 'Unlock a locked encrypted VM: deliver its key to its host again', [
    'Cryptographer.RegisterVM',
  ]),
  'vm.migrate': vmTask(
    'migrate',
    'Migrate a powered-off VM to another host (cold, shared storage): its key is delivered to the target first',
    ['Cryptographer.Migrate'],
    Type.Object({ host: HostId }, closed),
  ),
  // clone (issue 13): vSphere's CloneVM_Task, a full clone on the source's host (Ward's task
  // route: vSphere's POST /api/vcenter/vm?action=clone is vm.create's method and path); an
  // encrypted source also needs Cryptographer.Clone (the handler checks it)
  'vm.clone': vmTask(
    'clone',
    "Full clone of a VM on its host: disks copied, an encrypted VM keeps its keys (also needs Cryptographer.Clone); answers the clone's id",
    ['VirtualMachine.Provisioning.Clone'],
    Type.Object(
      {
        name: VmName,
        placement: Type.Optional(Type.Object({ datastore: Type.Optional(VmName) }, closed)),
      },
      closed,
    ),
  ),
  // tasks (vSphere REST: cis.Tasks)
  'task.list': op({
    method: 'GET',
    url: '/api/cis/tasks',
    summary: 'Tasks, on objects the caller may see, newest first',
    query: Type.Object({ object: Type.Optional(ObjectId) }, closed),
    response: Type.Array(Task),
    access: { kind: 'filter', privileges: ['System.View'] },
  }),
  'task.get': op({
    method: 'GET',
    url: '/api/cis/tasks/:task',
    summary: 'One task: state, progress, result or error',
    params: Type.Object({ task: TaskId }, closed),
    response: Task,
    access: {
      kind: 'object',
      privileges: ['System.Read'],
      object: (i) => taskObject(i.params.task),
    },
  }),
  // ha: leadership, events and alarms, host status and encryption mode (ha/, events/, alarms/,
  // monitor/; handlers in api/handlers/events.ts and hosts-status.ts)
  'ha.status': op({
    method: 'GET',
    url: '/api/ward/ha',
    summary:
      'Which center process leads (runs tasks, host polling, alarm checks) and which answers',
    query: NoQuery,
    response: LeaderStatus,
    access: { kind: 'object', privileges: ['System.Read'], object: () => 'root' },
  }),
  'event.list': op({
    method: 'GET',
    url: '/api/ward/events',
    summary: 'Events, newest first (on objects the caller may read)',
    query: Type.Object(
      {
        object: Type.Optional(ObjectId),
        // query values are strings (no type coercion): decimal digits
        after: Type.Optional(Type.String({ maxLength: 15, pattern: '^[0-9]{1,15}$' })),
        limit: Type.Optional(Type.String({ maxLength: 4, pattern: '^([1-9][0-9]{0,2}|1000)$' })),
      },
      closed,
    ),
    response: Type.Array(Event),
    access: { kind: 'filter', privileges: ['System.Read'] },
  }),
  'alarm.list': op({
    method: 'GET',
    url: '/api/ward/alarms',
    summary: 'Triggered alarms (green once cleared), on objects the caller may read',
    query: Type.Object({ object: Type.Optional(ObjectId) }, closed),
    response: Type.Array(Alarm),
    access: { kind: 'filter', privileges: ['System.Read'] },
  }),
  'alarm.acknowledge': op({
    method: 'POST',
    url: '/api/ward/alarms/acknowledge',
    summary: 'Acknowledge a raised alarm (an NKP one is raised again after 24 h while it holds)',
    body: Type.Object(
      { definition: AlarmDefinitionName, object: ObjectId, subject: Type.Optional(AlarmSubject) },
      closed,
    ),
    response: Alarm,
    access: { kind: 'object', privileges: ['Alarm.Acknowledge'], object: (i) => i.body.object },
  }),
  'host.encryptionMode': op({
    method: 'POST',
    url: '/api/vcenter/host/:host/encryption-mode',
    summary:
      'Enable host encryption mode: the host key delivered, then prepare and enable (crypto state safe)',
    params: Type.Object({ host: HostId }, closed),
    body: Type.Object({ provider_id: KeyRefId, key_id: KeyRefId }, closed),
    response: HostEncryptionMode,
    access: {
      kind: 'object',
      privileges: ['Cryptographer.RegisterHost'],
      object: (i) => i.params.host,
    },
  }),
  'cluster.cryptoMode': op({
    method: 'PUT',
    url: '/api/vcenter/cluster/:cluster/crypto-mode',
    summary:
      "Set a cluster's encryption mode (onDemand | forceEnable) and host key policy (ClusterCryptoConfigInfo)",
    params: Type.Object({ cluster: ClusterId }, closed),
    body: Type.Object(
      {
        crypto_mode: CryptoMode,
        policy: Type.Optional(Type.Object({ provider_id: KeyRefId, key_id: KeyRefId }, closed)),
      },
      closed,
    ),
    response: Cluster,
    access: {
      kind: 'object',
      privileges: ['Host.Inventory.EditCluster', 'Cryptographer.RegisterHost'],
      object: (i) => i.params.cluster,
    },
  }),
} as const

/** The operations' ids. */
export type OperationId = keyof typeof operations
export type Operations = typeof operations
