/**
 * A center for one test: a fresh data dir (initCenter: master key, database, admin), its API
 * built (not listening: requests go through fastify's inject), every log line captured. With
 * `pg`, the database is a fresh PostgreSQL one (test/pg.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLogger } from '@ward/core'
import { createCenter, initCenter, type Center, type CenterOptions } from '../src/center.js'
import { createTestDb, type TestDb } from './pg.js'

export const ADMIN = 'admin'
export const ADMIN_PASSWORD = 'correct horse battery staple'

export interface TestCenter {
  readonly center: Center
  readonly dataDir: string
  readonly logs: string[]
  /** Log in (basic auth): the session id. */
  login(user?: string, password?: string): Promise<string>
  /** One request; `auth` is a session id, or `{ token }`. */
  request(
    method: string,
    url: string,
    o?: {
      auth?: string | { token: string }
      body?: unknown
      rawBody?: string
      headers?: Record<string, string>
    },
  ): Promise<{ status: number; json: unknown; headers: Record<string, unknown> }>
  close(): Promise<void>
}

export async function startTestCenter(
  o: { pg?: boolean; options?: Partial<CenterOptions> } = {},
): Promise<TestCenter> {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'ward-center-')), 'data')
  let pgDb: TestDb | undefined
  if (o.pg === true) pgDb = await createTestDb()
  const db = pgDb?.url
  await initCenter({
    dataDir,
    ...(db !== undefined ? { db } : {}),
    admin: ADMIN,
    password: Buffer.from(ADMIN_PASSWORD),
  })
  const logs: string[] = []
  const logger = createLogger('center', {
    destination: { write: (s: string) => void logs.push(s) },
  })
  const center = await createCenter({
    dataDir,
    ...(db !== undefined ? { db } : {}),
    logger,
    ...o.options,
  })
  const request: TestCenter['request'] = async (method, url, r = {}) => {
    const headers: Record<string, string> = { ...r.headers }
    if (typeof r.auth === 'string') headers['vmware-api-session-id'] = r.auth
    else if (r.auth !== undefined) headers['authorization'] = `Bearer ${r.auth.token}`
    const payload = r.rawBody ?? (r.body !== undefined ? JSON.stringify(r.body) : undefined)
    if (payload !== undefined) headers['content-type'] ??= 'application/json'
    const res = await center.app.inject({
      method: method as 'GET',
      url,
      headers,
      ...(payload !== undefined ? { payload } : {}),
    })
    // every answer with a body is JSON: a body that is not fails the test here
    const json = res.body === '' ? undefined : (JSON.parse(res.body) as unknown)
    return { status: res.statusCode, json, headers: res.headers }
  }
  return {
    center,
    dataDir,
    logs,
    request,
    async login(user = ADMIN, password = ADMIN_PASSWORD) {
      const basic = Buffer.from(`${user}:${password}`).toString('base64')
      const r = await request('POST', '/api/session', {
        headers: { authorization: `Basic ${basic}` },
      })
      if (r.status !== 201) throw new Error(`login ${user}: ${r.status} ${JSON.stringify(r.json)}`)
      return r.json as string
    },
    async close() {
      await center.close()
      await pgDb?.drop()
      rmSync(join(dataDir, '..'), { recursive: true, force: true })
    },
  }
}
