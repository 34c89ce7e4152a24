import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { buffer } from 'node:stream/consumers'
import { test } from 'node:test'
import {
  createVmFileDecryptStream,
  createVmFileEncryptStream,
  VmFileOpener,
  VmFileSealer,
  type VmFileRole,
} from '../../src/index.js'

const CS = 4096
const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const opts = {
  vmId: 'vm-s',
  role: 'swap' as VmFileRole,
  providerId: 'p',
  kekId: 'k',
  chunkSize: CS,
}

/** Feed `data` in pieces of varying size. */
function* pieces(data: Uint8Array): Generator<Uint8Array> {
  for (let off = 0, i = 0; off < data.length; i++) {
    const n = Math.min(1 + ((i * 2654435761) % 9000), data.length - off)
    yield data.subarray(off, off + n)
    off += n
  }
}

function seal(plain: Uint8Array, kek: Uint8Array): Uint8Array {
  const s = new VmFileSealer(opts, kek)
  const parts = [s.header]
  for (const p of pieces(plain)) parts.push(...s.update(p))
  parts.push(s.final())
  return new Uint8Array(Buffer.concat(parts))
}

function open(
  file: Uint8Array,
  kek: Uint8Array,
  vmId = 'vm-s',
  role: VmFileRole = 'swap',
): Uint8Array {
  const o = new VmFileOpener(kek, { vmId, role })
  const out: Uint8Array[] = []
  for (const p of pieces(file)) out.push(...o.update(p))
  out.push(...o.final())
  return new Uint8Array(Buffer.concat(out))
}

test('the incremental opener decrypts what the sealer wrote, at every chunk edge', () => {
  const kek = rnd(32)
  for (const size of [0, 1, CS - 1, CS, CS + 1, 4 * CS, 4 * CS + 9]) {
    const plain = rnd(size)
    assert.deepEqual(open(seal(plain, kek), kek), plain, `size ${size}`)
  }
})

test('the opener rejects truncation, reordering, another VM id or role and a wrong KEK', () => {
  const kek = rnd(32)
  const file = seal(rnd(3 * CS), kek)
  const stored = CS + 16
  const h = file.length - 3 * stored
  assert.throws(() => open(file.subarray(0, file.length - stored), kek), {
    code: 'ERR_VMFILE_AUTH',
  })
  assert.throws(() => open(file.subarray(0, file.length - 5), kek), {
    code: /^ERR_VMFILE_(AUTH|TRUNCATED)$/,
  })
  assert.throws(() => open(file.subarray(0, h), kek), { code: 'ERR_VMFILE_TRUNCATED' })
  const swapped = new Uint8Array(
    Buffer.concat([
      file.subarray(0, h),
      file.subarray(h + stored, h + 2 * stored),
      file.subarray(h, h + stored),
      file.subarray(h + 2 * stored),
    ]),
  )
  assert.throws(() => open(swapped, kek), { code: 'ERR_VMFILE_AUTH' })
  assert.throws(() => open(file, kek, 'vm-t'), { code: 'ERR_VMFILE_AUTH' })
  assert.throws(() => open(file, kek, 'vm-s', 'nvram'), { code: 'ERR_VMFILE_ROLE_MISMATCH' })
  assert.throws(() => open(file, rnd(32)), { code: 'ERR_VMFILE_WRONG_KEK' })
  assert.throws(() => open(rnd(2000), kek), { code: 'ERR_VMFILE_MAGIC' })
})

test('Transform streams round-trip and report tampering as a stream error', async () => {
  const kek = rnd(32)
  const plain = rnd(5 * CS + 300)
  const enc = await buffer(Readable.from(pieces(plain)).pipe(createVmFileEncryptStream(opts, kek)))
  assert.equal(enc.subarray(0, 7).toString(), 'WARDVMF')
  assert.equal(enc.length, seal(plain, kek).length) // same layout whichever API wrote it
  const dec = await buffer(
    Readable.from(pieces(new Uint8Array(enc))).pipe(createVmFileDecryptStream(kek, opts)),
  )
  assert.deepEqual(new Uint8Array(dec), plain)
  const bad = new Uint8Array(enc)
  bad[bad.length - 20]! ^= 4
  await assert.rejects(buffer(Readable.from([bad]).pipe(createVmFileDecryptStream(kek, opts))), {
    code: 'ERR_VMFILE_AUTH',
  })
  const empty = await buffer(Readable.from([]).pipe(createVmFileEncryptStream(opts, kek)))
  assert.equal(
    (await buffer(Readable.from([empty]).pipe(createVmFileDecryptStream(kek, opts)))).length,
    0,
  )
})

test('the opener copes with one-byte writes without quadratic copying', () => {
  const kek = rnd(32)
  const plain = rnd(8 * CS + 3)
  const file = seal(plain, kek)
  const o = new VmFileOpener(kek, { vmId: 'vm-s', role: 'swap' })
  const out: Uint8Array[] = []
  const started = performance.now()
  for (let i = 0; i < file.length; i++) out.push(...o.update(file.subarray(i, i + 1)))
  out.push(...o.final())
  assert.deepEqual(new Uint8Array(Buffer.concat(out)), plain)
  assert.ok(performance.now() - started < 5000)
})
