import { KmsError, invalidField } from '../errors.js'
import { toAttrs } from '../model/attributes.js'
import {
  markServerGenerated,
  newObject,
  saveObjects,
  sealMaterial,
  setAttr,
} from '../model/object.js'
import type { ManagedObject, OpContext } from '../model/object.js'
import {
  encodeTtlv,
  CryptographicAlgorithm,
  KeyFormatType,
  ObjectType,
  CreateRequest,
  CreateResponse,
  Operation,
  bytes,
  encodeStructure,
  enumeration,
  int,
  KeyValue,
  SecretData,
  Tag,
} from '@ward/kmip'
import { AS_REGISTERED } from '../model/object.js'
import type { Attr } from '../model/object.js'
import { applyInitialAttributes, firstAttr, num } from './initial-attributes.js'
import { defineOperation } from './types.js'

const creatable = new Set(['Cryptographic Algorithm', 'Cryptographic Length'])

/** Symmetric algorithms Create accepts, with allowed lengths in bits. */
const symmetric: Record<number, readonly number[]> = {
  [CryptographicAlgorithm.AES]: [128, 192, 256],
  // Two- and three-key Triple DES (SP 800-67): 16 or 24 key bytes, parity bits counted out
  [CryptographicAlgorithm.DES3]: [112, 168],
  [CryptographicAlgorithm.HMAC_SHA256]: [256, 512],
  [CryptographicAlgorithm.HMAC_SHA384]: [384],
  [CryptographicAlgorithm.HMAC_SHA512]: [512, 1024],
}

/** Triple DES key bytes (8 per 56 key bits) with odd parity in each byte's low bit (FIPS 46-3). */
function desKey(ctx: OpContext, bits: number): Buffer {
  const key = ctx.runtime.random.bytes((bits / 56) * 8)
  for (let i = 0; i < key.length; i++) {
    const b = key[i]! & 0xfe
    let ones = 0
    for (let x = b; x !== 0; x >>= 1) ones += x & 1
    key[i] = b | (ones % 2 === 0 ? 1 : 0)
  }
  return key
}

/** Generate a symmetric key object from attributes (also used by ReKey). */
export function buildSymmetric(ctx: OpContext, attrs: readonly Attr[]): ManagedObject {
  const alg = num(firstAttr(attrs, 'Cryptographic Algorithm'))
  if (alg === undefined)
    throw new KmsError('ERR_KMS_MISSING_DATA', 'Cryptographic Algorithm is required')
  const lengths = symmetric[alg]
  if (lengths === undefined)
    throw invalidField(
      `cryptographic algorithm ${alg} is not supported for symmetric keys (AES, 3DES, HMAC-SHA256/384/512)`,
    )
  const len = num(firstAttr(attrs, 'Cryptographic Length')) ?? lengths[lengths.length - 1]!
  if (!lengths.includes(len))
    throw invalidField(
      `cryptographic length ${len} is not valid for algorithm ${alg} (${lengths.join(', ')})`,
    )
  const o = newObject(ctx, ObjectType.SymmetricKey)
  applyInitialAttributes(o, attrs, creatable)
  setAttr(o, 'Cryptographic Algorithm', enumeration(Tag.AttributeValue, alg))
  setAttr(o, 'Cryptographic Length', int(Tag.AttributeValue, len))
  const key =
    alg === CryptographicAlgorithm.DES3 ? desKey(ctx, len) : ctx.runtime.random.bytes(len / 8)
  markServerGenerated(o)
  sealMaterial(ctx, o, key, KeyFormatType.Raw)
  key.fill(0)
  return o
}

function buildSecretData(ctx: OpContext, attrs: readonly Attr[]): ManagedObject {
  const bits = num(firstAttr(attrs, 'Cryptographic Length')) ?? 256
  if (bits % 8 !== 0 || bits < 64 || bits > 8192)
    throw invalidField('secret data length must be 64-8192 bits, a multiple of 8')
  const o = newObject(ctx, ObjectType.SecretData)
  applyInitialAttributes(
    o,
    attrs.filter((a) => a.name !== 'Cryptographic Length'),
    creatable,
  )
  const secret = ctx.runtime.random.bytes(bits / 8)
  markServerGenerated(o)
  const obj = encodeStructure(
    SecretData,
    {
      secretDataType: 2,
      keyBlock: {
        keyFormatType: KeyFormatType.Opaque,
        keyValue: encodeStructure(KeyValue, { keyMaterial: bytes(Tag.KeyMaterial, secret) }, ctx),
      },
    },
    ctx,
  )
  const enc = encodeTtlv(obj)
  sealMaterial(ctx, o, enc, AS_REGISTERED)
  enc.fill(0)
  secret.fill(0)
  return o
}

/** KMIP 1.4 §4.1 Create: symmetric keys (AES, HMAC) and secret data. */
export const create = defineOperation({
  code: Operation.Create,
  privilege: 'create',
  request: CreateRequest,
  response: CreateResponse,
  async handle(ctx, request) {
    const type = request.objectType
    const attrs = toAttrs(request.attributes)
    let o: ManagedObject
    if (type === ObjectType.SymmetricKey) o = buildSymmetric(ctx, attrs)
    else if (type === ObjectType.SecretData) o = buildSecretData(ctx, attrs)
    else throw invalidField(`Create of object type ${type}: use CreateKeyPair or Register`)
    await saveObjects(ctx, [o])
    return { objectId: o.id, payload: { objectType: type, uniqueIdentifier: o.id } }
  },
})
