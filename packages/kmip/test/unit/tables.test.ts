import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  Tag,
  tagCount,
  tagNameOf,
  tagByName,
  normalizeName,
  enumerations,
  enumerationCount,
  enumForTag,
  maskForTag,
  Operation,
  ObjectType,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  ResultReason,
  State,
  KeyFormatType,
} from '../../src/index.js'

test('tag table: counts from the registry (1.4: 292, 2.0: +63 less Reserved, 2.1: +4)', () => {
  assert.equal(Object.keys(Tag).length, tagCount)
  assert.equal(tagCount, 292 + 62 + 4)
  assert.equal(enumerationCount, Object.keys(enumerations).length)
  assert.equal(enumerationCount, 62)
})

test('tag table: spot checks against KMIP 1.4 §9.1.3.1 and 2.1 §11.1', () => {
  assert.equal(Tag.ActivationDate, 0x420001)
  assert.equal(Tag.BatchItem, 0x42000f)
  assert.equal(Tag.RequestMessage, 0x420078)
  assert.equal(Tag.ResponseMessage, 0x42007b)
  assert.equal(Tag.UniqueIdentifier, 0x420094)
  assert.equal(Tag.TemplateAttribute, 0x420091)
  assert.equal(Tag.X_509CertificateIdentifier, 0x4200b5)
  assert.equal(Tag.PKCS_12FriendlyName, 0x4200fb)
  assert.equal(Tag.Attributes, 0x420125)
  assert.equal(Tag.PKCS_11Function, 0x42015a)
  assert.equal(Tag.ObjectGroups, 0x420166)
  assert.equal(tagNameOf(0x420094), 'UniqueIdentifier')
  assert.equal(tagNameOf(0x4200ff), 'AuthenticatedEncryptionTag')
  assert.equal(tagNameOf(0x42ffff), undefined)
  assert.equal(tagByName('toString'), undefined)
  assert.equal(tagByName('BatchCount'), 0x42000d)
})

test('enumerations: spot checks (1.4 §9.1.3.2, 2.0 additions)', () => {
  assert.equal(Operation.Create, 1)
  assert.equal(Operation.DiscoverVersions, 0x1e)
  assert.equal(Operation.RNGRetrieve, 0x25)
  assert.equal(Operation.SetAttribute, 0x31)
  assert.equal(ObjectType.SymmetricKey, 2)
  assert.equal(ObjectType.CertificateRequest, 0x0a)
  assert.equal(CryptographicAlgorithm.AES, 3)
  assert.equal(CryptographicAlgorithm.DES3, 2)
  assert.equal(KeyFormatType.PKCS_1, 3)
  assert.equal(KeyFormatType.X_509, 5)
  assert.equal(ResultReason.InvalidMessage, 4)
  assert.equal(ResultReason.GeneralFailure, 0x100)
  assert.equal(State.DestroyedCompromised, 6)
  assert.equal(CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt, 12)
  assert.equal(CryptographicUsageMask.MACGenerate, 0x80)
  assert.equal(enumForTag.get(Tag.ObjectType), ObjectType)
  assert.equal(enumForTag.get(Tag.MaskGeneratorHashingAlgorithm), enumerations.HashingAlgorithm)
  assert.equal(maskForTag.get(Tag.CryptographicUsageMask), CryptographicUsageMask)
})

test('every tag of the KMIP 2.1 spec table (§11.1) is in the generated table with the same value', () => {
  const file = join(
    dirname(fileURLToPath(import.meta.url)),
    '..',
    '..',
    '..',
    'scripts',
    'registry',
    'kmip_2_1_spec_tags.json',
  )
  const spec = (JSON.parse(readFileSync(file, 'utf8')) as { tags: [string, string][] }).tags
  assert.equal(spec.length, 361)
  let checked = 0
  for (const [name, hex] of spec) {
    if (name.startsWith('(Reserved)') || name === 'Reserved') continue
    const value = Number.parseInt(hex, 16)
    assert.equal(tagByName(normalizeName(name)), value, `${name} ${hex}`)
    checked++
  }
  assert.ok(checked > 330, `${checked} tags checked`)
  assert.equal(Operation.SetConstraints, 0x37)
  assert.equal(Operation.Ping, 0x3b)
})
