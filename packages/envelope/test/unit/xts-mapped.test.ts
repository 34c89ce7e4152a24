import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { closeSync, openSync, readFileSync, truncateSync, writeFileSync } from 'node:fs'
import {
  mapInputFile,
  mapOutputFile,
  mapWith,
  xtsSectorsFromMappedAsync,
  xtsSectorsMappedAsync,
} from '../../src/xts/mapped.js'
import { xtsDecryptSectors, xtsEncryptSectors } from '../../src/xts/xts.js'
import { tmp } from './luks2-fixtures.js'

const t = tmp('ward-xts-mapped-')
after(() => t.cleanup())
const key = new Uint8Array(randomBytes(64))

function mapped(name: string, bytes: Buffer): { fd: number; close: () => void } {
  writeFileSync(t.path(name), bytes)
  const fd = openSync(t.path(name), 'r')
  return { fd, close: () => closeSync(fd) }
}

test('XTS from a mapped file equals in-place XTS over the same bytes, at any offset and sector size', async () => {
  const data = randomBytes(5 * 1048576 + 3 * 4096) // large enough to be split into pool jobs
  const f = mapped('in', data)
  const map = mapInputFile(f.fd, data.length)
  assert.ok(map, 'the native addon maps regular files')
  try {
    for (const [ss, off, len, first] of [
      [4096, 0, data.length, 0],
      [4096, 8192, 4 * 1048576, 77],
      [512, 512 * 3, 2 * 1048576 + 512, 2 ** 40],
      [16, 32, 4096, 5],
    ] as const) {
      const expected = Uint8Array.from(data.subarray(off, off + len))
      xtsEncryptSectors(key, expected, first, ss)
      const dst = new Uint8Array(len)
      await xtsSectorsFromMappedAsync({
        direction: 'encrypt',
        key,
        src: map,
        srcOffset: off,
        dst,
        firstSector: first,
        sectorSize: ss,
      })
      assert.deepEqual(dst, expected, `encrypt ss=${ss} off=${off}`)
      // and back: decrypting the ciphertext from a mapping gives the plaintext
      writeFileSync(t.path('ct'), dst)
      const g = openSync(t.path('ct'), 'r')
      const back = mapInputFile(g, len)
      assert.ok(back)
      const plain = new Uint8Array(len)
      await xtsSectorsFromMappedAsync({
        direction: 'decrypt',
        key,
        src: back,
        srcOffset: 0,
        dst: plain,
        firstSector: first,
        sectorSize: ss,
      })
      back.close()
      closeSync(g)
      assert.deepEqual(plain, new Uint8Array(data.subarray(off, off + len)))
      const again = Uint8Array.from(dst)
      xtsDecryptSectors(key, again, first, ss)
      assert.deepEqual(again, plain)
    }
    assert.ok(readFileSync(t.path('in')).equals(data), 'the mapped file is left intact')
  } finally {
    map.close()
    f.close()
  }
})

test('ranges outside the mapping, bad sector arguments and a closed mapping are refused with codes', async () => {
  const f = mapped('small', randomBytes(64 * 1024))
  const map = mapInputFile(f.fd, 64 * 1024)
  assert.ok(map)
  await assert.rejects(
    xtsSectorsFromMappedAsync({
      direction: 'encrypt',
      key,
      src: map,
      srcOffset: 61440,
      dst: new Uint8Array(8192),
      firstSector: 0,
      sectorSize: 4096,
    }),
    { code: 'ERR_XTS_DATA_LENGTH' },
  )
  await assert.rejects(
    xtsSectorsFromMappedAsync({
      direction: 'encrypt',
      key,
      src: map,
      srcOffset: -4096,
      dst: new Uint8Array(4096),
      firstSector: 0,
      sectorSize: 4096,
    }),
    { code: 'ERR_XTS_DATA_LENGTH' },
  )
  await assert.rejects(
    xtsSectorsFromMappedAsync({
      direction: 'encrypt',
      key,
      src: map,
      srcOffset: 0,
      dst: new Uint8Array(4000),
      firstSector: 0,
      sectorSize: 4096,
    }),
    { code: 'ERR_XTS_DATA_LENGTH' },
  )
  await assert.rejects(
    xtsSectorsFromMappedAsync({
      direction: 'encrypt',
      key: key.subarray(0, 32),
      src: map,
      srcOffset: 0,
      dst: new Uint8Array(4096),
      firstSector: 0,
      sectorSize: 4096,
    }),
    { code: 'ERR_XTS_KEY_LENGTH' },
  )
  map.close()
  map.close() // idempotent
  await assert.rejects(
    xtsSectorsFromMappedAsync({
      direction: 'encrypt',
      key,
      src: map,
      srcOffset: 0,
      dst: new Uint8Array(4096),
      firstSector: 0,
      sectorSize: 4096,
    }),
    { code: 'ERR_XTS_ARGUMENT' },
  )
  f.close()
})

