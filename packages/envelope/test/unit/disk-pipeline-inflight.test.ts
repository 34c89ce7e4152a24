import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runPipeline, type Step } from '../../src/disk/pipeline.js'

// Two transforms at once, no read stage (fdIn undefined: the transform fills the buffer, as the
// mapped-input path does): steps still reach the writer in order and land at their positions.
const dir = mkdtempSync(join(tmpdir(), 'ward-pipeline-inflight-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const SEG = 4096
const source = new Uint8Array(randomBytes(SEG * 13 + 512))
const steps: Step[] = []
for (let off = 0; off < source.length; off += SEG)
  steps.push({ readPos: off, writePos: off + 7, length: Math.min(SEG, source.length - off) })

/** Copies the step's bytes from `source`, XORed, after a delay that makes later steps finish first. */
const fill = async (buf: Uint8Array, step: Step, i: number): Promise<void> => {
  await new Promise((resolve) => setTimeout(resolve, i % 2 === 0 ? 3 : 0))
  for (let k = 0; k < buf.length; k++) buf[k] = (source[step.readPos + k] as number) ^ 0xa5
}

test('two transforms in flight, no read stage: writes in order, every step at its position', async () => {
  const outPath = join(dir, 'out')
  const fdOut = openSync(outPath, 'w+')
  const order: number[] = []
  try {
    await runPipeline({
      fdIn: undefined,
      fdOut,
      steps,
      maxLength: SEG,
      durable: false,
      transformsInFlight: 2,
      transform: fill,
      beforeWrite: (_b, _s, i) => void order.push(i),
    })
  } finally {
    closeSync(fdOut)
  }
  assert.deepEqual(
    order,
    steps.map((_, i) => i),
  )
  const out = readFileSync(outPath)
  assert.equal(out.length, source.length + 7)
  assert.deepEqual(
    new Uint8Array(out.subarray(7)),
    source.map((b) => b ^ 0xa5),
  )
})

test('a failing transform with another in flight rejects (no hang) and writes nothing after it', async () => {
  const outPath = join(dir, 'fail')
  const fdOut = openSync(outPath, 'w+')
  const written: number[] = []
  try {
    await assert.rejects(
      runPipeline({
        fdIn: undefined,
        fdOut,
        steps,
        maxLength: SEG,
        durable: false,
        transformsInFlight: 2,
        transform: async (buf, step, i) => {
          if (i === 5) throw Object.assign(new Error('boom'), { code: 'ERR_TEST_BOOM' })
          await fill(buf, step, i)
        },
        beforeWrite: (_b, _s, i) => void written.push(i),
      }),
      { code: 'ERR_TEST_BOOM' },
    )
  } finally {
    closeSync(fdOut)
  }
  assert.ok(
    written.every((i) => i < 5),
    `steps after the failed one were written: ${written.join(',')}`,
  )
})
