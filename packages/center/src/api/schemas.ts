/**
 * Shared TypeBox schemas of the REST API. Every object is closed (additionalProperties false),
 * every string and array bounded: the schemas are the allowlist of what enters and what leaves.
 */
import { Type } from 'typebox'
import { idPattern } from '../inventory/ids.js'
import { USER_NAME } from '../auth/accounts.js'

export const closed = { additionalProperties: false } as const

export const Name = Type.String({
  minLength: 1,
  maxLength: 80,
  pattern: '^[^\\u0000-\\u001f/\\\\]+$',
})
export const UserName = Type.String({ minLength: 1, maxLength: 64, pattern: USER_NAME })
export const RoleName = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z][A-Za-z0-9._-]{0,63}$',
})
export const PrivilegeId = Type.String({
  minLength: 3,
  maxLength: 80,
  pattern: '^[A-Za-z]+(\\.[A-Za-z]+)+$',
})
export const Privileges = Type.Array(PrivilegeId, { maxItems: 200, uniqueItems: true })

export const DatacenterId = Type.String({ maxLength: 40, pattern: idPattern('datacenter') })
export const ClusterId = Type.String({ maxLength: 40, pattern: idPattern('cluster') })
export const HostId = Type.String({ maxLength: 40, pattern: idPattern('host') })
export const DatastoreId = Type.String({ maxLength: 40, pattern: idPattern('datastore') })
export const VmId = Type.String({ maxLength: 40, pattern: idPattern('vm') })
/** Any object permissions can be set on: 'root' or an inventory id. */
export const ObjectId = Type.String({
  maxLength: 40,
  pattern: '^(root|(datacenter-|domain-c|host-|datastore-|vm-)[1-9][0-9]{0,14})$',
})
export const Time = Type.String({ maxLength: 40 })
export const Seconds = Type.Integer({ minimum: 60, maximum: 366 * 86400 })

/** vSphere REST's error body (com.vmware.vapi.std.errors), with Ward's stable `code`. */
export const ErrorBody = Type.Object(
  {
    error_type: Type.String(),
    messages: Type.Array(
      Type.Object({
        id: Type.String(),
        default_message: Type.String(),
        args: Type.Array(Type.String()),
      }),
    ),
    code: Type.String(),
    request_id: Type.String(),
  },
  closed,
)

export const Role = Type.Object(
  {
    id: Type.Integer(),
    name: Type.String(),
    label: Type.String(),
    system: Type.Boolean(),
    privileges: Type.Array(Type.String()),
  },
  closed,
)
export const Permission = Type.Object(
  {
    object: Type.String(),
    principal: Type.String(),
    role: Type.String(),
    propagate: Type.Boolean(),
  },
  closed,
)
export const User = Type.Object(
  { name: Type.String(), created: Time, locked_until: Type.Union([Time, Type.Null()]) },
  closed,
)
export const Token = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    user: Type.String(),
    created: Time,
    expires: Type.Union([Time, Type.Null()]),
  },
  closed,
)
export const Datacenter = Type.Object({ datacenter: Type.String(), name: Type.String() }, closed)
export const Cluster = Type.Object(
  {
    cluster: Type.String(),
    name: Type.String(),
    datacenter: Type.String(),
    crypto_mode: Type.String(),
  },
  closed,
)
export const CryptoMode = Type.Union([Type.Literal('onDemand'), Type.Literal('forceEnable')])
export const Host = Type.Object(
  {
    host: Type.String(),
    name: Type.String(),
    datacenter: Type.String(),
    cluster: Type.Union([Type.String(), Type.Null()]),
    address: Type.String(),
    connection_state: Type.String(),
    crypto_state: Type.String(),
    tpm_present: Type.Boolean(),
    key_persistence: Type.Boolean(),
    recovery_key_backed_up: Type.Boolean(),
    // host status polled by the leader (monitor/)
    /** The host's secure configuration mode: TPM, NONE, or unknown before the first poll. */
    secure_config_mode: Type.String(),
    last_seen: Type.Union([Time, Type.Null()]),
  },
  closed,
)
export const Datastore = Type.Object(
  {
    datastore: Type.String(),
    name: Type.String(),
    datacenter: Type.String(),
    host: Type.Union([Type.String(), Type.Null()]),
  },
  closed,
)
export const Vm = Type.Object(
  {
    vm: Type.String(),
    name: Type.String(),
    datacenter: Type.String(),
    host: Type.Union([Type.String(), Type.Null()]),
    power_state: Type.String(),
    crypto_state: Type.Union([Type.String(), Type.Null()]),
  },
  closed,
)
