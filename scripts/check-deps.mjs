#!/usr/bin/env node
// Each workspace package's package.json lists exactly what its files import (run by `npm run
// lint:all`). A package imported by src/, bin/ or native/ must be in `dependencies`; one imported
// only by test/ in `devDependencies` (or `dependencies`); every listed package must be imported
// (`@types/x` counts as used when `x` is). Node built-ins, relative paths and the package's own
// name are not dependencies. Specifiers come from TypeScript's pre-processor, so imports in
// comments and strings do not count; `import type`, `export … from` and `import()` do. A relative
// import that leaves the package folder is refused too: another package is imported by its name.
//
// Before checking the tree the script checks itself on fixture packages written to a temporary
// folder (a missing, an unused, a test-only-in-dependencies and a clean package): if it stops
// noticing one of those, lint fails. Usage: node scripts/check-deps.mjs [ROOT]
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { isBuiltin } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve, sep } from 'node:path'
import ts from 'typescript'

const SOURCE = /\.(?:[cm]?ts|[cm]?js)$/
const SKIP_DIRS = new Set(['node_modules', 'dist', 'build'])

/** Every source file below `dir` (not dist/, node_modules/, native/build/, .d.ts). */
function sourceFiles(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name) && !e.name.startsWith('.')) sourceFiles(p, out)
    } else if (SOURCE.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

/** The package a bare specifier names ('@a/b/c' → '@a/b', 'x/y' → 'x'), or undefined. */
function packageOf(spec) {
  if (spec.startsWith('.') || spec.startsWith('/') || isBuiltin(spec)) return undefined
  const parts = spec.split('/')
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]
}

/** `@types/node` → 'node', `@types/a__b` → '@a/b'. */
const typed = (name) => {
  const t = name.slice('@types/'.length)
  return t.includes('__') ? `@${t.replace('__', '/')}` : t
}

/** Problems of one package folder, as sentences. */
export function checkPackage(root, pkgDir) {
  const manifestPath = join(pkgDir, 'package.json')
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'))
  const where = relative(root, manifestPath)
  const deps = new Set(Object.keys(manifest.dependencies ?? {}))
  const devDeps = new Set(Object.keys(manifest.devDependencies ?? {}))
  /** package → { runtime: files, test: files } */
  const used = new Map()
  const outside = []
  for (const file of sourceFiles(pkgDir)) {
    const rel = relative(pkgDir, file)
    const kind = rel.split('/')[0] === 'test' ? 'test' : 'runtime'
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true)
    for (const { fileName } of info.importedFiles) {
      if (fileName.startsWith('.') && !resolve(dirname(file), fileName).startsWith(pkgDir + sep))
        outside.push(
          `${where}: ${rel} imports '${fileName}', outside the package: import it by its package name`,
        )
      const name = packageOf(fileName)
      if (name === undefined || name === manifest.name) continue
      if (!used.has(name)) used.set(name, { runtime: [], test: [] })
      used.get(name)[kind].push(rel)
    }
  }
  const isUsed = (name, kinds) => {
    const u = used.get(name.startsWith('@types/') ? typed(name) : name)
    return u !== undefined && kinds.some((k) => u[k].length > 0)
  }
  const problems = [...outside]
  for (const [name, u] of [...used].sort(([a], [b]) => a.localeCompare(b))) {
    if (u.runtime.length > 0 && !deps.has(name))
      problems.push(
        `${where}: ${u.runtime[0]} imports '${name}', which is not in "dependencies"${devDeps.has(name) ? ' (only in "devDependencies")' : ''}: add it there`,
      )
    else if (u.runtime.length === 0 && !deps.has(name) && !devDeps.has(name))
      problems.push(
        `${where}: ${u.test[0]} imports '${name}', which is in neither "dependencies" nor "devDependencies": add it to "devDependencies"`,
      )
  }
  for (const name of [...deps].sort()) {
    if (isUsed(name, ['runtime'])) continue
    problems.push(
      isUsed(name, ['test'])
        ? `${where}: '${name}' is in "dependencies" but only test/ imports it: move it to "devDependencies"`
        : `${where}: '${name}' is in "dependencies" but nothing in ${relative(root, pkgDir)} imports it: remove it`,
    )
  }
  for (const name of [...devDeps].sort()) {
    if (deps.has(name) || isUsed(name, ['runtime', 'test'])) continue
    problems.push(
      `${where}: '${name}' is in "devDependencies" but nothing in ${relative(root, pkgDir)} imports it: remove it`,
    )
  }
  return problems
}

/** Problems of every packages/* folder below `root`. */
export function checkTree(root) {
  const pkgs = join(root, 'packages')
  return readdirSync(pkgs, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) => {
      try {
        readFileSync(join(pkgs, e.name, 'package.json'))
      } catch {
        return []
      }
      return checkPackage(resolve(root), resolve(pkgs, e.name))
    })
}

/** The checker on fixture packages: each kind of mistake must be reported, a clean one not. */
function selfTest() {
  const root = mkdtempSync(join(tmpdir(), 'ward-check-deps-'))
  const write = (path, text) => {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), text)
  }
  const pkg = (name, o) => write(`packages/${name}/package.json`, JSON.stringify({ name, ...o }))
  try {
    pkg('clean', {
      dependencies: { a: '1', '@s/b': '1' },
      devDependencies: { t: '1', '@types/a': '1' },
    })
    write(
      'packages/clean/src/x.ts',
      "import { a } from 'a'\nimport type { B } from '@s/b/deep'\nimport { readFileSync } from 'node:fs'\nimport { join } from 'path'\nimport { y } from './y.js'\nexport { a, readFileSync, join, y }\nexport type { B }\n// import 'commented-out'\nconst s = \"require('in-a-string')\"\nexport const self = () => import('clean/sub').then(() => s)\n",
    )
    write('packages/clean/test/x.test.ts', "import t from 't'\nimport 'a'\nexport { t }\n")
    pkg('missing', { dependencies: {} })
    write('packages/missing/src/x.ts', "export { m } from 'm'\n")
    pkg('missingtest', {})
    write('packages/missingtest/test/x.test.ts', "const q = await import('q')\nexport { q }\n")
    pkg('devonly', { devDependencies: { d: '1' } })
    write('packages/devonly/src/x.ts', "import d from 'd'\nexport default d\n")
    pkg('unused', { dependencies: { u: '1' }, devDependencies: { v: '1' } })
    write('packages/unused/src/x.ts', 'export const x = 1\n')
    pkg('testonly', { dependencies: { w: '1' } })
    write('packages/testonly/test/x.test.ts', "import w from 'w'\nexport { w }\n")
    pkg('reach', {})
    write('packages/reach/test/x.test.ts', "export * from '../../clean/src/x.js'\n")
    const got = checkTree(root)
      .map((p) => p.replace(/^packages\/([^/]+)\/package\.json: .*?'([^']+)'.*$/, '$1 $2'))
      .sort()
    const want = [
      'devonly d',
      'missing m',
      'missingtest q',
      'reach ../../clean/src/x.js',
      'testonly w',
      'unused u',
      'unused v',
    ]
    if (JSON.stringify(got) !== JSON.stringify(want))
      throw new Error(
        `check-deps self-test: expected problems ${JSON.stringify(want)}, got ${JSON.stringify(got)}`,
      )
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

selfTest()
const root = process.argv[2] ?? new URL('..', import.meta.url).pathname
const problems = checkTree(root)
for (const p of problems) console.error(p)
if (problems.length > 0) {
  console.error(`check-deps: ${problems.length} package.json problem(s); fix the lists above`)
  process.exit(1)
}
