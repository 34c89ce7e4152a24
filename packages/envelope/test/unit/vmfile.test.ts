import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import {
  chmodSync,
  linkSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import {
  decryptVmFile,
  describeVmFile,
  encryptVmFile,
  isVmFile,
  openVmFile,
  parseVmFileHeader,
  VmFileSealer,
  type VmFileRole,
} from '../../src/index.js'

const dir = mkdtempSync(join(tmpdir(), 'ward-vmfile-'))
after(() => rmSync(dir, { recursive: true, force: true }))
let seq = 0
const path = (name: string): string => join(dir, `${seq++}-${name}`)
const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const CS = 4096
const STORED = CS + 16

async function makeFile(size: number, opts: { role?: VmFileRole; chunkSize?: number } = {}) {
  const kek = rnd(32)
  const plain = rnd(size)
  const inPath = path('plain')
  const encPath = path('enc')
  writeFileSync(inPath, plain)
  await encryptVmFile(inPath, encPath, kek, {
    vmId: 'vm-42',
    role: opts.role ?? 'nvram',
    providerId: 'prov-A',
    kekId: 'kek-7',
    chunkSize: opts.chunkSize ?? CS,
  })
  const enc = new Uint8Array(readFileSync(encPath))
  const headerLength = parseVmFileHeader(enc).bytes.length
  return { kek, plain, inPath, encPath, enc, headerLength }
}

async function decryptBytes(
  bytes: Uint8Array,
  kek: Uint8Array,
  vmId = 'vm-42',
  role: VmFileRole = 'nvram',
) {
  const p = path('mut')
  writeFileSync(p, bytes)
  const out = path('out')
  await decryptVmFile(p, out, kek, { vmId, role })
  return new Uint8Array(readFileSync(out))
}

test('round trip at chunk edges (0, 1, CS-1, CS, CS+1, 3*CS, 3*CS+5 bytes)', async () => {
  for (const size of [0, 1, CS - 1, CS, CS + 1, 3 * CS, 3 * CS + 5]) {
    const { kek, plain, enc, headerLength } = await makeFile(size)
    const chunks = Math.max(1, Math.ceil(size / CS))
    assert.equal(enc.length, headerLength + size + 16 * chunks, `size ${size}`)
    assert.deepEqual(await decryptBytes(enc, kek), plain, `size ${size}`)
  }
})

test('default 64 KiB chunks, output mode 0600, plaintext absent from the file', async () => {
  const kek = rnd(32)
  const plain = rnd(200_000)
  const inPath = path('plain')
  const encPath = path('enc')
  writeFileSync(inPath, plain)
  const progress: number[] = []
  await encryptVmFile(inPath, encPath, kek, {
    vmId: 'vm-1',
    role: 'swap',
    providerId: 'p',
    kekId: 'k',
    onProgress: (d) => progress.push(d),
  })
  assert.equal(statSync(encPath).mode & 0o777, 0o600)
  assert.equal(progress.at(-1), 200_000)
  const enc = readFileSync(encPath)
  assert.ok(!enc.includes(Buffer.from(plain.subarray(1000, 1032))))
  const d = await describeVmFile(encPath)
  assert.deepEqual(
    { ...d },
    {
      format: 'ward-vmfile',
      version: 1,
      cipher: 'aes-256-gcm',
      chunkSize: 65536,
      role: 'swap',
      providerId: 'p',
      kekId: 'k',
      headerSize: d.headerSize,
      fileSize: enc.length,
      plaintextSize: 200_000,
      chunkCount: 4,
    },
  )
  assert.deepEqual(await decryptBytes(enc, kek, 'vm-1', 'swap'), plain)
})

test('readRange reads any range, touching only its chunks', async () => {
  const { kek, plain, encPath } = await makeFile(5 * CS + 123)
  const r = await openVmFile(encPath, kek, { vmId: 'vm-42', role: 'nvram' })
  try {
    assert.equal(r.size, plain.length)
    for (const [off, len] of [
      [0, 0],
      [0, 1],
      [CS - 3, 10],
      [CS, CS],
      [2 * CS + 7, 2 * CS + 100],
      [plain.length - 1, 1],
      [0, plain.length],
    ] as const)
      assert.deepEqual(await r.readRange(off, len), plain.subarray(off, off + len), `${off}+${len}`)
    await assert.rejects(r.readRange(plain.length - 1, 2), { code: 'ERR_VMFILE_RANGE' })
    await assert.rejects(r.readRange(-1, 1), { code: 'ERR_VMFILE_RANGE' })
    await assert.rejects(r.readChunk(6), { code: 'ERR_VMFILE_RANGE' })
  } finally {
    await r.close()
  }
})

test('another VM id fails authentication; another role is refused; a rewritten role byte fails', async () => {
  const { kek, enc, encPath } = await makeFile(CS + 10)
  await assert.rejects(openVmFile(encPath, kek, { vmId: 'vm-43', role: 'nvram' }), {
    code: 'ERR_VMFILE_AUTH',
  })
  await assert.rejects(openVmFile(encPath, kek, { vmId: 'vm-42', role: 'swap' }), {
    code: 'ERR_VMFILE_ROLE_MISMATCH',
  })
  const moved = enc.slice()
  moved[9] = 1 // role byte: nvram (0) -> swap (1)
  assert.equal(parseVmFileHeader(moved).header.role, 'swap')
  await assert.rejects(decryptBytes(moved, kek, 'vm-42', 'swap'), { code: 'ERR_VMFILE_AUTH' })
})

test('the wrong KEK is ERR_VMFILE_WRONG_KEK naming the KEK needed', async () => {
  const { encPath } = await makeFile(100)
  await assert.rejects(
    openVmFile(encPath, rnd(32), { vmId: 'vm-42', role: 'nvram' }),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_VMFILE_WRONG_KEK')
      assert.match(e.message, /kek-7/)
      return true
    },
  )
})

