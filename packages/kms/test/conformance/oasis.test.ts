// OASIS KMIP conformance replay against `ward kms` (owned by the kmip helper).
// Every selected test case is sent over mutual TLS to a fresh server; responses are compared
// with the expected ones modulo placeholders (see @ward/kmip/testing replayTestCase).
// The test asserts that the set of passing cases equals expected-pass.json, so regressions
// (and newly passing cases) show up. Set WARD_CONFORMANCE_TABLE=path to write the markdown table,
// WARD_CONFORMANCE_PASS=path to write the list of passing cases (to refresh expected-pass.json).
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Writable } from 'node:stream'
import { createLogger } from '@ward/core'
import { KmipConnection, tlsConnectOptions } from '@ward/kmip'
import { replayTestCase, type ConformanceResult } from '@ward/kmip/testing'
import { addClient, initKms, startKmsServer, type KmsServer } from '../../src/index.js'

const here = dirname(fileURLToPath(import.meta.url)) // packages/kms/dist/test/conformance
const vectors = join(here, '..', '..', '..', '..', 'kmip', 'test', 'vectors', 'data')
const expectedFile = join(here, '..', '..', '..', 'test', 'conformance', 'expected-pass.json')

const profiles = ['BL', 'SKLC', 'SKFF', 'AKLC', 'CS-BC', 'CS-AC', 'CS-RNG']
function profileOf(file: string): string | undefined {
  const base = file.replace(/_/g, '-')
  return profiles
    .slice()
    .sort((a, b) => b.length - a.length)
    .find((p) => base.startsWith(`${p}-M-`))
}

interface Case {
  readonly id: string
  readonly profile: string
  readonly set: string
  readonly path: string
}

function cases(): Case[] {
  const out: Case[] = []
  for (const set of ['oasis-profiles/v1.4/mandatory', 'oasis-profiles/v2.1/mandatory']) {
    for (const f of readdirSync(join(vectors, set)).sort()) {
      const p = profileOf(f)
      if (p !== undefined)
        out.push({
          id: `${set}/${f}`,
          profile: p,
          set: set.split('/')[1]!,
          path: join(vectors, set, f),
        })
    }
  }
  for (const v of ['v1.0', 'v1.1', 'v1.2']) {
    const set = `ovh-kmip-go-testdata/${v}`
    for (const f of readdirSync(join(vectors, set)).sort()) {
      const p = profileOf(f)
      if (p !== undefined)
        out.push({ id: `${set}/${f}`, profile: p, set: v, path: join(vectors, set, f) })
    }
  }
  return out
}

let dir: string
let server: KmsServer
let tls: { ca: string; cert: string; key: string }

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ward-kms-conformance-'))
  await initKms(dir)
  const sink = new Writable({ write: (_c, _e, cb) => cb() })
  server = await startKmsServer({
    dataDir: dir,
    listen: '127.0.0.1:0',
    logger: createLogger('kms', { level: 'error', destination: sink as never }),
    auditToLogger: false,
  })
  const f = await addClient(dir, 'conformance', join(dir, 'client'))
  tls = {
    ca: readFileSync(f.ca, 'utf8'),
    cert: readFileSync(f.cert, 'utf8'),
    key: readFileSync(f.key, 'utf8'),
  }
})

after(async () => {
  await server?.close()
  rmSync(dir, { recursive: true, force: true })
})

async function run(c: Case): Promise<ConformanceResult> {
  const conn = await KmipConnection.open(
    tlsConnectOptions(
      { caPem: tls.ca, certPem: tls.cert, keyPem: tls.key, servername: 'localhost' },
      '127.0.0.1',
      server.port,
    ),
    5000,
    16 << 20,
  )
  try {
    return await replayTestCase(readFileSync(c.path, 'utf8'), (req) => conn.send(req, 20_000))
  } catch (e) {
    return { passed: false, steps: 0, reason: (e as Error).message }
  } finally {
    conn.close()
  }
}

test(
  'OASIS mandatory BL/SKLC/SKFF/AKLC/CS-* (1.4, 2.1) and ovh 1.0–1.2 cases against ward kms',
  { timeout: 600_000 },
  async () => {
    const all = cases()
    assert.ok(all.length > 100, `${all.length} cases`)
    const results = new Map<string, ConformanceResult>()
    for (const c of all) results.set(c.id, await run(c))

    // table: profile × set → passed/total
    const sets = ['v1.0', 'v1.1', 'v1.2', 'v1.4', 'v2.1']
    const lines = [
      '| profile | ' + sets.join(' | ') + ' |',
      '| --- | ' + sets.map(() => '---').join(' | ') + ' |',
    ]
    for (const p of profiles) {
      const cells = sets.map((s) => {
        const cs = all.filter((c) => c.profile === p && c.set === s)
        return cs.length === 0
          ? '—'
          : `${cs.filter((c) => results.get(c.id)!.passed).length}/${cs.length}`
      })
      lines.push(`| ${p} | ${cells.join(' | ')} |`)
    }
    const failures = all
      .filter((c) => !results.get(c.id)!.passed)
      .map((c) =>
        `- \`${c.id}\` step ${results.get(c.id)!.failedStep ?? '?'}: ${results.get(c.id)!.reason ?? ''}`.slice(
          0,
          400,
        ),
      )
    const table = lines.join('\n')
    console.log(table)
    if (process.env['WARD_CONFORMANCE_TABLE']) {
      writeFileSync(
        process.env['WARD_CONFORMANCE_TABLE'],
        `${table}\n\n### Failing cases\n\n${failures.join('\n')}\n`,
      )
    }

    const passing = all.filter((c) => results.get(c.id)!.passed).map((c) => c.id)
    if (process.env['WARD_CONFORMANCE_PASS'])
      writeFileSync(process.env['WARD_CONFORMANCE_PASS'], JSON.stringify(passing, null, 2) + '\n')
    const expected = JSON.parse(readFileSync(expectedFile, 'utf8')) as string[]
    const regressions = expected.filter((id) => !passing.includes(id))
    const fixed = passing.filter((id) => !expected.includes(id))
    assert.deepEqual(
      {
        regressions: regressions.map((id) => `${id}: ${results.get(id)?.reason ?? 'not run'}`),
        fixed,
      },
      { regressions: [], fixed: [] },
      'update packages/kms/test/conformance/expected-pass.json when cases start passing',
    )
  },
)