test('a mapped file truncated under the mapping gives ERR_XTS_INPUT_SHORT, not SIGBUS', async () => {
  const size = 1048576
  const f = mapped('shrinks', randomBytes(size))
  const map = mapInputFile(f.fd, size)
  assert.ok(map)
  truncateSync(t.path('shrinks'), 65536)
  const dst = new Uint8Array(256 * 1024)
  await assert.rejects(
    xtsSectorsFromMappedAsync({
      direction: 'encrypt',
      key,
      src: map,
      srcOffset: 512 * 1024,
      dst,
      firstSector: 0,
      sectorSize: 4096,
    }),
    {
      code: 'ERR_XTS_INPUT_SHORT',
    },
  )
  // the part still inside the file works
  await xtsSectorsFromMappedAsync({
    direction: 'encrypt',
    key,
    src: map,
    srcOffset: 0,
    dst: new Uint8Array(65536),
    firstSector: 0,
    sectorSize: 4096,
  })
  map.close()
  f.close()
})

test('the mapping cannot be closed under a running job; without the addon or a mappable file there is none', async () => {
  const size = 8 * 1048576
  const f = mapped('busy', randomBytes(size))
  const map = mapInputFile(f.fd, size)
  assert.ok(map)
  const job = xtsSectorsFromMappedAsync({
    direction: 'encrypt',
    key,
    src: map,
    srcOffset: 0,
    dst: new Uint8Array(size),
    firstSector: 0,
    sectorSize: 4096,
  })
  assert.throws(() => map.close(), { code: 'ERR_XTS_ARGUMENT' })
  await job
  map.close()
  f.close()
  assert.equal(mapWith(undefined, 0, 4096), undefined, 'node:crypto backend: read() path')
  // a directory cannot be mapped: undefined, so callers read() instead
  const dirFd = openSync(t.dir, 'r')
  try {
    assert.equal(mapInputFile(dirFd, 4096), undefined)
  } finally {
    closeSync(dirFd)
  }
  assert.equal(mapInputFile(-1, 4096), undefined)
  assert.equal(mapInputFile(0, 0), undefined)
})

test('XTS from one mapping into a writable mapping of another file equals in-place XTS', async () => {
  const data = randomBytes(3 * 1048576 + 8192)
  const f = mapped('src2', data)
  writeFileSync(t.path('dst2'), new Uint8Array(data.length + 8192))
  const g = openSync(t.path('dst2'), 'r+')
  const src = mapInputFile(f.fd, data.length)
  const dst = mapOutputFile(g, data.length + 8192)
  assert.ok(src && dst)
  try {
    await xtsSectorsMappedAsync(true, key, src, 4096, dst, 8192, 2 * 1048576, 3, 4096)
    await assert.rejects(
      xtsSectorsMappedAsync(true, key, src, 0, src, 0, 4096, 0, 4096),
      { code: 'ERR_XTS_ARGUMENT' },
      'a read-only mapping is not a destination',
    )
    await assert.rejects(
      xtsSectorsMappedAsync(true, key, src, 0, dst, data.length, 16384, 0, 4096),
      { code: 'ERR_XTS_DATA_LENGTH' },
    )
  } finally {
    dst.close()
    src.close()
    closeSync(g)
    f.close()
  }
  const expected = Uint8Array.from(data.subarray(4096, 4096 + 2 * 1048576))
  xtsEncryptSectors(key, expected, 3, 4096)
  const out = readFileSync(t.path('dst2'))
  assert.deepEqual(new Uint8Array(out.subarray(8192, 8192 + expected.length)), expected)
  assert.ok(
    out.subarray(0, 8192).every((b) => b === 0),
    'bytes before the range untouched',
  )
})
