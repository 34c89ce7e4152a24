/**
 * The OpenAPI 3.1 document of the API, generated from the operation table: paths, parameters,
 * request and response schemas (the same JSON Schemas fastify validates with), the privileges
 * and the object each operation needs (`x-ward-access`), and the error body.
 */
import type { TSchema } from 'typebox'
import { operations } from './operations.js'
import { ErrorBody } from './schemas.js'
import type { AnyOp } from './spec.js'
import { SESSION_HEADER } from './server.js'

/** JSON Schema of a TypeBox schema: its enumerable keys only (TypeBox's markers are not). */
const plain = (s: TSchema): unknown => JSON.parse(JSON.stringify(s)) as unknown

export function openapiDocument(version = '0.1.0'): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const [id, raw] of Object.entries(operations)) {
    const op = raw as AnyOp
    const path = op.url.replace(/:([A-Za-z_]+)/g, '{$1}')
    const parameters: unknown[] = []
    for (const [where, schema] of [
      ['path', op.params],
      ['query', op.query],
    ] as const) {
      const s = schema as { properties?: Record<string, TSchema>; required?: string[] } | undefined
      for (const [name, p] of Object.entries(s?.properties ?? {}))
        parameters.push({
          name,
          in: where,
          required: where === 'path' || (s?.required ?? []).includes(name),
          schema: plain(p),
        })
    }
    const status = op.status ?? 200
    const access = op.access
    paths[path] ??= {}
    paths[path][op.method.toLowerCase()] = {
      operationId: id,
      summary: op.summary,
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(op.body !== undefined
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: plain(op.body as TSchema) } },
            },
          }
        : {}),
      responses: {
        [status]:
          status === 204
            ? { description: 'done' }
            : {
                description: 'success',
                content: { 'application/json': { schema: plain(op.response) } },
              },
        default: {
          description: 'error',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
      },
      security: access.kind === 'public' ? [] : [{ session: [] }, { token: [] }],
      'x-ward-access': {
        kind: access.kind,
        ...(access.kind === 'object' || access.kind === 'filter'
          ? { privileges: access.privileges }
          : {}),
      },
    }
  }
  return {
    openapi: '3.1.0',
    info: { title: 'ward center', version },
    paths,
    components: {
      schemas: { Error: plain(ErrorBody) },
      securitySchemes: {
        session: { type: 'apiKey', in: 'header', name: SESSION_HEADER },
        token: { type: 'http', scheme: 'bearer' },
        basic: { type: 'http', scheme: 'basic' },
      },
    },
  }
}
