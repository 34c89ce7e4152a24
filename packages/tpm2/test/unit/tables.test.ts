import assert from 'node:assert/strict'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import {
  TPM_ALG,
  TPM_CC,
  TPM_RC,
  TPM_ST,
  commands,
  parseSwtpmSpec,
  pcrSelection,
  selectedPcrs,
} from '../../src/index.js'

test('constant tables have the expected sizes and no duplicate values', () => {
  const tables: [string, Record<string, number>, number][] = [
    ['TPM_CC', TPM_CC, 30],
    ['TPM_ST', TPM_ST, 16],
    ['TPM_ALG', TPM_ALG, 20],
    ['TPM_RC', TPM_RC, 40],
  ]
  for (const [name, t, n] of tables) {
    assert.equal(Object.keys(t).length, n, `${name} size`)
    assert.equal(new Set(Object.values(t)).size, n, `${name} values distinct`)
  }
})

test('every declared command uses a code from TPM_CC and its spec name', () => {
  const ccs = new Set<number>(Object.values(TPM_CC))
  for (const [k, c] of Object.entries(commands)) {
    assert.ok(ccs.has(c.cc), k)
    assert.equal(c.name, `TPM2_${k}`)
    assert.equal(c.cc, TPM_CC[k as keyof typeof TPM_CC])
  }
})

test('PCR selection bitmaps', () => {
  assert.deepEqual([...pcrSelection([0, 7, 16, 23]).pcrSelect], [0x81, 0x00, 0x81])
  assert.deepEqual(selectedPcrs(Uint8Array.of(0x81, 0, 0x81)), [0, 7, 16, 23])
  assert.throws(() => pcrSelection([24]), { code: 'ERR_TPM_ARG' })
})

test('swtpm address parsing', () => {
  assert.deepEqual(parseSwtpmSpec('swtpm:127.0.0.1:2321'), {
    host: '127.0.0.1',
    port: 2321,
    ctrlPort: 2322,
  })
  for (const bad of ['swtpm:host', 'swtpm:h:0', 'swtpm:h:70000', 'tcp:h:1'])
    assert.throws(() => parseSwtpmSpec(bad), { code: 'ERR_TPM_ARG' })
})

test('every ERR_TPM_ code in the sources is documented in docs/errors/tpm2.md', () => {
  const root = fileURLToPath(new URL('../../../', import.meta.url))
  const doc = readFileSync(join(root, '../../docs/errors/tpm2.md'), 'utf8')
  const codes = new Set<string>()
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n)
      if (statSync(p).isDirectory()) walk(p)
      else if (n.endsWith('.ts'))
        for (const m of readFileSync(p, 'utf8').matchAll(/'(ERR_TPM_[A-Z_]+)'/g)) codes.add(m[1]!)
    }
  }
  walk(join(root, 'src'))
  assert.ok(codes.size >= 10)
  for (const c of codes) assert.ok(doc.includes('`' + c + '`'), `${c} is not documented`)
})