test('truncation at a chunk boundary, inside a chunk, or to the header fails', async () => {
  const { kek, enc, headerLength } = await makeFile(3 * CS)
  await assert.rejects(decryptBytes(enc.subarray(0, headerLength + 2 * STORED), kek), {
    code: 'ERR_VMFILE_AUTH',
  })
  await assert.rejects(decryptBytes(enc.subarray(0, headerLength + STORED), kek), {
    code: 'ERR_VMFILE_AUTH',
  })
  for (const cut of [1, 15, 16, 17, STORED - 1])
    await assert.rejects(decryptBytes(enc.subarray(0, enc.length - cut), kek), {
      code: /^ERR_VMFILE_(AUTH|TRUNCATED)$/,
    })
  await assert.rejects(decryptBytes(enc.subarray(0, headerLength), kek), {
    code: 'ERR_VMFILE_TRUNCATED',
  })
  await assert.rejects(decryptBytes(enc.subarray(0, headerLength - 1), kek), {
    code: 'ERR_VMFILE_HEADER',
  })
})

test('reordered, duplicated and appended chunks fail', async () => {
  const { kek, enc, headerLength: h } = await makeFile(3 * CS)
  const chunk = (i: number): Uint8Array => enc.subarray(h + i * STORED, h + (i + 1) * STORED)
  const build = (order: number[]): Uint8Array =>
    new Uint8Array(Buffer.concat([enc.subarray(0, h), ...order.map(chunk)]))
  assert.deepEqual(build([0, 1, 2]), enc)
  for (const order of [
    [1, 0, 2],
    [0, 0, 2],
    [0, 2, 1],
    [0, 1, 1],
    [0, 1, 2, 2],
    [0, 1, 2, 0],
  ])
    await assert.rejects(
      decryptBytes(build(order), kek),
      { code: 'ERR_VMFILE_AUTH' },
      order.join(','),
    )
})

