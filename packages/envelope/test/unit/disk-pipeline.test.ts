import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PIPELINE_BUFFERS, runPipeline, type Step } from '../../src/disk/pipeline.js'

const dir = mkdtempSync(join(tmpdir(), 'ward-pipeline-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const SEG = 8192
const input = new Uint8Array(randomBytes(SEG * 9 + 4096)) // more steps than buffers; short last step
const inPath = join(dir, 'in')
writeFileSync(inPath, input)

function steps(bytes: number, shift: number): Step[] {
  const out: Step[] = []
  for (let off = 0; off < bytes; off += SEG)
    out.push({ readPos: off, writePos: off + shift, length: Math.min(SEG, bytes - off) })
  return out
}

const xorAll = (buf: Uint8Array): Promise<void> => {
  for (let k = 0; k < buf.length; k++) buf[k] = (buf[k] as number) ^ 0x5a
  // yield so that the stages really interleave
  return new Promise((resolve) => setImmediate(resolve))
}

test('every step is read, transformed and written at its position; durable hooks run in order', async () => {
  const outPath = join(dir, 'out1')
  const fdIn = openSync(inPath, 'r')
  const fdOut = openSync(outPath, 'w+')
  const events: string[] = []
  try {
    await runPipeline({
      fdIn,
      fdOut,
      steps: steps(input.length, 100),
      maxLength: SEG,
      durable: true,
      transform: async (buf, _s, i) => {
        events.push(`t${i}`)
        await xorAll(buf)
      },
      beforeWrite: (_b, _s, i) => events.push(`b${i}`),
      afterWrite: (_s, i) => events.push(`a${i}`),
    })
  } finally {
    closeSync(fdIn)
    closeSync(fdOut)
  }
  const out = readFileSync(outPath)
  assert.equal(out.length, input.length + 100)
  assert.ok(out.subarray(100).every((v, k) => v === ((input[k] as number) ^ 0x5a)))
  const at = (e: string): number => events.indexOf(e)
  const n = Math.ceil(input.length / SEG)
  for (let i = 0; i < n; i++) {
    assert.ok(at(`t${i}`) < at(`b${i}`) && at(`b${i}`) < at(`a${i}`), `step ${i} out of order`)
    if (i > 0) assert.ok(at(`a${i - 1}`) < at(`b${i}`), `write ${i} before ${i - 1} was synced`)
    // a buffer is reused only once the step it held is written
    if (i >= PIPELINE_BUFFERS) assert.ok(at(`a${i - PIPELINE_BUFFERS}`) < at(`t${i}`))
  }
})

test('a failing transform rejects with its error, writes nothing from that step on and wipes the buffers', async () => {
  const outPath = join(dir, 'out2')
  const fdIn = openSync(inPath, 'r')
  const fdOut = openSync(outPath, 'w+')
  const seen: Uint8Array[] = []
  const written: number[] = []
  const boom = new Error('transform failed')
  try {
    await assert.rejects(
      runPipeline({
        fdIn,
        fdOut,
        steps: steps(input.length, 0),
        maxLength: SEG,
        durable: false,
        transform: async (buf, _s, i) => {
          seen.push(buf)
          if (i === 5) throw boom
          await xorAll(buf)
        },
        beforeWrite: (_b, _s, i) => written.push(i),
      }),
      (e) => e === boom,
    )
  } finally {
    closeSync(fdIn)
    closeSync(fdOut)
  }
  assert.ok(written.every((i) => i < 5))
  assert.ok(seen.length <= 6, 'no step is transformed after the failure')
  for (const b of seen)
    assert.ok(
      b.every((v) => v === 0),
      'buffers are zeroed',
    )
})

test('a failing write stops the readers and transforms and rejects', async () => {
  const fdIn = openSync(inPath, 'r')
  const fdOut = openSync(inPath, 'r') // read-only: the first write fails with EBADF
  let transforms = 0
  try {
    await assert.rejects(
      runPipeline({
        fdIn,
        fdOut,
        steps: steps(input.length, 0),
        maxLength: SEG,
        durable: false,
        transform: async (buf) => {
          transforms++
          await xorAll(buf)
        },
      }),
      (e: NodeJS.ErrnoException) => e.code === 'EBADF',
    )
  } finally {
    closeSync(fdIn)
    closeSync(fdOut)
  }
  assert.ok(transforms <= PIPELINE_BUFFERS, `${transforms} transforms after the write failed`)
})

test('a short input is a coded ERR_DISK_IO, not a hang', async () => {
  const fdIn = openSync(inPath, 'r')
  const fdOut = openSync(join(dir, 'out4'), 'w+')
  try {
    await assert.rejects(
      runPipeline({
        fdIn,
        fdOut,
        steps: steps(input.length + SEG, 0),
        maxLength: SEG,
        durable: false,
        transform: xorAll,
      }),
      (e: { code?: string }) => e.code === 'ERR_DISK_IO',
    )
  } finally {
    closeSync(fdIn)
    closeSync(fdOut)
  }
})
