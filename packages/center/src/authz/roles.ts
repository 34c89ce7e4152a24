/**
 * The system roles (vsphere-features.md §17.4), ids and names as vSphere has them. They are
 * immutable: the database holds a copy (store rows with system = 1, rewritten from this table at
 * every start) so that permissions can reference them, but this table is the truth.
 */
import { privileges, type Privilege } from './privileges.js'

/**
 * What "No cryptography administrator" lacks, exactly as the seed lists it: every cryptographic
 * operation privilege, Global.Diagnostics, Host.Inventory.AddHostToCluster,
 * Host.Inventory.AddStandaloneHost and Host.Local.ManageUserGroups.
 */
export const noCryptoAdminLacks = (p: Privilege): boolean =>
  p.startsWith('Cryptographer.') ||
  p === 'Global.Diagnostics' ||
  p === 'Host.Inventory.AddHostToCluster' ||
  p === 'Host.Inventory.AddStandaloneHost' ||
  p === 'Host.Local.ManageUserGroups'

export interface SystemRole {
  readonly id: number
  readonly name: string
  readonly label: string
  readonly privileges: readonly Privilege[]
}

const readOnly: readonly Privilege[] = ['System.Anonymous', 'System.View', 'System.Read']

export const systemRoles = [
  { id: -1, name: 'Admin', label: 'Administrator', privileges },
  { id: -2, name: 'ReadOnly', label: 'Read-only', privileges: readOnly },
  { id: -3, name: 'View', label: 'View', privileges: ['System.Anonymous', 'System.View'] },
  { id: -4, name: 'Anonymous', label: 'Anonymous', privileges: ['System.Anonymous'] },
  { id: -5, name: 'NoAccess', label: 'No access', privileges: [] },
  {
    id: -6,
    name: 'NoCryptoAdmin',
    label: 'No cryptography administrator',
    privileges: privileges.filter((p) => !noCryptoAdminLacks(p)),
  },
] as const satisfies readonly SystemRole[]

/** The name of a system role. */
export type SystemRoleName = (typeof systemRoles)[number]['name']

/** The system role called `name`. */
export const systemRole = (name: SystemRoleName): SystemRole =>
  systemRoles.find((r) => r.name === name)!
