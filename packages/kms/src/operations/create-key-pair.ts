import { generateKeyPair } from 'node:crypto'
import { promisify } from 'node:util'
import { KmsError, invalidField } from '../errors.js'
import { toAttrs } from '../model/attributes.js'
import {
  newObject,
  saveObjects,
  sealMaterial,
  setAttr,
  markServerGenerated,
} from '../model/object.js'
import type { Attr, ManagedObject, OpContext } from '../model/object.js'
import {
  CreateKeyPairRequest,
  CreateKeyPairResponse,
  CryptographicAlgorithm,
  KeyFormatType,
  ObjectType,
  Operation,
  RecommendedCurve,
  encodeStructure,
  enumeration,
  int,
  Link,
  retag,
  Tag,
} from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'
import { applyInitialAttributes, firstAttr, num } from './initial-attributes.js'
import { defineOperation } from './types.js'

const curves: Record<number, { name: string; bits: number }> = {
  [RecommendedCurve.P_256]: { name: 'prime256v1', bits: 256 },
  [RecommendedCurve.P_384]: { name: 'secp384r1', bits: 384 },
}
const curveByBits = new Map([
  [256, RecommendedCurve.P_256],
  [384, RecommendedCurve.P_384],
])

/** Link attribute value (KMIP 1.4 §3.35). */
export const link = (type: number, id: string): TtlvItem =>
  retag(
    encodeStructure(Link, { linkType: type, linkedObjectIdentifier: id }, { major: 1, minor: 4 }),
    Tag.AttributeValue,
  )
export const LinkType = {
  Certificate: 0x101,
  PublicKey: 0x102,
  PrivateKey: 0x103,
  Replacement: 0x10a,
  Replaced: 0x10b,
} as const

/** Runs in one of the server's key generation slots (crypto/keygen-slots.ts says why). */
const generateAsync = promisify(generateKeyPair)

/** The attributes a key pair is made from (KMIP 1.4 §4.2: common, private-key, public-key). */
export interface KeyPairAttributes {
  readonly common: readonly Attr[]
  readonly privateKey: readonly Attr[]
  readonly publicKey: readonly Attr[]
}

export async function buildKeyPair(
  ctx: OpContext,
  attrs: KeyPairAttributes,
): Promise<[ManagedObject, ManagedObject]> {
  const { common, privateKey: priv, publicKey: pub } = attrs
  const all = [...common, ...priv, ...pub]
  const alg = num(firstAttr(all, 'Cryptographic Algorithm'))
  let len = num(firstAttr(all, 'Cryptographic Length'))
  let pair: { privateKey: Buffer; publicKey: Buffer }
  let storedAlg: number
  if (alg === CryptographicAlgorithm.RSA) {
    len ??= 2048
    if (![2048, 3072, 4096].includes(len))
      throw invalidField(`RSA length ${len} is not supported (2048, 3072, 4096)`)
    const modulusLength = len
    pair = await ctx.runtime.keygen.run(() =>
      generateAsync('rsa', {
        modulusLength,
        publicExponent: 65537,
        privateKeyEncoding: { format: 'der', type: 'pkcs8' },
        publicKeyEncoding: { format: 'der', type: 'spki' },
      }),
    )
    storedAlg = alg
  } else if (alg === CryptographicAlgorithm.EC || alg === CryptographicAlgorithm.ECDSA) {
    const dp = firstAttr(all, 'Cryptographic Domain Parameters')
    const rc =
      dp?.type === 'Structure'
        ? num(dp.value.find((c) => c.tag === Tag.RecommendedCurve))
        : undefined
    const curve = curves[rc ?? curveByBits.get(len ?? 256) ?? 0]
    if (curve === undefined)
      throw invalidField(
        'EC keys: curve P-256 or P-384 (Cryptographic Length 256/384 or Recommended Curve)',
      )
    len = curve.bits
    pair = await ctx.runtime.keygen.run(() =>
      generateAsync('ec', {
        namedCurve: curve.name,
        privateKeyEncoding: { format: 'der', type: 'pkcs8' },
        publicKeyEncoding: { format: 'der', type: 'spki' },
      }),
    )
    storedAlg = alg
  } else if (alg === undefined)
    throw new KmsError('ERR_KMS_MISSING_DATA', 'Cryptographic Algorithm RSA or EC is required')
  else throw invalidField(`Cryptographic Algorithm ${alg} cannot make a key pair: use RSA or EC`)
  const allowed = new Set(['Cryptographic Algorithm', 'Cryptographic Length'])
  const sk = newObject(ctx, ObjectType.PrivateKey)
  const pk = newObject(ctx, ObjectType.PublicKey)
  applyInitialAttributes(sk, [...common, ...priv], allowed)
  applyInitialAttributes(pk, [...common, ...pub], allowed)
  for (const o of [sk, pk]) {
    setAttr(o, 'Cryptographic Algorithm', enumeration(Tag.AttributeValue, storedAlg))
    setAttr(o, 'Cryptographic Length', int(Tag.AttributeValue, len))
    markServerGenerated(o)
  }
  sk.attrs.push({ name: 'Link', value: link(LinkType.PublicKey, pk.id) })
  pk.attrs.push({ name: 'Link', value: link(LinkType.PrivateKey, sk.id) })
  sealMaterial(ctx, sk, pair.privateKey, KeyFormatType.PKCS_8)
  sealMaterial(ctx, pk, pair.publicKey, KeyFormatType.X_509)
  pair.privateKey.fill(0)
  return [sk, pk]
}

/** KMIP 1.4 §4.2 Create Key Pair: RSA 2048/3072/4096, EC P-256/P-384. */
export const createKeyPair = defineOperation({
  code: Operation.CreateKeyPair,
  privilege: 'create-key-pair',
  request: CreateKeyPairRequest,
  response: CreateKeyPairResponse,
  async handle(ctx, request) {
    const [sk, pk] = await buildKeyPair(ctx, {
      common: toAttrs(request.commonAttributes),
      privateKey: toAttrs(request.privateKeyAttributes),
      publicKey: toAttrs(request.publicKeyAttributes),
    })
    await saveObjects(ctx, [sk, pk])
    return {
      objectId: sk.id,
      payload: { privateKeyUniqueIdentifier: sk.id, publicKeyUniqueIdentifier: pk.id },
    }
  },
})
