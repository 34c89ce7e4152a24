import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { encodeTtlv, parseXml, ttlvFromXmlElement, type TtlvType } from '../../src/index.js'
import { replayTestCase } from '../../src/testing/index.js'

const data = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  '..',
  'test',
  'vectors',
  'data',
)

/** A stand-in server that answers each request with the document's own expected response. */
function echoServer(
  xml: string,
  mutate?: (hex: string) => string,
): (req: Uint8Array) => Promise<Uint8Array> {
  const responses = parseXml(xml).children.filter((c) => c.name === 'ResponseMessage')
  let i = 0
  const fill = (v: string, t: TtlvType): string | undefined =>
    t === 'DateTime'
      ? '2026-01-01T00:00:00+00:00'
      : t === 'ByteString'
        ? Buffer.from(v).toString('hex')
        : t === 'TextString'
          ? `server-${v}`
          : undefined
  return async () => {
    const el = responses[i++]
    if (el === undefined) throw new Error('no more responses')
    const bytes = encodeTtlv(ttlvFromXmlElement(el, { placeholder: fill }))
    return mutate
      ? new Uint8Array(Buffer.from(mutate(Buffer.from(bytes).toString('hex')), 'hex'))
      : bytes
  }
}

const dirs = [
  'oasis-profiles/v1.4/mandatory',
  'oasis-profiles/v2.1/mandatory',
  'ovh-kmip-go-testdata/v1.1',
]

test('replaying a test case against its own expected responses passes', async () => {
  let n = 0
  for (const d of dirs) {
    for (const f of readdirSync(join(data, d)).filter((x) =>
      /^(SKLC|SKFF|AKLC|CS-BC|CS_BC|BL|CS-AC|CS-RNG)/.test(x),
    )) {
      const xml = readFileSync(join(data, d, f), 'utf8')
      const r = await replayTestCase(xml, echoServer(xml))
      assert.equal(r.passed, true, `${d}/${f}: ${r.reason}`)
      assert.ok(r.steps > 0)
      n++
    }
  }
  assert.ok(n > 100, `${n} cases`)
})

test('a wrong answer is reported with the step and the path', async () => {
  const xml = readFileSync(join(data, 'oasis-profiles/v1.4/mandatory/SKLC-M-1-14.xml'), 'utf8')
  // turn every Success (ResultStatus enumeration 0) into Operation Failed (1)
  const r = await replayTestCase(
    xml,
    echoServer(xml, (h) =>
      h.replace(/42007f0500000004000000000000000/g, '42007f0500000004000000010000000'),
    ),
  )
  assert.equal(r.passed, false)
  assert.equal(r.failedStep, 1)
  assert.match(r.reason ?? '', /ResultStatus|server failed/)
})
