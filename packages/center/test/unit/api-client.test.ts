/**
 * The typed client of `@ward/api` is generated from the OpenAPI document and agrees with the
 * operation table: the checked-in document is the one the center serves, the generated file is
 * what the generator makes of it, and (at compile time, below) every operation's params, query,
 * body and response types are the same on both sides. When a route changes: `npm run gen:api`.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Operations as ApiOperations } from '@ward/api'
import { generateClient } from '@ward/api/codegen'
import { openapiDocument } from '../../src/api/openapi.js'
import type { OperationId, Operations } from '../../src/api/operations.js'
import type { InputOf, OutputOf } from '../../src/api/spec.js'
import { repoRoot } from '../pg.js'

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
type Part<O, K extends string> = K extends keyof O ? O[K] : undefined
type In<K extends OperationId> = InputOf<Operations[K]>
/** A closed empty query or params object (`NoQuery`) is no parameters in the document. */
type Params<T> = [keyof T] extends [never] ? undefined : T
/** Per operation: does each part agree with the generated client's type? */
type Agreement = {
  [K in OperationId]: K extends keyof ApiOperations
    ? [
        Same<Part<ApiOperations[K], 'params'>, Params<In<K>['params']>>,
        Same<Part<ApiOperations[K], 'query'>, Params<In<K>['query']>>,
        Same<Part<ApiOperations[K], 'body'>, In<K>['body']>,
        Same<ApiOperations[K]['response'], OutputOf<Operations[K]>>,
      ]
    : 'missing from @ward/api'
}
type AllTrue = { [K in OperationId]: [true, true, true, true] }
// a compile error here names the operation whose generated types disagree with the table
const agreement: AllTrue = null as unknown as Agreement
const sameIds: Same<keyof ApiOperations, OperationId> = true

const apiDir = join(repoRoot, 'packages/api')

test('packages/api/openapi.json is the document the center serves (else: npm run gen:api)', () => {
  assert.equal(sameIds, true)
  assert.equal(agreement, null)
  const onDisk = JSON.parse(readFileSync(join(apiDir, 'openapi.json'), 'utf8')) as unknown
  assert.deepEqual(onDisk, openapiDocument(), 'stale packages/api/openapi.json: npm run gen:api')
})

test('packages/api/src/generated.ts is generated from that document (else: npm run gen:api)', () => {
  const doc = JSON.parse(readFileSync(join(apiDir, 'openapi.json'), 'utf8')) as Record<
    string,
    unknown
  >
  assert.equal(
    readFileSync(join(apiDir, 'src/generated.ts'), 'utf8'),
    generateClient(doc),
    'stale packages/api/src/generated.ts: npm run gen:api',
  )
})
