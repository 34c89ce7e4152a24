import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import fc from 'fast-check'
import { decodeLayout, encodeLayout } from '../../src/binary/layout.js'
import { BundleDisk } from '../../src/bundle/layout.js'
import {
  decryptVmFile,
  describeBundle,
  describeVmFile,
  encryptVmFile,
  openBundle,
  parseVmFileHeader,
  sealBundle,
  unwrapKw,
  unwrapKwp,
} from '../../src/index.js'

const SEED = 20261125
const coded = (e: unknown): boolean =>
  e instanceof Error && /^ERR_[A-Z0-9_]+$/.test(String((e as { code?: unknown }).code))
const onlyCoded = (fn: () => unknown): void => {
  try {
    fn()
  } catch (e) {
    if (!coded(e)) throw e
  }
}

/** Mutations of a valid encoding: flip bytes, truncate, insert, delete. */
const mutation = (len: number) =>
  fc.oneof(
    fc.record({
      kind: fc.constant('flip' as const),
      at: fc.nat(len - 1),
      xor: fc.integer({ min: 1, max: 255 }),
    }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat(len - 1) }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(len),
      byte: fc.integer({ min: 0, max: 255 }),
    }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(len - 1) }),
  )
type Mutation =
  | { kind: 'flip'; at: number; xor: number }
  | { kind: 'cut'; at: number }
  | { kind: 'insert'; at: number; byte: number }
  | { kind: 'delete'; at: number }
function mutate(b: Uint8Array, m: Mutation): Uint8Array {
  if (m.kind === 'flip') {
    const c = b.slice()
    c[m.at]! ^= m.xor
    return c
  }
  if (m.kind === 'cut') return b.slice(0, m.at)
  if (m.kind === 'insert')
    return Uint8Array.from([...b.subarray(0, m.at), m.byte, ...b.subarray(m.at)])
  return Uint8Array.from([...b.subarray(0, m.at), ...b.subarray(m.at + 1)])
}

const kek = new Uint8Array(randomBytes(32))
const bundle = sealBundle(
  {
    providerId: 'p',
    kekId: 'k',
    fileKey: new Uint8Array(randomBytes(32)),
    disks: new Map([['d0', new Uint8Array(randomBytes(64))]]),
  },
  kek,
)

test('bundle decoders: random bytes only ever throw coded errors', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
      onlyCoded(() => describeBundle(b))
      assert.throws(
        () => openBundle(b, kek),
        (e) => coded(e),
      )
    }),
    { seed: SEED, numRuns: 500 },
  )
})

test('bundle: every mutation of a valid bundle is a coded error, never a result', () => {
  fc.assert(
    fc.property(mutation(bundle.length), (m) => {
      assert.throws(
        () => openBundle(mutate(bundle, m as Mutation), kek),
        (e) => coded(e),
      )
    }),
    { seed: SEED, numRuns: 1000 },
  )
})

test('key unwrap of random input only throws coded errors', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
      onlyCoded(() => unwrapKw(kek, b))
      onlyCoded(() => unwrapKwp(kek, b))
    }),
    { seed: SEED, numRuns: 500 },
  )
})

test('layout codec: encode then decode gives the value back; decoding random bytes is coded', () => {
  fc.assert(
    fc.property(
      fc.string({ minLength: 1, maxLength: 60 }),
      fc.uint8Array({ minLength: 64, maxLength: 64 }),
      (diskId, dek) => {
        const errs = { format: 'ERR_BUNDLE_FORMAT', magic: 'ERR_BUNDLE_MAGIC' } as const
        const enc = encodeLayout(BundleDisk, { diskId, dek }, errs)
        const { value, length } = decodeLayout(BundleDisk, enc, errs)
        assert.equal(length, enc.length)
        assert.deepEqual(value, { diskId, dek })
        onlyCoded(() => decodeLayout(BundleDisk, enc.subarray(0, enc.length - 1), errs))
      },
    ),
    { seed: SEED, numRuns: 300 },
  )
})

test('VM file header: random and mutated headers only throw coded errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ward-prop-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'plain'), randomBytes(10_000))
  await encryptVmFile(join(dir, 'plain'), join(dir, 'enc'), kek, {
    vmId: 'vm',
    role: 'swap',
    providerId: 'p',
    kekId: 'k',
    chunkSize: 4096,
  })
  const enc = new Uint8Array(readFileSync(join(dir, 'enc')))
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 700 }), (b) => onlyCoded(() => parseVmFileHeader(b))),
    { seed: SEED, numRuns: 500 },
  )
  fc.assert(
    fc.property(mutation(120), (m) =>
      onlyCoded(() => parseVmFileHeader(mutate(enc.subarray(0, 120), m as Mutation))),
    ),
    { seed: SEED, numRuns: 500 },
  )
  // Whole-file mutations through the real file path: every one must fail with a coded error.
  let i = 0
  await fc.assert(
    fc.asyncProperty(mutation(enc.length), async (m) => {
      const p = join(dir, `m${i++}`)
      writeFileSync(p, mutate(enc, m as Mutation))
      await describeVmFile(p).catch((e: unknown) => assert.ok(coded(e), String(e)))
      await assert.rejects(decryptVmFile(p, `${p}.out`, kek, { vmId: 'vm', role: 'swap' }), (e) =>
        coded(e),
      )
    }),
    { seed: SEED, numRuns: 150 },
  )
})
