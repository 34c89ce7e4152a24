import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import {
  bundleFromBase64,
  bundleToBase64,
  describeBundle,
  openBundle,
  rewrapBundle,
  sealBundle,
  zeroBundleKeys,
} from '../../src/index.js'

const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
const fixture = () => {
  const kek = rnd(32)
  const fileKey = rnd(32)
  const disks = new Map([
    ['scsi0:0', rnd(64)],
    ['scsi0:1', rnd(64)],
    ['nvme0:0', rnd(64)],
  ])
  const bundle = sealBundle({ providerId: 'kms-cluster-1', kekId: 'kek-0001', fileKey, disks }, kek)
  return { kek, fileKey, disks, bundle }
}
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

test('seal then open returns the same keys and ids', () => {
  const { kek, fileKey, disks, bundle } = fixture()
  const o = openBundle(bundle, kek)
  assert.equal(o.providerId, 'kms-cluster-1')
  assert.equal(o.kekId, 'kek-0001')
  assert.deepEqual(o.fileKey, fileKey)
  assert.deepEqual([...o.disks.keys()], [...disks.keys()])
  for (const [id, dek] of disks) assert.deepEqual(o.disks.get(id), dek)
  zeroBundleKeys(o)
  assert.ok(o.fileKey.every((b) => b === 0))
  assert.ok([...o.disks.values()].every((d) => d.every((b) => b === 0)))
})

test('a VM with no disks seals and opens', () => {
  const kek = rnd(32)
  const o = openBundle(
    sealBundle({ providerId: 'p', kekId: 'k', fileKey: rnd(32), disks: new Map() }, kek),
    kek,
  )
  assert.equal(o.disks.size, 0)
})

test('two seals of the same keys differ (fresh salt and nonce)', () => {
  const { kek, fileKey, disks } = fixture()
  const a = sealBundle({ providerId: 'p', kekId: 'k', fileKey, disks }, kek)
  const b = sealBundle({ providerId: 'p', kekId: 'k', fileKey, disks }, kek)
  assert.notEqual(hex(a), hex(b))
})

test('the wrong KEK is ERR_BUNDLE_WRONG_KEK, naming the KEK needed', () => {
  const { bundle } = fixture()
  assert.throws(
    () => openBundle(bundle, rnd(32)),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, 'ERR_BUNDLE_WRONG_KEK')
      assert.match(e.message, /kek-0001/)
      assert.match(e.message, /kms-cluster-1/)
      return true
    },
  )
})

test('changing the clear provider id or KEK id is detected (bound as associated data)', () => {
  const { kek, bundle } = fixture()
  const s = Buffer.from(bundle).toString('latin1')
  for (const [from, to] of [
    ['kms-cluster-1', 'kms-cluster-2'],
    ['kek-0001', 'kek-0002'],
  ] as const) {
    const forged = new Uint8Array(Buffer.from(s.replace(from, to), 'latin1'))
    assert.equal(
      describeBundle(forged).providerId === 'kms-cluster-2' ||
        describeBundle(forged).kekId === 'kek-0002',
      true,
    )
    assert.throws(() => openBundle(forged, kek), { code: 'ERR_BUNDLE_AUTH' })
  }
})

test('every single-bit flip anywhere fails with a bundle error, never garbage', () => {
  const { kek, bundle } = fixture()
  const seen = new Set<string>()
  for (let bit = 0; bit < bundle.length * 8; bit++) {
    const b = bundle.slice()
    b[bit >> 3]! ^= 1 << (bit & 7)
    assert.throws(
      () => openBundle(b, kek),
      (e: Error & { code?: string }) => {
        assert.match(e.code ?? '', /^ERR_BUNDLE_/)
        seen.add(e.code!)
        return true
      },
      `bit ${bit}`,
    )
  }
  for (const c of [
    'ERR_BUNDLE_MAGIC',
    'ERR_BUNDLE_VERSION',
    'ERR_BUNDLE_FORMAT',
    'ERR_BUNDLE_AUTH',
    'ERR_BUNDLE_WRONG_KEK',
  ])
    assert.ok(seen.has(c), `${c} among ${[...seen].join(',')}`)
})

