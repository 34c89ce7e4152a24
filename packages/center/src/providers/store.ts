/**
 * Key provider rows (table key_providers): the provider's public configuration as JSON in `spec`
 * (servers, trusted KMS certificates, the active client certificate, a pending CSR) and its
 * private keys (the client key, the pending CSR's key) as one JSON object sealed under the master
 * key with the row's identity as AAD (`key_providers/<id>`).
 */
import type { Kysely } from 'kysely'
import type { Secret } from '@ward/core'
import { CenterError } from '../errors.js'
import type { Sealer } from '../seal/sealer.js'
import type { CenterDb } from '../store/schema.js'

/** One KMIP server of a standard provider (vSphere KmipServerInfo: name, address, port). */
export interface ServerSpec {
  readonly name: string
  readonly address: string
  readonly port: number
}

export interface ProviderSpec {
  readonly servers: ServerSpec[]
  /** PEM certificates the center trusts the KMS servers by (their certificates or their CA). */
  readonly trusted: string[]
  /** The active client certificate (PEM), when one is set up. */
  readonly clientCert?: string
  /** How the client certificate came: self-signed, csr (signed by the KMS), uploaded. */
  readonly clientCertKind?: 'self-signed' | 'csr' | 'uploaded'
  /** The latest CSR (PEM) waiting for the KMS's signed certificate. */
  readonly pendingCsr?: string
}

/** The sealed part: PEM private keys. */
export interface ProviderKeys {
  client?: string
  pending?: string
}

export interface ProviderRow {
  readonly id: string
  readonly type: 'standard' | 'native' | 'trusted'
  readonly spec: ProviderSpec
  readonly createdAt: number
}

export const missingProvider = (id: string): CenterError =>
  new CenterError(
    'ERR_CENTER_NOT_FOUND',
    `no key provider ${id}; list them (ward provider list) and check the name`,
  )

const aad = (id: string): string => `key_providers/${id}`

export async function loadProvider(db: Kysely<CenterDb>, id: string): Promise<ProviderRow> {
  const r = await db.selectFrom('key_providers').selectAll().where('id', '=', id).executeTakeFirst()
  if (r === undefined) throw missingProvider(id)
  return {
    id: r.id,
    type: r.type as ProviderRow['type'],
    spec: JSON.parse(r.spec) as ProviderSpec,
    createdAt: Number(r.created_at),
  }
}

export async function listProviders(db: Kysely<CenterDb>): Promise<ProviderRow[]> {
  const rows = await db.selectFrom('key_providers').selectAll().orderBy('created_at').execute()
  return rows.map((r) => ({
    id: r.id,
    type: r.type as ProviderRow['type'],
    spec: JSON.parse(r.spec) as ProviderSpec,
    createdAt: Number(r.created_at),
  }))
}

/** The provider's private keys, opened (the caller disposes the Secret). */
export async function openKeys(
  db: Kysely<CenterDb>,
  sealer: Sealer,
  id: string,
): Promise<Secret | undefined> {
  const r = await db
    .selectFrom('key_providers')
    .select('sealed')
    .where('id', '=', id)
    .executeTakeFirst()
  if (r === undefined) throw missingProvider(id)
  if (r.sealed === null) return undefined
  return sealer.open(aad(id), r.sealed)
}

export async function readKeys(
  db: Kysely<CenterDb>,
  sealer: Sealer,
  id: string,
): Promise<ProviderKeys> {
  const s = await openKeys(db, sealer, id)
  if (s === undefined) return {}
  try {
    return s.use((b) => JSON.parse(Buffer.from(b).toString('utf8')) as ProviderKeys)
  } finally {
    s.dispose()
  }
}

/** Save the spec, and the keys when given (sealed; the JSON bytes are zeroed). */
export async function saveProvider(
  db: Kysely<CenterDb>,
  sealer: Sealer,
  id: string,
  spec: ProviderSpec,
  keys?: ProviderKeys,
): Promise<void> {
  let sealed: Buffer | undefined
  if (keys !== undefined) {
    const plain = Buffer.from(JSON.stringify(keys))
    sealed = sealer.seal(aad(id), plain)
    plain.fill(0)
  }
  await db
    .updateTable('key_providers')
    .set({ spec: JSON.stringify(spec), ...(sealed !== undefined ? { sealed } : {}) })
    .where('id', '=', id)
    .execute()
}
