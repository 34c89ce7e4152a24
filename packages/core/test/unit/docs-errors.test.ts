import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

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

test('every error code used in the sources is documented in docs/errors/', () => {
  const root = repoRoot()
  const used = new Map<string, string>()
  for (const pkg of readdirSync(join(root, 'packages'))) {
    const src = join(root, 'packages', pkg, 'src')
    if (!existsSync(src)) continue
    for (const f of walk(src, []))
      for (const m of readFileSync(f, 'utf8').matchAll(/['"`](ERR_[A-Z0-9_]+)['"`]/g))
        if (m[1] !== undefined && !m[1].endsWith('_') && !used.has(m[1]))
          used.set(m[1], f.slice(root.length + 1))
  }
  const docsDir = join(root, 'docs', 'errors')
  const documented = new Set<string>()
  for (const f of readdirSync(docsDir))
    for (const m of readFileSync(join(docsDir, f), 'utf8').matchAll(/`(ERR_[A-Z0-9_]+)`/g))
      if (m[1]) documented.add(m[1])
  const missing = [...used].filter(([c]) => !documented.has(c)).map(([c, f]) => `${c} (${f})`)
  assert.deepEqual(missing, [], `undocumented error codes:\n${missing.join('\n')}`)
  assert.ok(used.size > 0)
})
