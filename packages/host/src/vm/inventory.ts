import { join } from 'node:path'
import { HostError } from '../errors.js'
import { readFileBounded, writeFileAtomic } from '../util/files.js'

/** The host's inventory in its data folder: datastores and registered VMs (no secrets). */
export const INVENTORY_FILE = 'inventory.json'
const MAX_BYTES = 1 << 20

export interface Datastore {
  readonly name: string
  /** Absolute path of the datastore's folder. */
  readonly path: string
}

export interface RegisteredVm {
  readonly id: string
  readonly name: string
  /** Absolute path of the VM's folder. */
  readonly path: string
}

export interface Inventory {
  readonly version: 1
  readonly datastores: readonly Datastore[]
  readonly vms: readonly RegisteredVm[]
}

const empty: Inventory = { version: 1, datastores: [], vms: [] }

const bad = (path: string, why: string): HostError =>
  new HostError(
    'ERR_HOST_DATA_DIR',
    `${path}: ${why}; restore it from a backup, or remove it and register the VMs again`,
  )

export function readInventory(dataDir: string): Inventory {
  const path = join(dataDir, INVENTORY_FILE)
  const b = readFileBounded(path, MAX_BYTES)
  if (!b) return empty
  let v: Partial<Inventory>
  try {
    v = JSON.parse(b.toString('utf8')) as Partial<Inventory>
  } catch {
    throw bad(path, 'not valid JSON')
  }
  const isStr = (x: unknown): x is string => typeof x === 'string' && x.length > 0
  if (
    v.version !== 1 ||
    !Array.isArray(v.datastores) ||
    !Array.isArray(v.vms) ||
    !v.datastores.every((d) => isStr(d?.name) && isStr(d?.path)) ||
    !v.vms.every((m) => isStr(m?.id) && isStr(m?.name) && isStr(m?.path))
  )
    throw bad(path, 'not a Ward inventory')
  return {
    version: 1,
    datastores: v.datastores.map((d) => ({ name: d.name, path: d.path })),
    vms: v.vms.map((m) => ({ id: m.id, name: m.name, path: m.path })),
  }
}

export function writeInventory(dataDir: string, inv: Inventory): void {
  writeFileAtomic(join(dataDir, INVENTORY_FILE), `${JSON.stringify(inv, null, 2)}\n`, 0o600)
}
