import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { WardError, errorKinds } from '../../src/errors.js'

// Repository root: walk up from this compiled file until package.json with workspaces.
function repoRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const p = join(d, 'package.json')
    if (
      existsSync(p) &&
      (JSON.parse(readFileSync(p, 'utf8')) as { workspaces?: unknown }).workspaces
    )
      return d
    const up = dirname(d)
    if (up === d) throw new Error('repository root not found')
    d = up
  }
}

function walk(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) walk(p, out)
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

const root = repoRoot()

/**
 * Each package's error table (the export of its src/errors.ts) and the docs/errors/ pages that
 * document its codes. A package is read from its build (dist), so @ward/core depends on none.
 */
const areas: Readonly<
  Record<string, { readonly table: string; readonly docs: readonly string[] }>
> = {
  core: { table: 'coreErrors', docs: ['core.md'] },
  cli: { table: 'cliErrors', docs: ['core.md'] },
  envelope: { table: 'envelopeErrors', docs: ['envelope.md', 'disk.md', 'envelope-xts.md'] },
  kmip: { table: 'kmipErrors', docs: ['kmip.md'] },
  kms: { table: 'kmsErrors', docs: ['kms.md'] },
  tpm2: { table: 'tpmErrors', docs: ['tpm2.md'] },
  host: { table: 'hostErrors', docs: ['host.md'] },
  nbd: { table: 'nbdErrors', docs: ['nbd.md'] },
  center: { table: 'centerErrors', docs: ['center.md'] },
  api: { table: 'apiErrors', docs: ['center.md'] },
}

type Table = Readonly<Record<string, { readonly kind: string }>>

async function loadTable(pkg: string): Promise<Table> {
  const file = join(root, 'packages', pkg, 'dist', 'src', 'errors.js')
  const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>
  const t = mod[areas[pkg]!.table]
  assert.ok(
    t !== null && typeof t === 'object',
    `${pkg}: src/errors.ts exports no ${areas[pkg]!.table}`,
  )
  return t as Table
}

/** Codes documented in a docs/errors/ page: the first column of its tables. */
function documented(page: string): Set<string> {
  const out = new Set<string>()
  for (const m of readFileSync(join(root, 'docs', 'errors', page), 'utf8').matchAll(
    /^\| `(ERR_[A-Z0-9_]+)` \|/gm,
  ))
    out.add(m[1]!)
  return out
}

test('every package with src/errors.ts has an error table, and every docs/errors/ page belongs to one', () => {
  const withErrors = readdirSync(join(root, 'packages'))
    .filter((p) => existsSync(join(root, 'packages', p, 'src', 'errors.ts')))
    .sort()
  assert.deepEqual(withErrors, Object.keys(areas).sort())
  const pages = new Set(Object.values(areas).flatMap((a) => a.docs))
  assert.deepEqual(readdirSync(join(root, 'docs', 'errors')).sort(), [...pages].sort())
})

test('every error table row has a kind from errorKinds, and no code is in two tables', async () => {
  const kinds = new Set<string>(errorKinds)
  const owner = new Map<string, string>()
  for (const pkg of Object.keys(areas)) {
    const table = await loadTable(pkg)
    assert.ok(Object.keys(table).length > 0, pkg)
    for (const [code, row] of Object.entries(table)) {
      assert.match(code, /^ERR_[A-Z0-9]+(_[A-Z0-9]+)+$/, `${pkg}: ${code}`)
      assert.ok(kinds.has(row.kind), `${pkg}: ${code} has kind ${row.kind}`)
      assert.equal(
        owner.get(code),
        undefined,
        `${code} is in the tables of ${owner.get(code)} and ${pkg}`,
      )
      owner.set(code, pkg)
    }
  }
})

test('error tables and docs/errors/ agree both ways: every code documented, every documented code in a table', async () => {
  const byPage = new Map<string, Set<string>>()
  for (const [pkg, a] of Object.entries(areas))
    for (const page of a.docs)
      for (const code of Object.keys(await loadTable(pkg)))
        byPage.set(page, (byPage.get(page) ?? new Set()).add(code))
  const undocumented: string[] = []
  const unknown: string[] = []
  for (const [pkg, a] of Object.entries(areas)) {
    const docs = new Set(a.docs.flatMap((p) => [...documented(p)]))
    for (const code of Object.keys(await loadTable(pkg)))
      if (!docs.has(code)) undocumented.push(`${code} (${pkg}: docs/errors/${a.docs.join(', ')})`)
  }
  for (const [page, codes] of byPage)
    for (const code of documented(page))
      if (!codes.has(code)) unknown.push(`${code} (docs/errors/${page})`)
  assert.deepEqual(
    { undocumented, unknown },
    { undocumented: [], unknown: [] },
    'undocumented: codes in a table but not in docs/errors/; unknown: documented codes in no table',
  )
})

test('every error code used in the sources is in an error table (and so documented)', async () => {
  const tables = new Set<string>()
  for (const pkg of Object.keys(areas))
    for (const c of Object.keys(await loadTable(pkg))) tables.add(c)
  const used = new Map<string, string>()
  for (const pkg of readdirSync(join(root, 'packages'))) {
    const src = join(root, 'packages', pkg, 'src')
    if (!existsSync(src)) continue
    for (const f of walk(src, []))
      for (const m of readFileSync(f, 'utf8').matchAll(/['"`](ERR_[A-Z0-9_]+)['"`]/g))
        if (m[1] !== undefined && !m[1].endsWith('_') && !used.has(m[1]))
          used.set(m[1], f.slice(root.length + 1))
  }
  const missing = [...used].filter(([c]) => !tables.has(c)).map(([c, f]) => `${c} (${f})`)
  assert.deepEqual(missing, [], `error codes in no table:\n${missing.join('\n')}`)
  assert.ok(used.size > 0)
})

test("an error class takes only its own table's codes", () => {
  // @ts-expect-error: ERR_CLI_USAGE is the CLI's (CliError), not a row of coreErrors
  const other = new WardError('ERR_CLI_USAGE', 'x')
  assert.equal(other.code, 'ERR_CLI_USAGE')
})
