/** docs/center.md agrees with the code: every privilege and every operation has its row. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { operations } from '../../src/api/operations.js'
import type { AnyOp } from '../../src/api/spec.js'
import { noCryptoAdminLacks } from '../../src/authz/roles.js'
import { privileges } from '../../src/authz/privileges.js'

const doc = readFileSync(
  fileURLToPath(new URL('../../../../../docs/center.md', import.meta.url)),
  'utf8',
)

test('docs/center.md: a row per privilege (with NoCryptoAdmin right) and per operation, and no others', () => {
  const rows = [...doc.matchAll(/^\| `([A-Za-z]+(?:\.[A-Za-z]+)+)` \| [^|]+ \| (yes)? ?\|$/gm)]
  assert.deepEqual(
    rows.map((m) => m[1]),
    [...privileges],
  )
  for (const m of rows) assert.equal(m[2] === 'yes', !noCryptoAdminLacks(m[1] as never), m[1])
  const ops = [...doc.matchAll(/^\| `(GET|POST|PUT|PATCH|DELETE) (\/[^`]+)` \| ([a-zA-Z.]+) \|/gm)]
  assert.deepEqual(
    ops.map((m) => `${m[3]} ${m[1]} ${m[2]}`).sort(),
    Object.entries(operations)
      .map(([id, o]) => `${id} ${(o as AnyOp).method} ${(o as AnyOp).url}`)
      .sort(),
  )
})
