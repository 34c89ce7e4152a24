// Records the exchanges of captured-cases.ts with a freshly manufactured swtpm into
// data/captured/swtpm-0.7.json. Run by hand (not a test):
//   npx tsc -b packages/tpm2 && node packages/tpm2/dist/test/vectors/capture.js
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Tpm, type Transport } from '../../src/index.js'
import { manufactureSwtpm, startSwtpm } from '../../src/testing/index.js'
import { cases } from './captured-cases.js'

const dir = await mkdtemp(join(tmpdir(), 'ward-tpm2-capture-'))
await manufactureSwtpm(dir)
const sw = await startSwtpm({ dir })
const log: { command: string; response: string }[] = []
const rec: Transport = {
  async send(c) {
    const r = await sw.transport.send(c)
    log.push({ command: Buffer.from(c).toString('hex'), response: Buffer.from(r).toString('hex') })
    return r
  },
  close: () => sw.transport.close(),
}
const tpm = new Tpm(rec)
const out = []
try {
  for (const c of cases) {
    await tpm.runUnknown(c.command, c.args).catch(() => undefined)
    const x = log.pop()!
    out.push({
      name: c.name,
      source: `${c.source}; captured from swtpm ${execFileSync('swtpm', ['--version'], { encoding: 'utf8' }).trim()}`,
      ...x,
    })
  }
} finally {
  await sw.stop()
  await rm(dir, { recursive: true, force: true })
}
const target = fileURLToPath(
  new URL('../../../test/vectors/data/captured/swtpm-0.7.json', import.meta.url),
)
await writeFile(target, JSON.stringify(out, null, 1) + '\n')
console.log(`wrote ${out.length} exchanges to ${target}`)
