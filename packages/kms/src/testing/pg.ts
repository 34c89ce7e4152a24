/**
 * A PostgreSQL database for one test file (`@ward/kms/testing`; the kms and center tests use it): a fresh database inside WARD_TEST_PG_URL's cluster,
 * or, if that variable is absent, a throwaway cluster started with scripts/pg-start.sh. Never a
 * skip: if neither works the test fails.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { randomBytes } from 'node:crypto'
import pg from 'pg'

const ex = promisify(execFile)
/** The repository (this file is packages/kms/dist/src/testing/pg.js): scripts/pg-start.sh is there. */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../..')

export interface TestDb {
  readonly url: string
  drop(): Promise<void>
}

/** `prefix` names the database (`PREFIX_<random hex>`) and the throwaway cluster's folder. */
export async function createTestDb(prefix = 'ward_test'): Promise<TestDb> {
  if (!/^[a-z][a-z0-9_]{0,30}$/.test(prefix))
    throw new Error(`createTestDb: bad prefix '${prefix}'`)
  let base = process.env['WARD_TEST_PG_URL']
  let clusterDir: string | undefined
  if (base === undefined || base === '') {
    clusterDir = mkdtempSync(join(tmpdir(), `${prefix.replace(/_/g, '-')}-pg-`))
    const { stdout } = await ex('bash', [join(repoRoot, 'scripts/pg-start.sh'), clusterDir])
    const m = /WARD_TEST_PG_URL=(\S+)/.exec(stdout)
    if (m === null) throw new Error(`pg-start.sh printed no URL: ${stdout}`)
    base = m[1]!
  }
  const name = `${prefix}_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: base })
  await admin.connect()
  // concurrent CREATE DATABASE from template1 (test files run in parallel) can fail with 55006
  // "source database is being accessed by other users": wait and try again
  for (let attempt = 1; ; attempt++) {
    try {
      await admin.query(`CREATE DATABASE ${name}`)
      break
    } catch (e) {
      if ((e as { code?: string }).code !== '55006' || attempt >= 20) throw e
      await new Promise((r) => setTimeout(r, 100 * attempt))
    }
  }
  await admin.end()
  const u = new URL(base)
  u.pathname = `/${name}`
  return {
    url: u.toString(),
    async drop() {
      const a = new pg.Client({ connectionString: base })
      await a.connect()
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await a.end()
      if (clusterDir !== undefined) {
        await ex('bash', [join(repoRoot, 'scripts/pg-stop.sh'), clusterDir]).catch(() => undefined)
        rmSync(clusterDir, { recursive: true, force: true })
      }
    },
  }
}
