import assert from 'node:assert/strict'
import { createSecretKey, randomBytes } from 'node:crypto'
import { chmodSync, lstatSync, mkdirSync, readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { test } from 'node:test'
import { decryptDisk } from '@ward/envelope'
import { CMD, NBD_ERR } from '@ward/nbd'
import { NbdClient } from '@ward/nbd/testing'
import { openEncryptedDisk, serveEncryptedDisk, type FilterEvent } from '../../src/filter/index.js'
import { SectorLocks } from '../../src/filter/sector-locks.js'
import { makeEncryptedDisk, pattern } from '../helpers/filter.js'
import { tempDir } from '../helpers/harness.js'

// The crypto filter against @ward/nbd's test client and the envelope's own decryptDisk.

const MiB = 1024 * 1024
const SIZE = 8 * MiB

async function plaintext(disk: string, kek: Uint8Array, dir: string): Promise<Buffer> {
  const out = join(dir, `plain-${randomBytes(4).toString('hex')}`)
  await decryptDisk(disk, out, { unlock: { kek } })
  return readFileSync(out)
}

test('sector locks: exclusive per sector, FIFO, no deadlock on overlapping sets', async () => {
  const locks = new SectorLocks()
  const order: string[] = []
  const r1 = await locks.lock([5, 3])
  const p2 = locks.lock([3]).then((r) => {
    order.push('b')
    return r
  })
  const p3 = locks.lock([9, 5]).then((r) => {
    order.push('c')
    return r
  })
  const r4 = await locks.lock([7]) // free sector: no wait
  r4()
  await new Promise((r) => setImmediate(r))
  assert.deepEqual(order, [])
  r1()
  const [r2, r3] = await Promise.all([p2, p3])
  assert.deepEqual(order.sort(), ['b', 'c'])
  r2()
  r3()
  r3() // releasing twice is harmless
  assert.equal(locks.held, 0)
})

test('the backend: aligned and unaligned reads and writes, zeroes, trim; decryptDisk agrees', async () => {
  const { dir, cleanup } = tempDir('ward-filter-unit-')
  try {
    const d = await makeEncryptedDisk(dir, SIZE)
    const disk = await openEncryptedDisk(d.path, { volumeKey: d.dek })
    const model = Buffer.alloc(SIZE)
    try {
      assert.equal(disk.size, SIZE)
      assert.equal(disk.sectorSize, 4096)
      const put = async (off: number, data: Buffer): Promise<void> => {
        data.copy(model, off)
        await disk.write(off, Buffer.from(data), { fua: false }) // the backend may encrypt in place
      }
      await put(0, randomBytes(64 * 1024)) // aligned
      await put(4096 * 20 + 1, randomBytes(3)) // inside one sector
      await put(4096 * 30 - 100, randomBytes(200)) // across a sector boundary
      await put(4096 * 40 + 512, randomBytes(4096 * 3)) // both edges partial, middle whole
      await put(SIZE - 7, randomBytes(7)) // the last bytes
      await put(4096 * 50, randomBytes(4096 + 9)) // head aligned, tail partial
      await disk.writeZeroes(4096 * 2 + 10, 4096 * 300, { fua: true, noHole: false })
      model.fill(0, 4096 * 2 + 10, 4096 * 2 + 10 + 4096 * 300)
      await put(4096 * 400, randomBytes(8192))
      await disk.trim(4096 * 400 + 5, 4090, { fua: false }) // TRIM writes zeros too
      model.fill(0, 4096 * 400 + 5, 4096 * 400 + 5 + 4090)
      await disk.flush()
      for (const [off, len] of [
        [0, 4096],
        [4096 * 20, 4096],
        [4096 * 20 + 1, 3],
        [4096 * 30 - 101, 202],
        [SIZE - 4096 * 3 - 1, 4096 * 3 + 1],
        [0, SIZE],
      ] as const) {
        const got = await disk.read(off, len)
        assert.ok(got.equals(model.subarray(off, off + len)), `read ${off}+${len}`)
      }
      assert.ok(disk.stats.partialWrites >= 5)
      assert.ok(disk.stats.partialReads >= 2)
      assert.ok(disk.stats.syncs >= 2)
    } finally {
      await disk.close()
    }
    assert.ok((await plaintext(d.path, d.kek, dir)).equals(model), 'decryptDisk reads the same')
  } finally {
    cleanup()
  }
})

test('concurrent sub-sector writes to one sector all land (read-modify-write is locked)', async () => {
  const { dir, cleanup } = tempDir('ward-filter-unit-')
  try {
    const d = await makeEncryptedDisk(dir, SIZE)
    const disk = await openEncryptedDisk(d.path, { volumeKey: d.dek })
    try {
      const want = randomBytes(4096 * 2)
      // 64 writes of 128 bytes, all at once, into two sectors
      await Promise.all(
        Array.from({ length: 64 }, (_, i) =>
          disk.write(8192 + i * 128, Buffer.from(want.subarray(i * 128, (i + 1) * 128)), {
            fua: false,
          }),
        ),
      )
      assert.ok((await disk.read(8192, 8192)).equals(want))
    } finally {
      await disk.close()
    }
  } finally {
    cleanup()
  }
})

test('the backend checks every range itself, refuses writes read-only, and is unusable after close', async () => {
  const { dir, cleanup } = tempDir('ward-filter-unit-')
  try {
    const d = await makeEncryptedDisk(dir, SIZE)
    const disk = await openEncryptedDisk(d.path, { volumeKey: d.dek })
    const errno = (n: number) => (e: unknown) => (e as { errno?: number }).errno === n
    for (const [off, len] of [
      [SIZE, 1],
      [SIZE - 1, 2],
      [-1, 1],
      [0.5, 1],
      [2 ** 53, 1],
      [0, SIZE + 1],
    ] as const) {
      await assert.rejects(disk.read(off, len), errno(NBD_ERR.EINVAL), `read ${off}+${len}`)
      await assert.rejects(
        disk.write(off, Buffer.alloc(len), { fua: false }),
        errno(NBD_ERR.ENOSPC),
        `write ${off}+${len}`,
      )
      await assert.rejects(
        disk.writeZeroes(off, len, { fua: false, noHole: false }),
        errno(NBD_ERR.ENOSPC),
      )
      await assert.rejects(disk.trim(off, len, { fua: false }), errno(NBD_ERR.EINVAL))
    }
    await disk.close()
    await disk.close()
    await assert.rejects(disk.read(0, 1), errno(NBD_ERR.ESHUTDOWN))
    await assert.rejects(disk.flush(), errno(NBD_ERR.ESHUTDOWN))

    const ro = await openEncryptedDisk(d.path, { volumeKey: d.dek, readOnly: true })
    try {
      assert.equal(ro.readOnly, true)
      await assert.rejects(ro.write(0, Buffer.alloc(4096), { fua: false }), errno(NBD_ERR.EPERM))
      await assert.rejects(ro.writeZeroes(0, 4096, { fua: false, noHole: false }))
      assert.equal((await ro.read(0, 4096)).length, 4096)
    } finally {
      await ro.close()
    }
  } finally {
    cleanup()
  }
})

test('keys: a wrong key or length is refused; a KeyObject works; the caller may zero its copy', async () => {
  const { dir, cleanup } = tempDir('ward-filter-unit-')
  try {
    const d = await makeEncryptedDisk(dir, SIZE)
    await assert.rejects(openEncryptedDisk(d.path, { volumeKey: randomBytes(64) }), {
      code: 'ERR_LUKS2_DIGEST',
    })
    await assert.rejects(openEncryptedDisk(d.path, { volumeKey: d.dek.subarray(0, 32) }), {
      code: 'ERR_HOST_FILTER_KEY',
    })
    const rejected = await openEncryptedDisk(d.path, { volumeKey: randomBytes(64) }).catch(
      (e: Error) => e,
    )
    assert.ok(!String((rejected as Error).message).includes(Buffer.from(d.dek).toString('hex')))
    const data = pattern(4096 * 4, 'KEYOBJECT')
    const copy = Buffer.from(d.dek)
    const a = await openEncryptedDisk(d.path, { volumeKey: copy })
    copy.fill(0) // the filter has its own copy
    await a.write(0, Buffer.from(data), { fua: true })
    await a.close()
    const b = await openEncryptedDisk(d.path, { volumeKey: createSecretKey(Buffer.from(d.dek)) })
    try {
      assert.ok((await b.read(0, data.length)).equals(data))
    } finally {
      await b.close()
    }
    await assert.rejects(openEncryptedDisk(join(dir, 'disk.luks.raw'), { volumeKey: d.dek }), {
      code: 'ERR_LUKS2_NOT_LUKS',
    })
  } finally {
    cleanup()
  }
})

test('over NBD: hostile input closes only that connection; a second client is refused; the first keeps working', async () => {
  const { dir, cleanup } = tempDir('ward-filter-unit-')
  try {
    const d = await makeEncryptedDisk(dir, SIZE)
    const events: FilterEvent[] = []
    const socketPath = join(dir, 'disk0.sock')
    const server = await serveEncryptedDisk({
      path: d.path,
      volumeKey: d.dek,
      socketPath,
      log: (e) => events.push(e),
      nbd: { handshakeTimeoutMs: 5000 },
    })
    try {
      assert.equal(lstatSync(socketPath).mode & 0o777, 0o600, 'the socket is 0600')
      const good = await NbdClient.connect(socketPath)
      assert.equal(good.size, SIZE)
      const data = pattern(64 * 1024, 'GOOD-CLIENT')
      await good.write(4096, data)

      // a second client: refused while the first holds the export
      await assert.rejects(NbdClient.connect(socketPath, { timeoutMs: 5000 }))

      // garbage instead of a handshake
      await new Promise<void>((resolve) => {
        const s = connect(socketPath)
        s.on('error', () => undefined)
        s.on('close', () => resolve())
        s.on('data', () => s.write(randomBytes(4096)))
      })
      // the good client is still served
      assert.ok((await good.read(4096, data.length)).equals(data))

      // huge lengths, out-of-range offsets: error replies, the good client is unaffected
      const r1 = await good.request(CMD.READ, { offset: SIZE - 4096, length: 8192 })
      assert.equal(r1.error, NBD_ERR.EINVAL)
      const r2 = await good.request(CMD.WRITE_ZEROES, { offset: 2 ** 40, length: 4096 })
      assert.equal(r2.error, NBD_ERR.ENOSPC)
      const r3 = await good.request(CMD.TRIM, { offset: 0, length: 0xffffffff })
      assert.equal(r3.error, NBD_ERR.EINVAL)
      assert.ok((await good.read(4096, data.length)).equals(data))
      // a READ longer than the server's maximum payload is a protocol violation: that connection
      // closes (its socket is no longer trustworthy); a new one is then served
      const r4 = await good
        .request(CMD.READ, { offset: 0, length: 0xfffff000 })
        .catch(() => undefined)
      assert.ok(r4 === undefined || r4.error !== 0)
      good.destroy()
      for (let i = 0; i < 200 && server.connections > 0; i++)
        await new Promise((r) => setTimeout(r, 10))
      const again = await NbdClient.connect(socketPath)
      assert.ok((await again.read(4096, data.length)).equals(data))
      await again.flush()
      await again.disconnect()
    } finally {
      await server.close({ timeoutMs: 2000 })
    }
    // what was logged names connections and codes, never key bytes or data
    const logged = JSON.stringify(events)
    assert.ok(!logged.includes(Buffer.from(d.dek).toString('hex')))
    assert.ok(!logged.includes(Buffer.from(d.dek).toString('base64')))
    assert.ok(!logged.includes('GOOD-CLIENT'))
    assert.ok(events.some((e) => e.type === 'serving'))
    assert.ok(events.some((e) => e.type === 'stopped'))
    assert.ok(events.some((e) => e.type === 'refused'))
  } finally {
    cleanup()
  }
})

test('the socket folder must be private: a 0755 folder is refused; close() is idempotent', async () => {
  const { dir, cleanup } = tempDir('ward-filter-unit-')
  try {
    const d = await makeEncryptedDisk(dir, SIZE)
    const open = join(dir, 'open')
    mkdirSync(open)
    chmodSync(open, 0o755)
    await assert.rejects(
      serveEncryptedDisk({ path: d.path, volumeKey: d.dek, socketPath: join(open, 'disk0.sock') }),
      { code: 'ERR_NBD_SOCKET_DIR' },
    )
    // a private folder is fine
    const ok = await serveEncryptedDisk({
      path: d.path,
      volumeKey: d.dek,
      socketPath: join(dir, 'disk0.sock'),
    })
    await ok.close()
    await ok.close() // idempotent
  } finally {
    cleanup()
  }
})
