// Streaming Encrypt/Decrypt contexts and their registry (src/crypto/streams.ts).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { StreamRegistry, openStream } from '../../src/crypto/streams.js'
import { encryptOnce } from '../../src/crypto/symmetric.js'
import type { CipherSpec } from '../../src/crypto/symmetric.js'

const h = (s: string): Buffer => Buffer.from(s, 'hex')
const code = (c: string) => (e: unknown) => {
  assert.equal((e as { code?: string }).code, c)
  return true
}

// GCM spec test case 5 (the OASIS CS-BC-M-GCM-3 stream: 32 bytes, then 28 bytes with Final).
const K = h('feffe9928665731c6d6a8f9467308308')
const IV = h('cafebabefacedbad')
const AAD = h('feedfacedeadbeeffeedfacedeadbeefabaddad2')
const PT = h(
  'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
)
const GCM: CipherSpec = { algorithm: 'AES', mode: 'GCM', padding: 'None', tagLength: 16 }

test('GCM stream through the registry gives the one-shot answer', () => {
  const reg = new StreamRegistry()
  const s = openStream({
    direction: 'enc',
    spec: GCM,
    key: K,
    iv: IV,
    aad: AAD,
    owner: 'alice',
    objectId: 'k1',
  })
  const a = s.update(PT.subarray(0, 32))
  assert.equal(
    a.toString('hex'),
    '61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c7423',
  )
  const corr = reg.add(s)
  assert.equal(corr.length, 16)
  const again = reg.get(corr, 'alice', 'k1', 'enc')
  const b = again.final(PT.subarray(32))
  reg.delete(corr)
  assert.equal(b.data.toString('hex'), '73806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598')
  assert.equal(b.tag?.toString('hex'), '3612d2e79e3b0785561be14aaca2fccb')
  assert.throws(() => reg.get(corr, 'alice', 'k1', 'enc'), code('ERR_KMS_STREAM'))
  assert.throws(() => again.update(PT), code('ERR_KMS_STREAM'))
  // Decrypt stream, tag given at Final; a wrong tag fails.
  const ct = Buffer.concat([a, b.data])
  const d = openStream({
    direction: 'dec',
    spec: GCM,
    key: K,
    iv: IV,
    aad: AAD,
    owner: 'alice',
    objectId: 'k1',
  })
  const p1 = d.update(ct.subarray(0, 7))
  const p2 = d.final(ct.subarray(7), b.tag!)
  assert.deepEqual(Buffer.concat([p1, p2.data]), PT)
  const d2 = openStream({
    direction: 'dec',
    spec: GCM,
    key: K,
    iv: IV,
    aad: AAD,
    owner: 'alice',
    objectId: 'k1',
  })
  d2.update(ct)
  assert.throws(() => d2.final(Buffer.alloc(0), Buffer.alloc(16)), code('ERR_KMS_CRYPTO'))
  const d3 = openStream({
    direction: 'dec',
    spec: GCM,
    key: K,
    iv: IV,
    aad: AAD,
    owner: 'alice',
    objectId: 'k1',
  })
  assert.throws(() => d3.final(ct), code('ERR_KMS_MISSING_DATA'))
})

test('CBC/PKCS5 stream in odd chunks equals one-shot; CCM cannot stream', () => {
  const spec: CipherSpec = { algorithm: 'AES', mode: 'CBC', padding: 'PKCS5' }
  const iv = Buffer.alloc(16, 7)
  const one = encryptOnce(spec, K, PT, { iv }).data
  const s = openStream({ direction: 'enc', spec, key: K, iv, owner: 'a', objectId: 'k' })
  const parts = [
    s.update(PT.subarray(0, 5)),
    s.update(PT.subarray(5, 40)),
    s.final(PT.subarray(40)).data,
  ]
  assert.deepEqual(Buffer.concat(parts), one)
  const d = openStream({ direction: 'dec', spec, key: K, iv, owner: 'a', objectId: 'k' })
  assert.deepEqual(
    Buffer.concat([d.update(one.subarray(0, 33)), d.final(one.subarray(33)).data]),
    PT,
  )
  assert.throws(
    () =>
      openStream({
        direction: 'enc',
        spec: { ...spec, mode: 'CCM' },
        key: K,
        iv: Buffer.alloc(12),
        owner: 'a',
        objectId: 'k',
      }),
    code('ERR_KMS_NOT_SUPPORTED'),
  )
  assert.throws(
    () => openStream({ direction: 'dec', spec, key: K, owner: 'a', objectId: 'k' }),
    code('ERR_KMS_MISSING_IV'),
  )
})

