import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { commandGroups } from '../../src/commands/index.js'
import type { Command } from '../../src/command.js'

// Every `ward …` / `npx ward …` command line in the README and docs/*.md names a command that
// exists, with flags that command knows (parsed as the CLI parses them, nothing run), and every
// relative Markdown link points at a file of the repository. Before: nothing checked them, and
// the docs drifted (a data dir path per document, a cited file that is not in the repository).
const root = resolve(fileURLToPath(new URL('../../../../../', import.meta.url)))
const docs = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
]

/** Shell words of one command (quotes removed; `$VAR`, `"$(…)"` kept as opaque words). */
function words(line: string): string[] {
  const out: string[] = []
  let cur = ''
  let inWord = false
  let q: string | null = null
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (q !== null) {
      if (c === q) q = null
      else cur += c
    } else if (c === "'" || c === '"') {
      q = c
      inWord = true
    } else if (c === '#' && !inWord) break
    else if (/\s/.test(c)) {
      if (inWord) out.push(cur)
      cur = ''
      inWord = false
    } else {
      cur += c
      inWord = true
    }
  }
  if (inWord) out.push(cur)
  return out
}

/** The `ward` command lines of the ```sh blocks of `md` (continuations joined; `&&`, `;`, `&` split). */
function wardLines(md: string): { line: string; argv: string[] }[] {
  const found: { line: string; argv: string[] }[] = []
  for (const block of md.matchAll(/```(?:sh|bash|shell)\n([\s\S]*?)```/g)) {
    const joined = block[1]!.replace(/\\\n\s*/g, ' ')
    for (const raw of joined.split('\n'))
      for (const part of raw.split(/&&|;|\|\||(?<![>&])&(?!&)|\|/)) {
        const w = words(part)
        const at = w[0] === 'npx' && w[1] === 'ward' ? 2 : w[0] === 'ward' ? 1 : -1
        // docs write optional flags as `[--json]`: the flag is checked, the brackets dropped
        const argv = w.slice(at).flatMap((x) => (/^\[--[^\]]+\]$/.test(x) ? [x.slice(1, -1)] : [x]))
        if (at > 0 && w[at] !== '--version') found.push({ line: part.trim(), argv })
      }
  }
  return found
}

test('every ward command line in the README and docs exists and uses known flags', async () => {
  const all: Command[] = []
  for (const g of commandGroups) all.push(...(await g.load()))
  let checked = 0
  const bad: string[] = []
  for (const doc of docs) {
    for (const { line, argv } of wardLines(readFileSync(join(root, doc), 'utf8'))) {
      const lead: string[] = []
      for (const a of argv) {
        if (a.startsWith('-')) break
        lead.push(a)
      }
      if (argv.includes('--help') && all.some((c) => lead.every((w, i) => c.path[i] === w))) {
        checked++ // group help (`ward --help`, `ward kms --help`)
        continue
      }
      let cmd: Command | undefined
      for (const c of all)
        if (
          c.path.length <= lead.length &&
          c.path.every((w, i) => lead[i] === w) &&
          (!cmd || c.path.length > cmd.path.length)
        )
          cmd = c
      if (cmd === undefined) {
        bad.push(`${doc}: no such command: ${line}`)
        continue
      }
      let parsed
      try {
        parsed = parseArgs({
          args: argv.slice(cmd.path.length),
          options: { ...cmd.options, json: { type: 'boolean' }, help: { type: 'boolean' } },
          allowPositionals: true,
          strict: true,
        })
      } catch (e) {
        bad.push(`${doc}: ${line}: ${(e as Error).message}`)
        continue
      }
      if (cmd.args === undefined && parsed.positionals.length > 0)
        bad.push(`${doc}: ${line}: ward ${cmd.path.join(' ')} takes no arguments`)
      checked++
    }
  }
  assert.deepEqual(bad, [])
  assert.ok(checked >= 30, `only ${checked} command lines found`)
})

test('the parser of this test sees what a shell sees', () => {
  assert.deepEqual(
    wardLines(
      "```sh\nnpx ward kms init --data-dir /x --server-name 'a b' # note\nmkdir d && ward kms status \\\n  --json &\n```\n",
    ).map((l) => l.argv),
    [
      ['kms', 'init', '--data-dir', '/x', '--server-name', 'a b'],
      ['kms', 'status', '--json'],
    ],
  )
})

test('one KMS data dir path in the docs, and no link to a file that is not in the repository', () => {
  for (const doc of [
    ...docs,
    ...readdirSync(join(root, 'packages')).map((p) => `packages/${p}/README.md`),
  ]) {
    if (!existsSync(join(root, doc))) continue
    const md = readFileSync(join(root, doc), 'utf8')
    assert.doesNotMatch(md, /\/var\/lib\/ward-kms/, `${doc}: the data dir is /var/lib/ward/kms`)
    for (const m of md.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      const target = m[1]!
      if (/^[a-z]+:/.test(target)) continue // a URL
      assert.ok(
        existsSync(resolve(dirname(join(root, doc)), target)),
        `${doc}: link to ${target} is broken`,
      )
    }
    assert.doesNotMatch(
      md,
      /vsphere-features\.md|\bDESIGN\.md/,
      `${doc} cites a file outside the repository`,
    )
  }
})

test('the README walk-through runs in a scratch folder and says how to install its peers', () => {
  const md = readFileSync(join(root, 'README.md'), 'utf8')
  const walk = md.slice(md.indexOf('## Walk-through'), md.indexOf('## KMIP conformance'))
  assert.match(walk, /scripts\/install-peers\.sh/)
  const cd = walk.indexOf('cd "$(mktemp -d)"')
  assert.ok(cd > 0, 'cd "$(mktemp -d)"')
  assert.ok(cd < walk.indexOf('> kek'), 'the KEK is written after the cd')
  assert.match(walk, /--server-name/)
  assert.doesNotMatch(walk, /for HA/)
  const ignored = readFileSync(join(root, '.gitignore'), 'utf8')
  for (const n of [
    '/kek',
    '/kek2',
    '/pass',
    '*.luks',
    '/vm.img',
    '/back.img',
    '/nvram.*',
    '/vcenter-certs/',
  ])
    assert.ok(ignored.split('\n').includes(n), `.gitignore: ${n}`)
})
