/**
 * The SQL both dialects run (`?` placeholders; postgres.ts rewrites them): object upserts with
 * their Locate index, the Locate query, grants, and the mapping of a database row to an ObjectRow.
 */
import { locateColumnsOfJson } from './locate-columns.js'
import type { LocateColumns, LocateFilter, ObjectRow, Stmt } from './store.js'

/** Statements writing the index of one object (columns and name table), inside its transaction. */
function indexStmts(id: string, c: LocateColumns, alsoColumns: boolean): Stmt[] {
  return [
    ...(alsoColumns
      ? [
          {
            sql: 'UPDATE kms_objects SET algorithm = ?, crypto_length = ?, indexed = 1 WHERE id = ?',
            params: [c.algorithm, c.cryptoLength, id],
          },
        ]
      : []),
    { sql: 'DELETE FROM kms_object_names WHERE object_id = ?', params: [id] },
    ...c.names.map((n) => ({
      sql: 'INSERT INTO kms_object_names (object_id, name) VALUES (?, ?) ON CONFLICT DO NOTHING',
      params: [id, n],
    })),
  ]
}

/** Upsert of one object and its Locate index, in the caller's transaction. */
export function upsertObject(r: ObjectRow): Stmt[] {
  const c = r.locate ?? locateColumnsOfJson(r.attrs)
  return [
    {
      sql:
        'INSERT INTO kms_objects (id, owner, object_type, state, attrs, material, format, created_at, updated_at, algorithm, crypto_length, indexed, fetched) ' +
        'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, ' +
        'object_type = excluded.object_type, state = excluded.state, attrs = excluded.attrs, ' +
        'material = excluded.material, format = excluded.format, updated_at = excluded.updated_at, ' +
        'algorithm = excluded.algorithm, crypto_length = excluded.crypto_length, indexed = 1',
      params: [
        r.id,
        r.owner,
        r.objectType,
        r.state,
        r.attrs,
        r.material === null ? null : Buffer.from(r.material),
        r.format,
        r.createdAt,
        r.updatedAt,
        c.algorithm,
        c.cryptoLength,
        r.fetched === true ? 1 : 0,
      ],
    },
    ...indexStmts(r.id, c, false),
  ]
}

/**
 * Fill the Locate index of rows written before migration 2 (indexed = 0), in batches; each batch
 * is one transaction through `run`.
 */
export async function backfillLocateIndex(
  all: (sql: string, params: readonly unknown[]) => Promise<Record<string, unknown>[]>,
  run: (stmts: Stmt[]) => Promise<void>,
): Promise<void> {
  for (;;) {
    const rows = await all('SELECT id, attrs FROM kms_objects WHERE indexed = 0 LIMIT 500', [])
    if (rows.length === 0) return
    await run(
      rows.flatMap((r) =>
        indexStmts(String(r['id']), locateColumnsOfJson(String(r['attrs'])), true),
      ),
    )
  }
}

/** SQL and parameters of {@link Store.locateVisible} (`?` placeholders). */
export function locateQuery(identity: string, f: LocateFilter): Stmt {
  const where = ['(owner = ? OR id IN (SELECT object_id FROM kms_grants WHERE identity = ?))']
  const params: unknown[] = [identity, identity]
  if (f.objectType !== undefined) {
    where.push('object_type = ?')
    params.push(f.objectType)
  }
  if (f.states !== undefined) {
    where.push(`state IN (${f.states.map(() => '?').join(', ') || 'NULL'})`)
    params.push(...f.states)
  }
  if (f.algorithm !== undefined) {
    where.push('algorithm = ?')
    params.push(f.algorithm)
  }
  if (f.cryptoLength !== undefined) {
    where.push('crypto_length = ?')
    params.push(f.cryptoLength)
  }
  if (f.name !== undefined) {
    where.push('id IN (SELECT object_id FROM kms_object_names WHERE name = ?)')
    params.push(f.name)
  }
  return {
    sql:
      'SELECT id, owner, object_type, state, attrs, NULL AS material, format, created_at, updated_at ' +
      `FROM kms_objects WHERE ${where.join(' AND ')} ORDER BY created_at, id`,
    params,
  }
}

/** The statement that marks an object's material as served (see Store.markFetched). */
export const markFetchedStmt = (id: string): Stmt => ({
  sql: 'UPDATE kms_objects SET fetched = 1 WHERE id = ? AND fetched = 0',
  params: [id],
})

export const SELECT_OBJECT =
  'SELECT id, owner, object_type, state, attrs, material, format, created_at, updated_at, fetched FROM kms_objects'

export function rowFromDb(r: Record<string, unknown>): ObjectRow {
  return {
    id: String(r['id']),
    owner: String(r['owner']),
    objectType: Number(r['object_type']),
    state: Number(r['state']),
    attrs: String(r['attrs']),
    material: r['material'] == null ? null : new Uint8Array(r['material'] as Buffer),
    format: Number(r['format']),
    createdAt: Number(r['created_at']),
    updatedAt: Number(r['updated_at']),
    fetched: Number(r['fetched'] ?? 0) === 1,
  }
}

/** Set (or, with `operations` null, remove) one identity's grant on an object. */
export const setGrantStmt = (
  objectId: string,
  identity: string,
  operations: readonly string[] | null,
): Stmt =>
  operations === null
    ? {
        sql: 'DELETE FROM kms_grants WHERE object_id = ? AND identity = ?',
        params: [objectId, identity],
      }
    : {
        sql: 'INSERT INTO kms_grants (object_id, identity, operations) VALUES (?, ?, ?) ON CONFLICT (object_id, identity) DO UPDATE SET operations = excluded.operations',
        params: [objectId, identity, operations.join(',')],
      }
