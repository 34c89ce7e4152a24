// XTS with the file I/O (src/xts/io.ts): the native one-job path and the fs fallback write the
// same ciphertext as xtsEncryptSectors at the same place, read it back, and fail the same way.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runIo } from '../../src/xts/io.js'
import { native } from '../../src/xts/native.js'
import { xtsEncryptSectors } from '../../src/xts/xts.js'

const backends = [
  ['native', native],
  ['fallback', undefined],
] as const

test('the native addon has the one-job read and write', () => {
  assert.equal(typeof native?.sectorsReadAsync, 'function')
  assert.equal(typeof native?.sectorsWriteAsync, 'function')
})

for (const [name, impl] of backends)
  test(`${name}: write then read at an offset, small and split buffers, 512 and 4096 sectors`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ward-xts-io-'))
    try {
      const path = join(dir, 'f')
      writeFileSync(path, Buffer.alloc(0))
      const fd = openSync(path, 'r+')
      try {
        for (const [ss, bytes, first, pos] of [
          [4096, 4096 * 3, 7, 8192],
          [512, 512 * 9, 2 ** 32 - 2, 100],
          [4096, 3 * 1024 * 1024 + 4096, 0, 1 << 20], // split into several jobs
        ] as const) {
          const plain = randomBytes(bytes)
          const key = randomBytes(64)
          const buf = Buffer.from(plain)
          await runIo(impl, 'write', {
            fd,
            position: pos,
            key,
            data: buf,
            firstSector: first,
            sectorSize: ss,
          })
          const want = Buffer.from(plain)
          xtsEncryptSectors(key, want, first, ss)
          assert.ok(buf.equals(want), 'the buffer holds the ciphertext')
          assert.ok(
            readFileSync(path)
              .subarray(pos, pos + bytes)
              .equals(want),
            'and so does the file',
          )
          const back = Buffer.alloc(bytes)
          await runIo(impl, 'read', {
            fd,
            position: pos,
            key,
            data: back,
            firstSector: first,
            sectorSize: ss,
          })
          assert.ok(back.equals(plain))
        }
        // past the end of the file
        await assert.rejects(
          runIo(impl, 'read', {
            fd,
            position: 64 << 20,
            key: randomBytes(64),
            data: Buffer.alloc(4096),
            firstSector: 0,
            sectorSize: 4096,
          }),
          { code: 'ERR_XTS_INPUT_SHORT' },
        )
        // bad arguments: the ERR_XTS codes, nothing read or written
        await assert.rejects(
          runIo(impl, 'read', {
            fd,
            position: 0,
            key: randomBytes(32),
            data: Buffer.alloc(4096),
            firstSector: 0,
            sectorSize: 4096,
          }),
          {
            code: 'ERR_XTS_KEY_LENGTH',
          },
        )
        await assert.rejects(
          runIo(impl, 'write', {
            fd,
            position: -1,
            key: randomBytes(64),
            data: Buffer.alloc(4096),
            firstSector: 0,
            sectorSize: 4096,
          }),
          {
            code: 'ERR_XTS_ARGUMENT',
          },
        )
        await assert.rejects(
          runIo(impl, 'write', {
            fd,
            position: 0,
            key: randomBytes(64),
            data: Buffer.alloc(100),
            firstSector: 0,
            sectorSize: 4096,
          }),
          {
            code: 'ERR_XTS_DATA_LENGTH',
          },
        )
      } finally {
        closeSync(fd)
      }
      // a read-only descriptor: the write fails with the system's code (as fs.write would)
      const ro = openSync(path, 'r')
      try {
        await assert.rejects(
          runIo(impl, 'write', {
            fd: ro,
            position: 0,
            key: randomBytes(64),
            data: Buffer.alloc(4096),
            firstSector: 0,
            sectorSize: 4096,
          }),
          {
            code: 'EBADF',
          },
        )
      } finally {
        closeSync(ro)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
