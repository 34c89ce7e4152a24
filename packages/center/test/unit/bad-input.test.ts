/**
 * Bad input on every operation, generated from the OpenAPI document the center serves: unknown
 * fields, wrong types, missing required fields, over-long strings and arrays, a huge body, a
 * body where none is taken, unknown query parameters and malformed ids. Each is refused with a
 * 4xx and a coded error in vSphere's error shape, and the database is unchanged.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startTestCenter, type TestCenter } from '../helpers.js'
import { makeFixture, samples, snapshot, urlOf, type Sample } from '../samples.js'

interface Schema {
  type?: string
  properties?: Record<string, Schema>
  required?: string[]
  maxLength?: number
  maxItems?: number
  anyOf?: Schema[]
  items?: Schema
}
interface OpDoc {
  operationId: string
  parameters?: { name: string; in: 'path' | 'query'; schema: Schema }[]
  requestBody?: { content: { 'application/json': { schema: Schema } } }
}

const wrongValue = (s: Schema): unknown => {
  const t = s.type ?? s.anyOf?.[0]?.type
  switch (t) {
    case 'string':
      return 12345
    case 'integer':
    case 'number':
      return 'not a number'
    case 'boolean':
      return 'yes'
    case 'array':
      return { not: 'an array' }
    default:
      return [1, 2, 3]
  }
}

/** Bodies that break the schema, each with what it breaks. */
function badBodies(schema: Schema, valid: Record<string, unknown>): [string, unknown][] {
  const out: [string, unknown][] = [
    ['unknown field', { ...valid, bogus: 'x' }],
    ['an array instead of an object', [valid]],
    ['a string instead of an object', 'hello'],
  ]
  for (const [k, p] of Object.entries(schema.properties ?? {})) {
    out.push([`${k} of the wrong type`, { ...valid, [k]: wrongValue(p) }])
    if (p.maxLength !== undefined)
      out.push([`${k} too long`, { ...valid, [k]: 'a'.repeat(p.maxLength + 1) }])
    if (p.maxItems !== undefined)
      out.push([
        `${k} too many items`,
        { ...valid, [k]: Array.from({ length: p.maxItems + 1 }, (_, i) => `System.P${i}`) },
      ])
  }
  for (const k of schema.required ?? []) {
    const rest = Object.fromEntries(Object.entries(valid).filter(([key]) => key !== k))
    out.push([`${k} missing`, rest])
  }
  return out
}

async function expectRefused(
  t: TestCenter,
  what: string,
  before: string,
  r: { status: number; json: unknown },
): Promise<void> {
  assert.ok(r.status >= 400 && r.status < 500, `${what}: ${r.status} ${JSON.stringify(r.json)}`)
  const body = r.json as { code?: string; error_type?: string; messages?: unknown[] }
  assert.match(body.code ?? '', /^ERR_CENTER_[A-Z_]+$/, what)
  assert.equal(typeof body.error_type, 'string', what)
  assert.ok(Array.isArray(body.messages) && body.messages.length === 1, what)
  assert.equal(await snapshot(t), before, `${what}: state changed`)
}

test('bad input on every operation (from /api/openapi.json): 4xx, coded error, nothing changed', async () => {
  const t = await startTestCenter()
  try {
    const f = await makeFixture(t)
    const doc = (await t.request('GET', '/api/openapi.json')).json as {
      paths: Record<string, Record<string, OpDoc>>
    }
    const caller = { user: 'admin', password: 'correct horse battery staple', sid: f.admin }
    let cases = 0
    for (const [path, methods] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(methods)) {
        const url = path.replace(/\{([A-Za-z_]+)\}/g, ':$1')
        const prepare = samples[op.operationId as keyof typeof samples]
        const base: Sample =
          prepare !== undefined
            ? await prepare(f, caller)
            : op.operationId === 'host.join'
              ? {
                  body: {
                    token: 'wardjoin_' + 'x'.repeat(40),
                    name: 'h1',
                    address: '127.0.0.1:8444',
                    csr: `-----BEGIN CERTIFICATE REQUEST-----${'A'.repeat(80)}`,
                  },
                }
              : {}
        const auth = base.auth ?? f.admin
        const send = async (
          what: string,
          o: { url?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> },
        ) => {
          const before = await snapshot(t)
          const r = await t.request(method.toUpperCase(), o.url ?? urlOf(url, base), {
            auth,
            ...(o.body !== undefined ? { body: o.body } : {}),
            ...(o.rawBody !== undefined ? { rawBody: o.rawBody } : {}),
            ...(o.headers !== undefined ? { headers: o.headers } : {}),
          })
          cases++
          await expectRefused(t, `${op.operationId}: ${what}`, before, r)
        }
        const schema = op.requestBody?.content['application/json'].schema
        if (schema !== undefined) {
          for (const [what, body] of badBodies(schema, base.body as Record<string, unknown>))
            await send(what, { body })
          await send('huge body', {
            body: { ...(base.body as object), pad: 'x'.repeat(100 * 1024) },
          })
          await send('not JSON', { rawBody: '{"name": ' })
          await send('not JSON content', {
            rawBody: 'name=x',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
          })
        } else if (method !== 'get')
          await send('a body where none is taken', { body: { bogus: 1 } })
        for (const p of op.parameters ?? []) {
          if (p.in === 'path')
            for (const bad of [
              'x',
              '..%2F..%2Fetc',
              'datacenter-0',
              'vm-1e5',
              'a'.repeat(120),
              '%00',
            ])
              await send(`path ${p.name}=${bad.slice(0, 20)}`, {
                url: urlOf(url, { ...base, params: { ...base.params, [p.name]: bad } }).replace(
                  encodeURIComponent(bad),
                  bad,
                ),
              })
          else
            await send(`query ${p.name} malformed`, {
              url: urlOf(url, { ...base, query: { ...base.query, [p.name]: 'bad value!' } }),
            })
        }
        await send('unknown query parameter', {
          url: urlOf(url, { ...base, query: { ...base.query, bogus: '1' } }),
        })
      }
    assert.ok(cases > 200, `only ${cases} cases`)
  } finally {
    await t.close()
  }
})
