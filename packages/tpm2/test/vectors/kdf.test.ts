import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { kdfA, kdfE, type HashName } from '../../src/index.js'

const base = new URL('../../../test/vectors/data/', import.meta.url)
const load = <T>(name: string): T[] => JSON.parse(readFileSync(new URL(name, base), 'utf8')) as T[]
const hex = (s: string): Buffer => Buffer.from(s, 'hex')

interface KdfaVector {
  name: string
  source: string
  hash: HashName
  key: string
  label: string
  contextU: string
  contextV: string
  bits: number
  result: string
}
interface KdfeVector {
  name: string
  source: string
  hash: HashName
  z: string
  label: string
  partyUInfo: string
  partyVInfo: string
  bits: number
  result: string
}

for (const file of ['kdfa-tcg-selftest.json', 'kdfa-openssl.json'])
  for (const v of load<KdfaVector>(file))
    test(`KDFa ${v.name} [${v.source}]`, () => {
      const out = kdfA(v.hash, hex(v.key), v.label, hex(v.contextU), hex(v.contextV), v.bits)
      assert.equal(out.toString('hex'), v.result)
    })

for (const v of load<KdfeVector>('kdfe-openssl.json'))
  test(`KDFe ${v.name} [${v.source}]`, () => {
    const out = kdfE(v.hash, hex(v.z), v.label, hex(v.partyUInfo), hex(v.partyVInfo), v.bits)
    assert.equal(out.toString('hex'), v.result)
  })

test('KDFa: a label that already ends in NUL is not terminated twice', () => {
  const a = kdfA('sha256', hex('01'), 'ATH', hex(''), hex(''), 256)
  const b = kdfA('sha256', hex('01'), 'ATH\0', hex(''), hex(''), 256)
  assert.deepEqual(a, b)
})

test('KDFa/KDFe: bit lengths that are not whole bytes clear the excess top bits (Part 1 §11.4.10)', () => {
  for (const bits of [1, 7, 9, 15, 255]) {
    const a = kdfA('sha256', hex('0102'), 'CFB', hex('aa'), hex('bb'), bits)
    const e = kdfE('sha256', hex('0102'), 'CFB', hex('aa'), hex('bb'), bits)
    for (const out of [a, e]) {
      assert.equal(out.length, Math.ceil(bits / 8))
      assert.ok(out[0]! < 2 ** (bits % 8 || 8))
    }
  }
})

test('KDFa rejects absurd lengths with a coded error', () => {
  assert.throws(() => kdfA('sha256', hex('01'), 'X', hex(''), hex(''), 0), { code: 'ERR_TPM_ARG' })
  assert.throws(() => kdfE('sha256', hex('01'), 'X', hex(''), hex(''), 1e9), {
    code: 'ERR_TPM_ARG',
  })
})
