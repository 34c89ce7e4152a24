/** The generator's JSON Schema → TypeScript mapping, and its refusals. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { generateClient, schemaType } from '../../src/codegen.js'

test('schema types as TypeBox Static gives them', () => {
  assert.equal(schemaType({ type: 'string', maxLength: 3 }, 'x'), 'string')
  assert.equal(schemaType({ type: 'integer', minimum: 0 }, 'x'), 'number')
  assert.equal(schemaType({ anyOf: [{ type: 'string' }, { type: 'null' }] }, 'x'), 'string | null')
  assert.equal(schemaType({ anyOf: [{ const: 'a' }, { const: 'b' }] }, 'x'), '"a" | "b"')
  assert.equal(
    schemaType({ type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'number' }] } }, 'x'),
    '(string | number)[]',
  )
  assert.equal(
    schemaType(
      {
        type: 'object',
        properties: { a: { type: 'boolean' }, 'b-c': { type: 'string' } },
        required: ['a'],
        additionalProperties: false,
      },
      'x',
    ),
    '{ a: boolean; "b-c"?: string }',
  )
  assert.equal(
    schemaType({ type: 'object', additionalProperties: { type: 'number' } }, 'x'),
    '{ [key: string]: number }',
  )
  assert.equal(schemaType({}, 'x'), 'unknown')
})

test('a keyword the generator does not know, or a schema nested too deep, is refused by name', () => {
  assert.throws(() => schemaType({ type: 'object', patternProperties: {} }, 'vm.get.response'), {
    message: /vm\.get\.response: schema keyword 'patternProperties'/,
  })
  let deep: Record<string, unknown> = { type: 'string' }
  for (let i = 0; i < 40; i++) deep = { type: 'array', items: deep }
  assert.throws(() => schemaType(deep as never, 'x'), { message: /nested deeper than 32/ })
})

test('a document becomes one Operations entry and one table row per operation', () => {
  const src = generateClient({
    paths: {
      '/api/vcenter/vm/{vm}': {
        get: {
          operationId: 'vm.get',
          parameters: [{ name: 'vm', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            200: { content: { 'application/json': { schema: { type: 'string' } } } },
            default: {},
          },
        },
        delete: { operationId: 'vm.delete', responses: { 204: { description: 'done' } } },
      },
    },
  })
  assert.match(
    src,
    /'vm\.get': \{\n {4}method: 'GET'\n {4}path: '\/api\/vcenter\/vm\/\{vm\}'\n {4}status: 200\n {4}params: \{ vm: string \}\n {4}response: string\n {2}\}/,
  )
  assert.match(
    src,
    /'vm\.delete': \{ method: 'DELETE', path: '\/api\/vcenter\/vm\/\{vm\}', status: 204 \}/,
  )
  assert.throws(
    () =>
      generateClient({
        paths: {
          '/a': { get: { operationId: 'x', responses: {} } },
          '/b': { get: { operationId: 'x', responses: {} } },
        },
      }),
    { message: /no success response|repeated operationId/ },
  )
})
