#!/usr/bin/env node
// npm run gen:api: packages/api/openapi.json from the center's operation table (its OpenAPI
// document, as GET /api/openapi.json serves it), then packages/api/src/generated.ts from that
// document. Run after changing a route; the api and center tests fail while either is stale.
// The first build may report the stale api-client test (that is what this fixes): its sources are
// still emitted, then the document and the client are written and everything is built again.
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { openapiDocument } = await import('@ward/center')
const { generateClient } = await import('@ward/api/codegen')
const doc = openapiDocument()
writeFileSync(join(root, 'packages/api/openapi.json'), `${JSON.stringify(doc, null, 2)}\n`)
writeFileSync(join(root, 'packages/api/src/generated.ts'), generateClient(doc))
console.log(
  `packages/api: openapi.json and src/generated.ts (${Object.keys(doc.paths).length} paths)`,
)
