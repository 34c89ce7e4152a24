/**
 * The operation table's invariants: every route declares its access with known privileges (a
 * route without one stops the server at start, for routes added outside the table too), no two
 * operations share a method and URL, and the OpenAPI document lists exactly the table's
 * operations with the same access.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { checkAccess } from '../../src/api/server.js'
import { operations } from '../../src/api/operations.js'
import type { AnyOp } from '../../src/api/spec.js'
import { openapiDocument } from '../../src/api/openapi.js'
import { createCenter } from '../../src/center.js'
import { startTestCenter } from '../helpers.js'

test('a route without declared access, or with an unknown privilege, stops the server at start', async () => {
  const t = await startTestCenter()
  try {
    await assert.rejects(
      createCenter({
        dataDir: t.dataDir,
        api: { extraRoutes: (app) => void app.get('/api/ward/oops', async () => 'x') },
      }),
      { code: 'ERR_CENTER_ROUTE_TABLE' },
    )
    await assert.rejects(
      createCenter({
        dataDir: t.dataDir,
        api: {
          extraRoutes: (app) =>
            void app.get(
              '/api/ward/oops',
              {
                config: {
                  access: {
                    kind: 'object',
                    privileges: ['Cryptographer.MakeCoffee'],
                    object: () => 'root',
                  },
                } as never,
              },
              async () => 'x',
            ),
        },
      }),
      { code: 'ERR_CENTER_ROUTE_TABLE' },
    )
    assert.throws(() => checkAccess('x', { kind: 'filter', privileges: [] }), {
      code: 'ERR_CENTER_ROUTE_TABLE',
    })
  } finally {
    await t.close()
  }
})

test('operations: unique method+url; the OpenAPI document matches the table', () => {
  const seen = new Set<string>()
  for (const [id, raw] of Object.entries(operations)) {
    const op = raw as AnyOp
    const key = `${op.method} ${op.url}`
    assert.ok(!seen.has(key), `${id}: ${key} twice`)
    seen.add(key)
    checkAccess(id, op.access)
  }
  const doc = openapiDocument() as {
    paths: Record<
      string,
      Record<
        string,
        { operationId: string; 'x-ward-access': { kind: string; privileges?: string[] } }
      >
    >
  }
  const listed = Object.values(doc.paths).flatMap((m) => Object.values(m))
  assert.deepEqual(listed.map((o) => o.operationId).sort(), Object.keys(operations).sort())
  for (const o of listed) {
    const a = (operations[o.operationId as keyof typeof operations] as AnyOp).access
    assert.equal(o['x-ward-access'].kind, a.kind)
    if (a.kind === 'object' || a.kind === 'filter')
      assert.deepEqual(o['x-ward-access'].privileges, a.privileges)
  }
})
