/**
 * Effective privileges, vSphere's rule: on an object's path (the object, then its ancestors up to
 * root) the nearest permission of the principal decides, alone. A permission on the object itself
 * always applies; one on an ancestor only when it propagates (a non-propagating one is skipped and
 * the search goes on upward). So a permission on a child overrides an inherited one, and NoAccess
 * on a child denies everything below it. No permission on the path: no privileges.
 */
import type { Privilege } from './privileges.js'

/** One permission of the principal, with its role's privileges. */
export interface HeldPermission {
  readonly object: string
  readonly propagate: boolean
  readonly privileges: ReadonlySet<Privilege>
}

const none: ReadonlySet<Privilege> = new Set()

/** The privileges `held` gives on the object whose path (nearest first) is `path`. */
export function effectivePrivileges(
  held: ReadonlyMap<string, HeldPermission>,
  path: readonly string[],
): ReadonlySet<Privilege> {
  for (let i = 0; i < path.length; i++) {
    const p = held.get(path[i]!)
    if (p === undefined) continue
    if (i === 0 || p.propagate) return p.privileges
  }
  return none
}
