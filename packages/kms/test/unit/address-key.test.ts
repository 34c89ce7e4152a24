// The per-address connection cap's key (src/server/address-key.ts): IPv4 as is, IPv6 per /64.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { addressKey } from '../../src/server/address-key.js'

test('IPv4 and IPv4-mapped addresses count per address, IPv6 per /64 prefix', () => {
  assert.equal(addressKey('127.0.0.2'), '127.0.0.2')
  assert.equal(addressKey('::ffff:10.1.2.3'), '10.1.2.3')
  assert.equal(addressKey('::FFFF:10.1.2.3'), '10.1.2.3')
  // Every address of one /64 is one key, whatever its spelling.
  const k = '2001:db8:0:1::/64'
  for (const a of [
    '2001:db8:0:1::1',
    '2001:0db8:0000:0001:ffff:ffff:ffff:fffe',
    '2001:db8::1:0:0:0:7',
    'fe80::1%eth0'.replace('fe80::', '2001:db8:0:1::'),
  ])
    assert.equal(addressKey(a), k, a)
  assert.notEqual(addressKey('2001:db8:0:2::1'), k)
  assert.equal(addressKey('::1'), '0:0:0:0::/64')
  assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64')
})
