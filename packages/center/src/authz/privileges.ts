/**
 * The privileges of `ward center`: the seed's names exactly (reference: vSphere's privilege ids,
 * vsphere-features.md §17), one row each with what it allows. Roles are sets of these
 * (authz/roles.ts); every API route names the ones it needs (api/route-table.ts). The list is
 * closed: a role or a route naming anything else is refused.
 */
export const privilegeTable = {
  // §17.1 Cryptographic operations
  'Cryptographer.Access': 'access encrypted resources: export, console, direct disk access',
  'Cryptographer.AddDisk': 'add a disk to an encrypted VM',
  'Cryptographer.Clone': 'clone an encrypted VM',
  'Cryptographer.Decrypt': 'decrypt a VM or a disk',
  'Cryptographer.Encrypt': 'encrypt a VM or a disk',
  'Cryptographer.EncryptNew': 'encrypt a VM or a disk as it is created',
  'Cryptographer.ManageEncryptionPolicy': 'manage encryption storage policies',
  'Cryptographer.ManageKeyServers': 'add and remove key providers and KMS servers, set up trust',
  'Cryptographer.ManageKeys': 'key management: generate, list, remove keys',
  'Cryptographer.Migrate': 'migrate an encrypted VM to another host',
  'Cryptographer.ReadKeyServersInfo': 'read key provider and KMS server information',
  'Cryptographer.Recrypt': 'recrypt a VM or its disks with another key (shallow or deep)',
  'Cryptographer.RegisterHost': 'enable encryption on a host (host key), register a host',
  'Cryptographer.RegisterVM': 'register an encrypted VM with a host',
  // System (every role but NoAccess has some)
  'System.Anonymous': 'the privilege of being logged in',
  'System.View': 'see that an object exists',
  'System.Read': "read an object's properties",
  'Global.Diagnostics': 'read diagnostic information',
  // Authorization
  'Authorization.ModifyRoles': 'create, edit and delete roles',
  'Authorization.ModifyPermissions': 'set and remove permissions on objects',
  // Datacenter
  'Datacenter.Create': 'create a datacenter',
  'Datacenter.Delete': 'delete a datacenter',
  // Host inventory and local
  'Host.Inventory.CreateCluster': 'create a cluster',
  'Host.Inventory.DeleteCluster': 'delete a cluster',
  'Host.Inventory.EditCluster': "change a cluster's settings (encryption mode)",
  'Host.Inventory.AddHostToCluster': 'add a host to a cluster',
  'Host.Inventory.AddStandaloneHost': 'add a standalone host',
  'Host.Inventory.RemoveHostFromCluster': 'remove a host from the inventory',
  'Host.Local.ManageUserGroups': 'manage local users and groups',
  'Host.Config.Settings': "change a host's settings",
  // Datastore
  'Datastore.Browse': 'browse a datastore',
  'Datastore.AllocateSpace': 'allocate space on a datastore',
  // Virtual machines
  'VirtualMachine.Inventory.Create': 'create a VM',
  'VirtualMachine.Inventory.Register': 'register a VM',
  'VirtualMachine.Inventory.Unregister': 'unregister a VM',
  'VirtualMachine.Inventory.Delete': 'delete a VM and its files',
  'VirtualMachine.Interact.PowerOn': 'power on or resume a VM',
  'VirtualMachine.Interact.PowerOff': 'power off a VM',
  'VirtualMachine.Config.AddNewDisk': 'add a new disk to a VM',
  'VirtualMachine.Provisioning.Clone': 'clone a VM',
  // Alarms (ha: events and alarms)
  'Alarm.Acknowledge': 'acknowledge an alarm',
  // Sessions
  'Sessions.TerminateSession': "end another user's session",
} as const satisfies Record<string, string>

/** A privilege id. */
export type Privilege = keyof typeof privilegeTable

/** Every privilege, in table order. */
export const privileges: readonly Privilege[] = Object.keys(privilegeTable) as Privilege[]

const known = new Set<string>(privileges)

/** Is `p` one of {@link privileges}? */
export const isPrivilege = (p: string): p is Privilege => known.has(p)
