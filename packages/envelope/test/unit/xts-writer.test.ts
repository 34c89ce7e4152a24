// SectorWriter (src/xts/io.ts): writes made in one event-loop turn go to the pool as one job
// (native sectorsWriteManyAsync) or one by one (fallback); either way every write lands as
// xtsEncryptSectors would have encrypted it, its buffer then holds the ciphertext, and each
// promise settles with its own write's outcome.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writerWith } from '../../src/xts/io.js'
import { native } from '../../src/xts/native.js'
import { xtsEncryptSectors } from '../../src/xts/xts.js'

const backends = [
  ['native', native],
  ['fallback', undefined],
] as const

function withFile(fn: (path: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ward-xts-writer-'))
  const path = join(dir, 'f')
  writeFileSync(path, Buffer.alloc(0))
  return fn(path).finally(() => rmSync(dir, { recursive: true, force: true }))
}

test('the native addon has the batched write', () => {
  assert.equal(typeof native?.sectorsWriteManyAsync, 'function')
})

for (const [name, impl] of backends)
  test(`${name}: one turn's writes (consecutive, scattered, one over 1 MiB) land encrypted, each its own promise`, () =>
    withFile(async (path) => {
      const fd = openSync(path, 'r+')
      try {
        for (const ss of [4096, 512]) {
          const key = randomBytes(64)
          const w = writerWith(impl, { fd, key, sectorSize: ss })
          const base = 1 << 20
          // [position, sectors, first sector]: a run of three back to back, gaps, a big one
          const plan: [number, number, number][] = [
            [base, 2, 100],
            [base + 2 * ss, 1, 102],
            [base + 3 * ss, 5, 103],
            [base + 20 * ss, 1, 7],
            [base + 40 * ss, (2 << 20) / ss, 2 ** 32], // over 1 MiB: split across the pool
            [0, 3, 0],
          ]
          const plains = plan.map(([, n]) => randomBytes(n * ss))
          const bufs = plains.map((p) => Buffer.from(p))
          const settled = await Promise.allSettled(
            plan.map(([pos, , first], i) => w.write(pos, bufs[i]!, first)),
          )
          assert.deepEqual(
            settled.map((s) => s.status),
            plan.map(() => 'fulfilled'),
          )
          const file = readFileSync(path)
          plan.forEach(([pos, , first], i) => {
            const want = Buffer.from(plains[i]!)
            xtsEncryptSectors(key, want, first, ss)
            assert.ok(bufs[i]!.equals(want), `write ${i}: the buffer holds the ciphertext`)
            assert.ok(file.subarray(pos, pos + want.length).equals(want), `write ${i}: in the file`)
          })
        }
      } finally {
        closeSync(fd)
      }
    }))

for (const [name, impl] of backends)
  test(`${name}: failures reject the writes they belong to with their codes`, () =>
    withFile(async (path) => {
      const ro = openSync(path, 'r')
      try {
        const w = writerWith(impl, { fd: ro, key: randomBytes(64), sectorSize: 4096 })
        // a read-only descriptor: every write of the batch fails as fs.write would
        const batch = await Promise.allSettled(
          [0, 1, 2].map((i) => w.write(i * 4096, Buffer.alloc(4096), i)),
        )
        for (const o of batch) {
          assert.equal(o.status, 'rejected')
          assert.equal((o.reason as { code: string }).code, 'EBADF')
        }
      } finally {
        closeSync(ro)
      }
      const fd = openSync(path, 'r+')
      try {
        const w = writerWith(impl, { fd, key: randomBytes(64), sectorSize: 4096 })
        const good = Buffer.alloc(8192, 1)
        const outcomes = await Promise.allSettled([
          w.write(0, Buffer.alloc(100), 0), // not whole sectors
          w.write(4096, good, 1),
          w.write(-1, Buffer.alloc(4096), 0),
          w.write(0, Buffer.alloc(4096), -1),
        ])
        assert.deepEqual(
          outcomes.map((o) =>
            o.status === 'fulfilled' ? 'ok' : (o.reason as { code: string }).code,
          ),
          ['ERR_XTS_DATA_LENGTH', 'ok', 'ERR_XTS_ARGUMENT', 'ERR_XTS_SECTOR_NUMBER'],
        )
        assert.equal(readFileSync(path).length, 4096 + 8192, 'only the good write reached the file')
        // equal key halves: refused for every write of the batch, nothing written
        const half = randomBytes(32)
        const dup = writerWith(impl, { fd, key: Buffer.concat([half, half]), sectorSize: 4096 })
        const both = await Promise.allSettled([
          dup.write(0, Buffer.alloc(4096), 0),
          dup.write(65536, Buffer.alloc(4096), 16),
        ])
        assert.deepEqual(
          both.map((o) => (o.status === 'rejected' ? (o.reason as { code: string }).code : 'ok')),
          ['ERR_XTS_DUPLICATED_KEYS', 'ERR_XTS_DUPLICATED_KEYS'],
        )
        assert.equal(readFileSync(path).length, 4096 + 8192)
      } finally {
        closeSync(fd)
      }
    }))

test('native sectorsWriteManyAsync checks its arguments before queueing anything', () => {
  const many = native!.sectorsWriteManyAsync!.bind(native)
  const key = randomBytes(64)
  const data = Buffer.alloc(4096)
  assert.throws(() => many(randomBytes(32), 4096, 0, [data, 0, 0]), { code: 'ERR_XTS_KEY_LENGTH' })
  assert.throws(() => many(key, 4096, 0, []), { code: 'ERR_XTS_ARGUMENT' })
  assert.throws(() => many(key, 4096, 0, [data, 0]), { code: 'ERR_XTS_ARGUMENT' })
  assert.throws(() => many(key, 4096, 0, [data, 0, -1]), { code: 'ERR_XTS_ARGUMENT' })
  assert.throws(() => many(key, 4096, 0, [Buffer.alloc(10), 0, 0]), {
    code: 'ERR_XTS_DATA_LENGTH',
  })
  assert.throws(() => many(key, 4096, 0, [data, 0.5, 0]), { code: 'ERR_XTS_SECTOR_NUMBER' })
  assert.throws(() => many(key, 8, 0, [data, 0, 0]), { code: 'ERR_XTS_SECTOR_SIZE' })
  const items: (Buffer | number)[] = []
  for (let i = 0; i < 1025; i++) items.push(data, i, i * 4096)
  assert.throws(() => many(key, 4096, 0, items), { code: 'ERR_XTS_ARGUMENT' }, 'over 1024 items')
})
