import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { hkdfSync, randomBytes } from 'node:crypto'
import { Secret } from '@ward/core'
import { KeyCache } from '../../src/keys/key-cache.js'
import { KDK_PROVIDER, deriveKek, kdkInfo, nkpResolver } from '../../src/keys/kdk.js'

describe('native key provider KEK derivation (keys/kdk.ts)', () => {
  it('HKDF-SHA256 over "ward-nkp/v1" ‖ 0 ‖ provider ‖ 0 ‖ KEK id, as docs/formats.md says', () => {
    const kdk = randomBytes(32)
    const expect = Buffer.from(
      hkdfSync('sha256', kdk, Buffer.alloc(0), Buffer.from('ward-nkp/v1\0nkp-a\0kek-1'), 32),
    )
    assert.deepEqual(kdkInfo('nkp-a', 'kek-1'), Buffer.from('ward-nkp/v1\0nkp-a\0kek-1'))
    assert.deepEqual(Buffer.from(deriveKek(kdk, 'nkp-a', 'kek-1').use((k) => k.slice())), expect)
    // another provider or key id: another KEK
    const other = deriveKek(kdk, 'nkp-b', 'kek-1').use((k) => Buffer.from(k))
    assert.notDeepEqual(other, expect)
    assert.throws(() => deriveKek(randomBytes(16), 'p', 'k'), { code: 'ERR_HOST_BAD_ARGUMENT' })
  })

  it('the cache derives a missing KEK of a provider whose KDK it holds, and only then', () => {
    const cache = new KeyCache()
    cache.resolve(nkpResolver)
    const added: string[] = []
    cache.observe({ added: (e) => added.push(...e.map((x) => x.kekId)), removed: () => undefined })
    assert.equal(cache.has('nkp-a', 'kek-1'), false)
    assert.throws(() => cache.use('nkp-a', 'kek-1', () => 0), { code: 'ERR_HOST_KEY_NOT_FOUND' })
    const kdk = randomBytes(32)
    cache.add(KDK_PROVIDER, 'nkp-a', new Secret(new Uint8Array(kdk)))
    assert.equal(cache.has('nkp-a', 'kek-1'), true)
    const got = cache.use('nkp-a', 'kek-1', (k) => Buffer.from(k))
    assert.deepEqual(
      got,
      deriveKek(kdk, 'nkp-a', 'kek-1').use((k) => Buffer.from(k)),
    )
    // derived keys are added like pushed ones (the observer persists them)
    assert.deepEqual(added, ['nkp-a', 'kek-1'])
    // another provider is not derived from this KDK; the KDK itself is never "derived"
    assert.equal(cache.has('nkp-b', 'kek-1'), false)
    assert.equal(cache.has(KDK_PROVIDER, 'nkp-b'), false)
    // without the KDK, a key not derived yet stays missing
    cache.remove(KDK_PROVIDER, 'nkp-a')
    assert.equal(cache.has('nkp-a', 'kek-2'), false)
    assert.equal(cache.has('nkp-a', 'kek-1'), true, 'a derived key stays cached')
  })
})
