import { CryptographicAlgorithm, ObjectType, State } from '@ward/kmip'
import { KmsError } from '../errors.js'
import { openDataDir } from './data-dir.js'
import { openPostgresStore } from '../storage/postgres.js'
import { openSqliteStore } from '../storage/sqlite.js'
import type { ObjectRow, Store } from '../storage/store.js'

/**
 * What `ward kms objects list|show` prints of a stored object: identifiers, type, algorithm and
 * length, state, owner, names, dates and custom (x-) attributes. Never key material, and no
 * other attribute value (a wrapped key, a digest of the key or a link is not shown).
 */
export interface ObjectSummary {
  readonly id: string
  readonly type: string
  readonly algorithm: string | null
  readonly length: number | null
  readonly state: string
  readonly owner: string
  readonly names: readonly string[]
  readonly created: string
  readonly updated: string
  /** Lifecycle dates (Initial Date, Activation Date, …) as ISO 8601. */
  readonly dates: Readonly<Record<string, string>>
  /** Custom attributes whose name starts with `x-` (values as text). */
  readonly custom: Readonly<Record<string, string>>
}

export interface ObjectFilter {
  readonly owner?: string
  /** A KMIP State name (Active, PreActive, …; case and separators ignored). */
  readonly state?: string
  /** A KMIP Object Type name (SymmetricKey, SecretData, …; case and separators ignored). */
  readonly type?: string
}

const fold = (s: string): string => s.replace(/[\s_-]/g, '').toLowerCase()
const nameOf = (table: Record<string, number>, v: number): string =>
  Object.entries(table).find(([, n]) => n === v)?.[0] ?? `0x${v.toString(16)}`

function lookup(table: Record<string, number>, what: string, flag: string, v: string): number {
  const hit = Object.entries(table).find(([k]) => fold(k) === fold(v))
  if (hit === undefined)
    throw new KmsError(
      'ERR_KMS_BAD_FILTER',
      `unknown ${what} ${JSON.stringify(v)} for --${flag}; use one of: ${Object.keys(table).join(', ')}`,
    )
  return hit[1]
}

const NAME_VALUE = 0x420055 // KMIP 1.4 §3.2 Name Value (inside the Name structure)
const DATES = new Set([
  'Initial Date',
  'Activation Date',
  'Process Start Date',
  'Protect Stop Date',
  'Deactivation Date',
  'Destroy Date',
  'Compromise Occurrence Date',
  'Compromise Date',
  'Archive Date',
  'Last Change Date',
  'Original Creation Date',
])

type Json = [number, string, unknown]

/** A leaf value as text (a structure: its leaves, space-separated). */
function text(j: Json): string {
  const [, type, v] = j
  if (type === 'Structure' && Array.isArray(v)) return (v as Json[]).map(text).join(' ')
  if (type === 'DateTime') return new Date(Number(v) * 1000).toISOString()
  return String(v)
}

function summarize(r: ObjectRow): ObjectSummary {
  let algorithm: string | null = null
  let length: number | null = null
  const names: string[] = []
  const dates: Record<string, string> = {}
  const custom: Record<string, string> = {}
  let attrs: [string, Json][] = []
  try {
    attrs = JSON.parse(r.attrs) as [string, Json][]
  } catch {
    // a damaged row still lists by its columns
  }
  for (const [name, j] of attrs) {
    const [, type, v] = j
    if (name === 'Cryptographic Algorithm' && typeof v === 'number')
      algorithm = nameOf(CryptographicAlgorithm, v)
    else if (name === 'Cryptographic Length' && typeof v === 'number') length = v
    else if (name === 'Name' && type === 'Structure' && Array.isArray(v)) {
      for (const c of v as Json[])
        if (c[0] === NAME_VALUE && typeof c[2] === 'string') names.push(c[2])
    } else if (DATES.has(name) && type === 'DateTime') dates[name] = text(j)
    else if (/^x-/i.test(name)) custom[name] = text(j)
  }
  return {
    id: r.id,
    type: nameOf(ObjectType, r.objectType),
    algorithm,
    length,
    state: nameOf(State, r.state),
    owner: r.owner,
    names,
    created: new Date(r.createdAt).toISOString(),
    updated: new Date(r.updatedAt).toISOString(),
    dates,
    custom,
  }
}

async function withStore<T>(dataDir: string, db: string | undefined, fn: (s: Store) => Promise<T>) {
  const p = openDataDir(dataDir)
  const s = db !== undefined ? await openPostgresStore(db) : await openSqliteStore(p.db)
  try {
    return await fn(s)
  } finally {
    await s.close()
  }
}

/**
 * Every stored object (or those of `filter`), by creation order, read from the store directly
 * (as `ward kms status` does; no server needed). Rows are read without key material: through
 * each owner's Locate query, which never selects it.
 */
export async function listObjects(
  dataDir: string,
  filter: ObjectFilter = {},
  db?: string,
): Promise<ObjectSummary[]> {
  const states =
    filter.state !== undefined ? [lookup(State, 'state', 'state', filter.state)] : undefined
  const objectType =
    filter.type !== undefined ? lookup(ObjectType, 'object type', 'type', filter.type) : undefined
  return withStore(dataDir, db, async (s) => {
    const owners = filter.owner !== undefined ? [filter.owner] : await s.countOwners()
    const byId = new Map<string, ObjectRow>()
    for (const o of owners)
      for (const r of await s.locateVisible(o, {
        ...(states !== undefined ? { states } : {}),
        ...(objectType !== undefined ? { objectType } : {}),
      }))
        if (r.owner === o) byId.set(r.id, r)
    return [...byId.values()]
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map(summarize)
  })
}

/** One stored object by id (no key material), with its grants. */
export async function showObject(
  dataDir: string,
  id: string,
  db?: string,
): Promise<
  ObjectSummary & {
    readonly grants: readonly { identity: string; operations: readonly string[] }[]
  }
> {
  return withStore(dataDir, db, async (s) => {
    const r = await s.getObject(id)
    if (r === undefined)
      throw new KmsError(
        'ERR_KMS_NOT_FOUND',
        `object ${id} not found; list ids with: ward kms objects list --data-dir ${dataDir}`,
      )
    r.material?.fill(0) // read with the row, never shown
    const grants = (await s.listGrants(id)).map((g) => ({
      identity: g.identity,
      operations: g.operations,
    }))
    return { ...summarize(r), grants }
  })
}
