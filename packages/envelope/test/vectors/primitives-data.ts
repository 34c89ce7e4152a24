import { readFileSync } from 'node:fs'

/** Vector files for key wrap, GCM and KDFs (see data/primitives/PROVENANCE.md). */
const base = new URL('../../../test/vectors/data/primitives/', import.meta.url)

export const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

export interface WycheproofTest {
  readonly tcId: number
  readonly comment: string
  readonly result: 'valid' | 'invalid' | 'acceptable'
  readonly [field: string]: unknown
}
export interface WycheproofGroup {
  readonly [field: string]: unknown
  readonly tests: readonly WycheproofTest[]
}
export interface WycheproofFile {
  readonly algorithm: string
  readonly numberOfTests: number
  readonly testGroups: readonly WycheproofGroup[]
}

export function loadJson<T>(rel: string): T {
  return JSON.parse(readFileSync(new URL(rel, base), 'utf8')) as T
}

/** Every (group, test) pair of a Wycheproof file; checks the file's own test count. */
export function wycheproof(rel: string): { group: WycheproofGroup; t: WycheproofTest }[] {
  const f = loadJson<WycheproofFile>(rel)
  const all = f.testGroups.flatMap((group) => group.tests.map((t) => ({ group, t })))
  if (all.length !== f.numberOfTests)
    throw new Error(`${rel}: ${all.length} tests, header says ${f.numberOfTests}`)
  return all
}

/** Botan .vec files: `[SECTION]` headers and blank-line separated `Name = value` records. */
export function botanVec(rel: string): { section: string; fields: Record<string, string> }[] {
  const out: { section: string; fields: Record<string, string> }[] = []
  let section = ''
  let cur: Record<string, string> = {}
  const flush = (): void => {
    if (Object.keys(cur).length > 0) out.push({ section, fields: cur })
    cur = {}
  }
  for (const raw of readFileSync(new URL(rel, base), 'utf8').split('\n')) {
    const line = raw.trim()
    if (line.startsWith('#')) continue
    if (line === '') flush()
    else if (line.startsWith('[')) {
      flush()
      section = line.slice(1, -1)
    } else {
      const eq = line.indexOf('=')
      cur[line.slice(0, eq).trim()] = line.slice(eq + 1).trim()
    }
  }
  flush()
  return out
}

/** A Ward-style coded error (`code: 'ERR_...'`). */
export function isCoded(e: unknown, prefix = 'ERR_'): boolean {
  return (
    e instanceof Error &&
    typeof (e as { code?: unknown }).code === 'string' &&
    (e as unknown as { code: string }).code.startsWith(prefix)
  )
}

/** Run `fn`; return the thrown error or undefined. */
export function caught(fn: () => unknown): unknown {
  try {
    fn()
    return undefined
  } catch (e) {
    return e
  }
}
