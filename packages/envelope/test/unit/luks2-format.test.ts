import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { afMerge, afSplit, afSplitSize } from '../../src/luks2/af.js'
import {
  decodeBinaryHeader,
  encodeBinaryHeader,
  LUKS2_HDR_DISK,
  LUKS2_MAGIC_1ST,
} from '../../src/luks2/header.js'
import { parseJsonArea, encodeJsonArea } from '../../src/luks2/metadata.js'
import { formatMetadata, WARD_DATA_OFFSET } from '../../src/luks2/format.js'

test('the binary header table lays fields at the spec offsets (struct luks2_hdr_disk)', () => {
  const expected = {
    magic: 0,
    version: 6,
    hdrSize: 8,
    seqid: 16,
    label: 24,
    checksumAlg: 72,
    salt: 104,
    uuid: 168,
    subsystem: 208,
    hdrOffset: 256,
    padding: 264,
    csum: 448,
    padding4096: 512,
  }
  let off = 0
  const got: Record<string, number> = {}
  for (const [name, f] of Object.entries(LUKS2_HDR_DISK)) {
    got[name] = off
    off += f.kind === 'u16' ? 2 : f.kind === 'u64' ? 8 : f.size
  }
  assert.deepEqual(got, expected)
  assert.equal(off, 4096)
})

const sample = () => ({
  magic: LUKS2_MAGIC_1ST,
  version: 2,
  hdrSize: 16384n,
  seqid: 7n,
  label: 'data',
  checksumAlg: 'sha256',
  salt: new Uint8Array(randomBytes(64)),
  uuid: '3286f6a8-69be-4345-940b-6b6e01be13ef',
  subsystem: '',
  hdrOffset: 0n,
  csum: new Uint8Array(64),
})

test('binary header: encode then decode gives the same values; big-endian integers', () => {
  const h = sample()
  const bytes = encodeBinaryHeader(h)
  assert.deepEqual(decodeBinaryHeader(bytes), h)
  assert.equal(Buffer.from(bytes).readUInt16BE(6), 2)
  assert.equal(Buffer.from(bytes).readBigUInt64BE(8), 16384n)
  assert.equal(Buffer.from(bytes.subarray(0, 6)).toString('latin1'), 'LUKS\xba\xbe')
})

test('binary header: unterminated strings, bytes after a terminator and non-zero padding are refused', () => {
  const bytes = encodeBinaryHeader(sample())
  const unterminated = bytes.slice()
  unterminated.fill(0x41, 24, 72)
  assert.throws(() => decodeBinaryHeader(unterminated), { code: 'ERR_LUKS2_HEADER' })
  const trailing = bytes.slice()
  trailing[70] = 1
  assert.throws(() => decodeBinaryHeader(trailing), { code: 'ERR_LUKS2_HEADER' })
  const padded = bytes.slice()
  padded[300] = 1
  assert.throws(() => decodeBinaryHeader(padded), { code: 'ERR_LUKS2_HEADER' })
  assert.throws(() => decodeBinaryHeader(bytes.subarray(0, 4095)), { code: 'ERR_LUKS2_HEADER' })
  assert.throws(() => encodeBinaryHeader({ ...sample(), label: 'x'.repeat(48) }), {
    code: 'ERR_LUKS2_HEADER',
  })
})

test('AF splitter: merge(split(key)) = key; any stripe changed loses the key; sizes as cryptsetup', () => {
  for (const [size, stripes] of [
    [64, 4000],
    [32, 4000],
    [64, 1],
    [20, 7],
    [33, 3],
  ] as const) {
    const key = new Uint8Array(randomBytes(size))
    const split = afSplit(key, stripes, 'sha256')
    assert.equal(split.length, size * stripes)
    assert.deepEqual(afMerge(split, size, stripes, 'sha256'), key)
    if (stripes > 1) {
      const at = Math.floor(split.length / 3)
      split[at] = (split[at] ?? 0) ^ 1
      assert.notDeepEqual(afMerge(split, size, stripes, 'sha256'), key)
    }
  }
  assert.equal(afSplitSize(64, 4000), 256000)
  assert.equal(afSplitSize(32, 4000), 128000)
})

test('AF splitter: deterministic given the random stripes (sha256 diffusion of 64-byte blocks)', () => {
  // with all-zero random stripes, the buffer is diffused from zero each round, so the last
  // stripe is key XOR diffuse^(stripes-1)(0); two stripes: diffuse(0) = H(be32(0)||0^32) || H(be32(1)||0^32)
  const key = new Uint8Array(64).fill(0xaa)
  const split = afSplit(key, 2, 'sha256', (b) => b.fill(0))
  const h = (i: number): Buffer =>
    createHash('sha256')
      .update(Buffer.from([0, 0, 0, i]))
      .update(Buffer.alloc(32))
      .digest()
  const diffused = Buffer.concat([h(0), h(1)])
  const last = Buffer.from(split.subarray(64))
  assert.deepEqual(last, Buffer.from(key.map((b, i) => b ^ (diffused[i] ?? 0))))
})

test('new Ward metadata validates, fits the 12 KiB JSON area and puts data at 16 MiB', async () => {
  const dek = new Uint8Array(randomBytes(64))
  const { json, keyslotArea } = await formatMetadata({
    dek,
    kek: new Uint8Array(32).fill(1),
    providerId: 'p',
    kekId: 'k',
    dataSize: 1 << 20,
    recoveryPassphrase: new Uint8Array([1, 2, 3]),
    recoveryKdf: { type: 'pbkdf2', iterations: 1000 },
  })
  const meta = parseJsonArea(encodeJsonArea(json, 12288))
  assert.equal(meta.segments[0]?.offset, WARD_DATA_OFFSET)
  assert.equal(meta.segments[0]?.sectorSize, 4096)
  assert.equal(meta.keyslots[0]?.keySize, 64)
  assert.equal(keyslotArea?.offset, 32768)
  assert.equal(keyslotArea?.bytes.length, 258048)
  assert.equal(meta.tokens[0]?.type, 'ward')
})