test('registry: owner, object and direction bound; idle expiry; count limit', () => {
  let now = 1000
  const reg = new StreamRegistry({ maxStreams: 2, idleMs: 100, now: () => now })
  const mk = () =>
    openStream({ direction: 'enc', spec: GCM, key: K, iv: IV, owner: 'alice', objectId: 'k1' })
  const c1 = reg.add(mk())
  assert.throws(() => reg.get(c1, 'bob', 'k1', 'enc'), code('ERR_KMS_STREAM'))
  assert.throws(() => reg.get(c1, 'alice', 'k2', 'enc'), code('ERR_KMS_STREAM'))
  assert.throws(() => reg.get(c1, 'alice', 'k1', 'dec'), code('ERR_KMS_STREAM'))
  assert.throws(() => reg.get(Buffer.alloc(16), 'alice', 'k1', 'enc'), code('ERR_KMS_STREAM'))
  now += 60
  const c2 = reg.add(mk())
  assert.equal(reg.size, 2)
  assert.throws(() => reg.add(mk()), code('ERR_KMS_STREAM_LIMIT'))
  now += 41 // c1 idle for 101 ms, c2 for 41 ms
  assert.equal(reg.sweep(), 1)
  assert.throws(() => reg.get(c1, 'alice', 'k1', 'enc'), code('ERR_KMS_STREAM'))
  now += 50 // c2 idle for 91 ms
  reg.get(c2, 'alice', 'k1', 'enc') // a use restarts the idle clock
  now += 90
  reg.get(c2, 'alice', 'k1', 'enc')
  now += 101
  assert.throws(() => reg.get(c2, 'alice', 'k1', 'enc'), code('ERR_KMS_STREAM'))
  assert.equal(reg.size, 0)
  reg.add(mk())
  reg.start(10)
  reg.close()
  assert.equal(reg.size, 0)
})

test('registry: one identity is held to its own limit (default 64) while others still open streams', () => {
  const reg = new StreamRegistry()
  const mk = (owner: string) =>
    openStream({ direction: 'enc', spec: GCM, key: K, iv: IV, owner, objectId: 'k1' })
  const mine = Array.from({ length: 64 }, () => reg.add(mk('greedy')))
  assert.equal(reg.ownedBy('greedy'), 64)
  assert.throws(
    () => reg.add(mk('greedy')),
    (e: unknown) => {
      assert.equal((e as { code?: string }).code, 'ERR_KMS_STREAM_LIMIT')
      assert.match((e as Error).message, /this identity has 64 open/)
      return true
    },
  )
  // Another identity is not locked out.
  const theirs = reg.add(mk('other'))
  assert.equal(reg.ownedBy('other'), 1)
  // Finishing one of greedy's streams gives its slot back.
  reg.delete(mine[0]!)
  assert.equal(reg.ownedBy('greedy'), 63)
  reg.add(mk('greedy'))
  reg.delete(theirs)
  assert.equal(reg.ownedBy('other'), 0)
  // The limit can be set (ward kms serve --max-streams-per-client), and expiry frees slots too.
  let now = 0
  const small = new StreamRegistry({ idleMs: 10, now: () => now })
  small.setMaxPerOwner(2)
  small.add(mk('a'))
  small.add(mk('a'))
  assert.throws(() => small.add(mk('a')), code('ERR_KMS_STREAM_LIMIT'))
  now += 11
  small.add(mk('a'))
  assert.equal(small.ownedBy('a'), 1)
  reg.close()
  assert.equal(reg.ownedBy('greedy'), 0)
})