test('every truncation and trailing bytes are ERR_BUNDLE_FORMAT or ERR_BUNDLE_MAGIC', () => {
  const { kek, bundle } = fixture()
  for (let n = 0; n < bundle.length; n++)
    assert.throws(() => openBundle(bundle.subarray(0, n), kek), {
      code: /^ERR_BUNDLE_(FORMAT|MAGIC)$/,
    })
  const longer = new Uint8Array(bundle.length + 1)
  longer.set(bundle)
  assert.throws(() => openBundle(longer, kek), { code: 'ERR_BUNDLE_FORMAT' })
})

test('an unknown version is ERR_BUNDLE_VERSION', () => {
  const { kek, bundle } = fixture()
  const b = bundle.slice()
  b[8] = 2
  assert.throws(() => openBundle(b, kek), { code: 'ERR_BUNDLE_VERSION' })
  assert.throws(() => describeBundle(b), { code: 'ERR_BUNDLE_VERSION' })
})

test('rewrap (shallow recrypt) moves the keys under a new KEK and ids, old KEK refused', () => {
  const { kek, fileKey, disks, bundle } = fixture()
  const newKek = rnd(32)
  const moved = rewrapBundle(bundle, kek, newKek, { kekId: 'kek-0002' })
  assert.throws(() => openBundle(moved, kek), { code: 'ERR_BUNDLE_WRONG_KEK' })
  const o = openBundle(moved, newKek)
  assert.equal(o.kekId, 'kek-0002')
  assert.equal(o.providerId, 'kms-cluster-1')
  assert.deepEqual(o.fileKey, fileKey)
  for (const [id, dek] of disks) assert.deepEqual(o.disks.get(id), dek)
  const again = rewrapBundle(moved, newKek, kek, { providerId: 'other', kekId: 'k9' })
  assert.deepEqual(describeBundle(again).providerId, 'other')
  assert.throws(() => rewrapBundle(bundle, newKek, kek), { code: 'ERR_BUNDLE_WRONG_KEK' })
})

test('describe shows ids and sizes, never key material', () => {
  const { fileKey, disks, bundle } = fixture()
  const d = describeBundle(bundle)
  assert.deepEqual(
    {
      format: d.format,
      version: d.version,
      cipher: d.cipher,
      providerId: d.providerId,
      kekId: d.kekId,
    },
    {
      format: 'ward-vm-key-bundle',
      version: 1,
      cipher: 'aes-256-gcm',
      providerId: 'kms-cluster-1',
      kekId: 'kek-0001',
    },
  )
  const text = JSON.stringify(d)
  for (const k of [fileKey, ...disks.values()]) assert.ok(!text.includes(hex(k)))
  assert.ok(!Buffer.from(bundle).includes(Buffer.from(fileKey)))
})

test('invalid keys and ids are refused with ERR_BUNDLE_KEY_INVALID', () => {
  const kek = rnd(32)
  const ok = { providerId: 'p', kekId: 'k', fileKey: rnd(32), disks: new Map([['d', rnd(64)]]) }
  const halves = new Uint8Array(64)
  halves.fill(5)
  const bad = [
    { ...ok, fileKey: rnd(31) },
    { ...ok, disks: new Map([['d', rnd(32)]]) },
    { ...ok, disks: new Map([['d', halves]]) },
    { ...ok, disks: new Map([['', rnd(64)]]) },
    { ...ok, disks: new Map([['x'.repeat(256), rnd(64)]]) },
    { ...ok, providerId: '' },
    { ...ok, kekId: 'k'.repeat(256) },
  ]
  for (const input of bad)
    assert.throws(() => sealBundle(input, kek), { code: 'ERR_BUNDLE_KEY_INVALID' })
  assert.throws(() => sealBundle(ok, rnd(16)), { code: 'ERR_BUNDLE_KEY_INVALID' })
  assert.throws(() => openBundle(sealBundle(ok, kek), rnd(24)), { code: 'ERR_BUNDLE_KEY_INVALID' })
})

test('base64 text form round-trips and rejects bad text', () => {
  const { kek, bundle } = fixture()
  const text = bundleToBase64(bundle)
  assert.deepEqual(openBundle(bundleFromBase64(text), kek).kekId, 'kek-0001')
  for (const bad of [text.slice(1), `${text}!`, `${text} `, 'ab=c', '===='])
    assert.throws(() => bundleFromBase64(bad), { code: 'ERR_BUNDLE_FORMAT' })
})