test('chunks from another file of the same VM and KEK do not splice in', async () => {
  const a = await makeFile(2 * CS)
  const b = await makeFile(2 * CS)
  const spliced = Buffer.concat([
    a.enc.subarray(0, a.headerLength + STORED),
    b.enc.subarray(b.headerLength + STORED),
  ])
  await assert.rejects(decryptBytes(spliced, a.kek), { code: /^ERR_VMFILE_/ })
})

test('a bit flip in every header byte and across chunks fails with a coded error', async () => {
  const { kek, enc, headerLength } = await makeFile(CS + 100)
  const positions = [
    ...Array(headerLength).keys(),
    headerLength,
    headerLength + 100,
    headerLength + CS + 3,
    headerLength + STORED - 1,
    enc.length - 1,
  ]
  for (const pos of positions) {
    const b = enc.slice()
    b[pos]! ^= 0x10
    await assert.rejects(decryptBytes(b, kek), { code: /^ERR_VMFILE_/ }, `byte ${pos}`)
  }
})

test('a failed decrypt leaves an existing output untouched and no temp files', async () => {
  const { kek, enc } = await makeFile(2 * CS)
  const bad = enc.slice()
  bad[bad.length - 1]! ^= 1
  const p = path('bad')
  writeFileSync(p, bad)
  const out = path('existing')
  writeFileSync(out, 'keep me')
  const before = readdirSync(dir).length
  await assert.rejects(
    decryptVmFile(p, out, kek, { vmId: 'vm-42', role: 'nvram', overwrite: true }),
    { code: 'ERR_VMFILE_AUTH' },
  )
  assert.equal(readFileSync(out, 'utf8'), 'keep me')
  assert.equal(readdirSync(dir).length, before)
  assert.ok(!readdirSync(dir).some((n) => n.includes('ward-tmp')))
})

test('an existing output is refused unless overwrite; in-place encryption with overwrite', async () => {
  const { kek, plain, inPath, encPath } = await makeFile(CS * 2 + 1)
  await assert.rejects(decryptVmFile(encPath, inPath, kek, { vmId: 'vm-42', role: 'nvram' }), {
    code: 'ERR_VMFILE_EXISTS',
  })
  assert.deepEqual(new Uint8Array(readFileSync(inPath)), plain)
  await assert.rejects(
    encryptVmFile(inPath, encPath, kek, { vmId: 'v', role: 'nvram', providerId: 'p', kekId: 'k' }),
    { code: 'ERR_VMFILE_EXISTS' },
  )
  await encryptVmFile(inPath, inPath, kek, {
    vmId: 'v',
    role: 'core-dump',
    providerId: 'p',
    kekId: 'k',
    overwrite: true,
  })
  assert.equal(await isVmFile(inPath), true)
  await decryptVmFile(inPath, inPath, kek, { vmId: 'v', role: 'core-dump', overwrite: true })
  assert.deepEqual(new Uint8Array(readFileSync(inPath)), plain)
})

test('isVmFile and describeVmFile on other files', async () => {
  const p = path('random')
  writeFileSync(p, rnd(1000))
  assert.equal(await isVmFile(p), false)
  const e = path('empty')
  writeFileSync(e, '')
  assert.equal(await isVmFile(e), false)
  await assert.rejects(describeVmFile(p), { code: 'ERR_VMFILE_MAGIC' })
  await assert.rejects(describeVmFile(path('missing')), { code: 'ERR_VMFILE_IO' })
  const { enc } = await makeFile(10)
  const v2 = enc.slice()
  v2[8] = 2
  const f = path('v2')
  writeFileSync(f, v2)
  assert.equal(await isVmFile(f), true)
  await assert.rejects(describeVmFile(f), { code: 'ERR_VMFILE_VERSION' })
})

