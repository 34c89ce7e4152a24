/**
 * The client's types from the OpenAPI document (`@ward/api/codegen`): every operation of the
 * document becomes one entry of `Operations` (method, path, success status, and the TypeScript
 * types of its path parameters, query, body and response), written from the JSON Schemas the
 * center validates with. `npm run gen:api` writes packages/api/openapi.json from the center's
 * operation table and src/generated.ts from that document; a test fails when either is stale.
 *
 * The schemas are the subset TypeBox emits for the center's routes: type (or a list of types),
 * properties/required/additionalProperties, items, anyOf, const, enum. Anything else is refused,
 * so a new construct is noticed here rather than typed as `unknown`.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json }
type Schema = { readonly [k: string]: Json }

/** Keys that only constrain values or describe them: they do not change the TypeScript type. */
const valueOnly = new Set([
  'description',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minItems',
  'maxItems',
  'uniqueItems',
  'default',
  'examples',
  'title',
])
const structural = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'anyOf',
  'const',
  'enum',
])

const MAX_DEPTH = 32

const isSchema = (v: Json | undefined): v is Schema =>
  v !== null && typeof v === 'object' && !Array.isArray(v)

const propName = (k: string): string =>
  /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : JSON.stringify(k)

/** The TypeScript type of one JSON Schema, as TypeBox's `Static` gives it. */
export function schemaType(s: Json | undefined, where: string, depth = 0): string {
  if (depth > MAX_DEPTH) throw new Error(`${where}: schema nested deeper than ${MAX_DEPTH}`)
  if (s === true || s === undefined) return 'unknown'
  if (!isSchema(s)) throw new Error(`${where}: not a schema`)
  for (const k of Object.keys(s))
    if (!valueOnly.has(k) && !structural.has(k))
      throw new Error(`${where}: schema keyword '${k}' is not supported by the generator`)
  const sub = (v: Json | undefined, w: string): string => schemaType(v, w, depth + 1)
  if (s['const'] !== undefined) return JSON.stringify(s['const'])
  if (Array.isArray(s['enum'])) return s['enum'].map((v) => JSON.stringify(v)).join(' | ')
  if (Array.isArray(s['anyOf']))
    return s['anyOf'].map((v, i) => paren(sub(v, `${where}.anyOf[${i}]`))).join(' | ')
  const t = s['type']
  if (Array.isArray(t)) return t.map((x) => sub({ ...s, type: x }, where)).join(' | ')
  switch (t) {
    case 'string':
      return 'string'
    case 'integer':
    case 'number':
      return 'number'
    case 'boolean':
      return 'boolean'
    case 'null':
      return 'null'
    case 'array':
      return `${paren(sub(s['items'], `${where}.items`))}[]`
    case 'object':
      return objectType(s, where, sub)
    case undefined:
      if (Object.keys(s).every((k) => valueOnly.has(k))) return 'unknown'
      throw new Error(`${where}: a schema without a type`)
    default:
      throw new Error(`${where}: type ${JSON.stringify(t)} is not supported by the generator`)
  }
}

const paren = (t: string): string => (/[|&]/.test(t) && !/^\{[\s\S]*\}$/.test(t) ? `(${t})` : t)

function objectType(
  s: Schema,
  where: string,
  sub: (v: Json | undefined, w: string) => string,
): string {
  const props = isSchema(s['properties']) ? s['properties'] : {}
  const required = new Set(Array.isArray(s['required']) ? s['required'] : [])
  const lines = Object.entries(props).map(
    ([k, v]) => `${propName(k)}${required.has(k) ? '' : '?'}: ${sub(v, `${where}.${k}`)}`,
  )
  const extra = s['additionalProperties']
  if (isSchema(extra)) lines.push(`[key: string]: ${sub(extra, `${where}[*]`)}`)
  // an open object without declared properties (additionalProperties: true) is `{}`, as in TypeBox
  return lines.length === 0 ? '{}' : `{ ${lines.join('; ')} }`
}

interface Parameter {
  readonly name: string
  readonly in: 'path' | 'query'
  readonly required: boolean
  readonly schema: Json
}

const methods = ['get', 'post', 'put', 'patch', 'delete'] as const

/** src/generated.ts's text for an OpenAPI document of the center. */
export function generateClient(doc: Record<string, unknown>): string {
  const paths = doc['paths'] as Record<string, Record<string, Record<string, unknown>>> | undefined
  if (paths === undefined) throw new Error('the document has no paths')
  const types: string[] = []
  const table: string[] = []
  const seen = new Set<string>()
  for (const [path, item] of Object.entries(paths))
    for (const m of methods) {
      const o = item[m]
      if (o === undefined) continue
      const id = o['operationId']
      if (typeof id !== 'string' || seen.has(id))
        throw new Error(`${m.toUpperCase()} ${path}: missing or repeated operationId`)
      seen.add(id)
      const responses = o['responses'] as Record<string, { content?: Record<string, unknown> }>
      const status = Object.keys(responses).find((k) => /^2\d\d$/.test(k))
      if (status === undefined) throw new Error(`${id}: no success response`)
      const params = (o['parameters'] as Parameter[] | undefined) ?? []
      const group = (where: 'path' | 'query'): string | undefined => {
        const ps = params.filter((p) => p.in === where)
        if (ps.length === 0) return undefined
        return `{ ${ps
          .map(
            (p) =>
              `${propName(p.name)}${p.required ? '' : '?'}: ${schemaType(p.schema, `${id}.${p.name}`)}`,
          )
          .join('; ')} }`
      }
      const body = (o['requestBody'] as { content: Record<string, { schema: Json }> } | undefined)
        ?.content['application/json']?.schema
      const ok = responses[status]?.content?.['application/json'] as { schema: Json } | undefined
      const fields = [
        `method: '${m.toUpperCase()}'`,
        `path: '${path}'`,
        `status: ${status}`,
        ...(group('path') !== undefined ? [`params: ${group('path')}`] : []),
        ...(group('query') !== undefined ? [`query: ${group('query')}`] : []),
        ...(body !== undefined ? [`body: ${schemaType(body, `${id}.body`)}`] : []),
        `response: ${ok === undefined ? 'null' : schemaType(ok.schema, `${id}.response`)}`,
      ]
      types.push(`  '${id}': {\n${fields.map((f) => `    ${f}`).join('\n')}\n  }`)
      table.push(`  '${id}': { method: '${m.toUpperCase()}', path: '${path}', status: ${status} },`)
    }
  return [
    "// Generated by `npm run gen:api` from packages/api/openapi.json (the center's OpenAPI",
    '// document): do not edit. A test fails when this file and the document disagree.',
    '/* eslint-disable */',
    '',
    '/** Every operation of the API: method, path, success status and its types. */',
    'export interface Operations {',
    types.join('\n'),
    '}',
    '',
    '/** The method, path and success status of every operation (the client reads it). */',
    'export const operations = {',
    ...table,
    '} as const satisfies {',
    "  readonly [K in keyof Operations]: Pick<Operations[K], 'method' | 'path' | 'status'>",
    '}',
    '',
  ].join('\n')
}
