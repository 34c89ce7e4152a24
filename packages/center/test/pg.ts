/**
 * A PostgreSQL database for one test file: a fresh database inside WARD_TEST_PG_URL's cluster,
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
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..')

export interface TestDb {
  readonly url: string
  drop(): Promise<void>
}

export async function createTestDb(): Promise<TestDb> {
  let base = process.env['WARD_TEST_PG_URL']
  let clusterDir: string | undefined
  if (base === undefined || base === '') {
    clusterDir = mkdtempSync(join(tmpdir(), 'ward-center-pg-'))
    const { stdout } = await ex('bash', [join(repoRoot, 'scripts/pg-start.sh'), clusterDir])
    const m = /WARD_TEST_PG_URL=(\S+)/.exec(stdout)
    if (m === null) throw new Error(`pg-start.sh printed no URL: ${stdout}`)
    base = m[1]!
  }
  const name = `ward_center_${randomBytes(6).toString('hex')}`
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