test('the streaming sealer gives the same format whatever the write sizes', async () => {
  const kek = rnd(32)
  const plain = rnd(3 * CS + 77)
  const s = new VmFileSealer(
    { vmId: 'vm-9', role: 'vtpm', providerId: 'p', kekId: 'k', chunkSize: CS },
    kek,
  )
  const parts: Uint8Array[] = [s.header]
  for (let off = 0; off < plain.length;) {
    const n = Math.min(1 + ((off * 7919) % 5000), plain.length - off)
    parts.push(...s.update(plain.subarray(off, off + n)))
    off += n
  }
  parts.push(s.final())
  assert.throws(() => s.update(new Uint8Array(1)), { code: 'ERR_VMFILE_PARAMS' })
  assert.deepEqual(await decryptBytes(Buffer.concat(parts), kek, 'vm-9', 'vtpm'), plain)
})

test('bad parameters are ERR_VMFILE_PARAMS', () => {
  const kek = rnd(32)
  const ok = { vmId: 'v', role: 'nvram', providerId: 'p', kekId: 'k' } as const
  assert.throws(() => new VmFileSealer({ ...ok, chunkSize: 5000 }, kek), {
    code: 'ERR_VMFILE_PARAMS',
  })
  assert.throws(() => new VmFileSealer({ ...ok, chunkSize: 2048 }, kek), {
    code: 'ERR_VMFILE_PARAMS',
  })
  assert.throws(() => new VmFileSealer({ ...ok, vmId: '' }, kek), { code: 'ERR_VMFILE_PARAMS' })
  assert.throws(() => new VmFileSealer({ ...ok, role: 'disk' as VmFileRole }, kek), {
    code: 'ERR_VMFILE_PARAMS',
  })
  assert.throws(() => new VmFileSealer({ ...ok, providerId: '' }, kek), {
    code: 'ERR_VMFILE_PARAMS',
  })
  assert.throws(() => new VmFileSealer(ok, rnd(16)), { code: 'ERR_VMFILE_PARAMS' })
})

test('planted links at the output are replaced, never written through; a dangling symlink is an existing name', async () => {
  const { kek, plain, encPath } = await makeFile(3 * CS)
  for (const kind of ['symlink', 'hardlink'] as const) {
    const victim = path(`${kind}-victim`)
    writeFileSync(victim, 'someone else')
    chmodSync(victim, 0o666)
    const out = path(`${kind}-out`)
    if (kind === 'symlink') symlinkSync(victim, out)
    else linkSync(victim, out)
    await decryptVmFile(encPath, out, kek, { vmId: 'vm-42', role: 'nvram', overwrite: true })
    assert.equal(readFileSync(victim, 'utf8'), 'someone else', `${kind}: target unchanged`)
    const st = lstatSync(out)
    assert.ok(st.isFile() && st.nlink === 1, `${kind}: the output is a file of its own`)
    assert.equal(st.mode & 0o777, 0o600)
    assert.deepEqual(new Uint8Array(readFileSync(out)), plain)
  }
  const dangling = path('dangling')
  symlinkSync(path('nowhere'), dangling)
  await assert.rejects(decryptVmFile(encPath, dangling, kek, { vmId: 'vm-42', role: 'nvram' }), {
    code: 'ERR_VMFILE_EXISTS',
  })
  assert.ok(lstatSync(dangling).isSymbolicLink())
  assert.ok(!readdirSync(dir).some((n) => n.includes('ward-tmp')))
})

test('the temporary output is a new 0600 file with a random name', async () => {
  const { kek, encPath } = await makeFile(2 << 20)
  const out = path('watched')
  const seen: string[] = []
  await decryptVmFile(encPath, out, kek, {
    vmId: 'vm-42',
    role: 'nvram',
    onProgress: () => {
      for (const n of readdirSync(dir).filter((x) => x.includes('ward-tmp'))) {
        const st = lstatSync(join(dir, n))
        assert.ok(st.isFile() && st.nlink === 1)
        assert.equal(st.mode & 0o777, 0o600)
        seen.push(n)
      }
    },
  })
  assert.ok(seen.length > 0)
  assert.match(seen[0]!, /^\.\d+-watched\.ward-tmp-[0-9a-f]{16}$/)
})
