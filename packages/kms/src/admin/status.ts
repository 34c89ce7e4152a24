import { openDataDir, runningServer } from './data-dir.js'
import { listClients } from './revocation.js'
import type { ClientRow } from './revocation.js'
import { openPostgresStore } from '../storage/postgres.js'
import { openSqliteStore } from '../storage/sqlite.js'
import { State } from '@ward/kmip'

export interface KmsStatus {
  readonly dataDir: string
  readonly backend: 'sqlite' | 'postgres'
  readonly objectsByState: Record<string, number>
  readonly owners: readonly string[]
  /** Client certificates issued with `ward kms client add` (revokedAt when revoked). */
  readonly clients: readonly ClientRow[]
  readonly grants: number
  readonly listening: { host: string; port: number; pid: number } | null
}

const stateNames = Object.fromEntries(Object.entries(State).map(([k, v]) => [v, k]))

/** Objects by state, identities owning objects, grants, and the listener if a server runs. */
export async function kmsStatus(dataDir: string, db?: string): Promise<KmsStatus> {
  const p = openDataDir(dataDir)
  const store = db !== undefined ? await openPostgresStore(db) : await openSqliteStore(p.db)
  try {
    const counts = await store.countByState()
    const objectsByState: Record<string, number> = {}
    for (const [s, n] of counts) objectsByState[stateNames[s] ?? String(s)] = n
    const listening = runningServer(p.runtime) ?? null
    return {
      dataDir,
      backend: store.backend,
      objectsByState,
      owners: await store.countOwners(),
      clients: listClients(dataDir),
      grants: (await store.listGrants()).length,
      listening,
    }
  } finally {
    await store.close()
  }
}
