/**
 * Key material ↔ KMIP objects. Canonical stored forms: symmetric and secret bytes Raw, private
 * keys PKCS#8 DER, public keys SPKI DER; anything else (certificates, opaque, split keys, keys
 * registered wrapped or in an unparsed format) is stored as the whole object's TTLV bytes and
 * returned as registered. Key Block layout: KMIP 1.4 §2.1.3, Key Value §2.1.4.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { KmsError, invalidField, notSupported } from '../errors.js'
import {
  CryptographicAlgorithm,
  KeyBlock,
  KeyFormatType,
  KeyValue,
  ObjectType,
  PrivateKey,
  PublicKey,
  RecommendedCurve,
  SecretData,
  SymmetricKey,
  TransparentECPrivateKey,
  TransparentECPublicKey,
  TransparentRSAPrivateKey,
  TransparentRSAPublicKey,
  TransparentSymmetricKey,
  bytes,
  decodeStructure,
  encodeStructure,
  find,
  retag,
  Tag,
  decodeTtlv,
  encodeTtlv,
  KmipError,
} from '@ward/kmip'
import type { PayloadInput, TtlvItem } from '@ward/kmip'
import { AS_REGISTERED, attrScalar } from './object.js'
import type { ManagedObject } from './object.js'

export const objectTag: Record<number, number> = {
  [ObjectType.Certificate]: Tag.Certificate,
  [ObjectType.SymmetricKey]: Tag.SymmetricKey,
  [ObjectType.PublicKey]: Tag.PublicKey,
  [ObjectType.PrivateKey]: Tag.PrivateKey,
  [ObjectType.SplitKey]: Tag.SplitKey,
  [ObjectType.Template]: Tag.Template,
  [ObjectType.SecretData]: Tag.SecretData,
  [ObjectType.OpaqueObject]: Tag.OpaqueObject,
  [ObjectType.PGPKey]: Tag.PGPKey,
}

const b64u = (s: string | undefined): bigint =>
  s === undefined ? 0n : BigInt(`0x${Buffer.from(s, 'base64url').toString('hex') || '0'}`)
const unb = (v: bigint, len?: number): Buffer => {
  let h = v.toString(16)
  if (h.length % 2) h = `0${h}`
  const b = Buffer.from(h, 'hex')
  return len !== undefined && b.length < len ? Buffer.concat([Buffer.alloc(len - b.length), b]) : b
}

const curveName: Record<number, string> = {
  [RecommendedCurve.P_256]: 'P-256',
  [RecommendedCurve.P_384]: 'P-384',
  [RecommendedCurve.P_521]: 'P-521',
}
const curveByJwk = new Map(Object.entries(curveName).map(([k, v]) => [v, Number(k)]))

export const privateKeyObject = (m: Buffer): KeyObject =>
  createPrivateKey({ key: m, format: 'der', type: 'pkcs8' })
export const publicKeyObject = (m: Buffer): KeyObject =>
  createPublicKey({ key: m, format: 'der', type: 'spki' })

/** Objects and their parts read and write alike in every version. */
const ANY = { major: 1, minor: 4 } as const

/** A Key Block as @ward/kmip's declaration takes it. */
export type KeyBlockInput = PayloadInput<typeof KeyBlock>

/** Key Material for the requested format (Transparent formats per KMIP 1.4 §2.1.7). */
function keyMaterial(o: ManagedObject, m: Buffer, format: number): TtlvItem {
  const KM = Tag.KeyMaterial
  switch (o.objectType) {
    case ObjectType.SymmetricKey:
    case ObjectType.SecretData:
      if (format === KeyFormatType.Raw || format === KeyFormatType.Opaque)
        return bytes(KM, Buffer.from(m))
      if (format === KeyFormatType.TransparentSymmetricKey)
        return encodeStructure(TransparentSymmetricKey, { key: Buffer.from(m) }, ANY)
      break
    case ObjectType.PrivateKey: {
      const k = privateKeyObject(m)
      if (format === KeyFormatType.PKCS_8) return bytes(KM, Buffer.from(m))
      if (k.asymmetricKeyType === 'rsa') {
        if (format === KeyFormatType.PKCS_1)
          return bytes(KM, k.export({ format: 'der', type: 'pkcs1' }))
        if (format === KeyFormatType.TransparentRSAPrivateKey) {
          const j = k.export({ format: 'jwk' })
          return encodeStructure(
            TransparentRSAPrivateKey,
            {
              modulus: b64u(j.n),
              privateExponent: b64u(j.d),
              publicExponent: b64u(j.e),
              p: b64u(j.p),
              q: b64u(j.q),
              primeExponentP: b64u(j.dp),
              primeExponentQ: b64u(j.dq),
              crtCoefficient: b64u(j.qi),
            },
            ANY,
          )
        }
      } else if (k.asymmetricKeyType === 'ec') {
        if (format === KeyFormatType.ECPrivateKey)
          return bytes(KM, k.export({ format: 'der', type: 'sec1' }))
        if (format === KeyFormatType.TransparentECPrivateKey) {
          const j = k.export({ format: 'jwk' })
          return encodeStructure(
            TransparentECPrivateKey,
            { recommendedCurve: curveByJwk.get(j.crv ?? '') ?? 0, d: b64u(j.d) },
            ANY,
          )
        }
      }
      break
    }
    case ObjectType.PublicKey: {
      const k = publicKeyObject(m)
      if (format === KeyFormatType.X_509) return bytes(KM, Buffer.from(m))
      if (k.asymmetricKeyType === 'rsa') {
        if (format === KeyFormatType.PKCS_1)
          return bytes(KM, k.export({ format: 'der', type: 'pkcs1' }))
        if (format === KeyFormatType.TransparentRSAPublicKey) {
          const j = k.export({ format: 'jwk' })
          return encodeStructure(
            TransparentRSAPublicKey,
            { modulus: b64u(j.n), publicExponent: b64u(j.e) },
            ANY,
          )
        }
      } else if (k.asymmetricKeyType === 'ec' && format === KeyFormatType.TransparentECPublicKey) {
        const j = k.export({ format: 'jwk' })
        const size = j.crv === 'P-384' ? 48 : j.crv === 'P-521' ? 66 : 32
        const q = Buffer.concat([Buffer.from([4]), unb(b64u(j.x), size), unb(b64u(j.y), size)])
        return encodeStructure(
          TransparentECPublicKey,
          { recommendedCurve: curveByJwk.get(j.crv ?? '') ?? 0, qString: q },
          ANY,
        )
      }
      break
    }
  }
  throw new KmsError(
    'ERR_KMS_KEY_FORMAT',
    `key format type ${format} is not available for this object`,
  )
}

/** Default Key Format Type per object (what PyKMIP and vCenter expect back). */
export function defaultFormat(o: ManagedObject, m: Buffer): number {
  switch (o.objectType) {
    case ObjectType.SymmetricKey:
      return KeyFormatType.Raw
    case ObjectType.SecretData:
      return KeyFormatType.Opaque
    case ObjectType.PrivateKey:
      return privateKeyObject(m).asymmetricKeyType === 'rsa'
        ? KeyFormatType.PKCS_1
        : KeyFormatType.PKCS_8
    case ObjectType.PublicKey:
      return publicKeyObject(m).asymmetricKeyType === 'rsa'
        ? KeyFormatType.PKCS_1
        : KeyFormatType.X_509
    default:
      return KeyFormatType.Raw
  }
}

/** The Key Block for `o` in `format`; `wrap` replaces the Key Value by wrapped bytes. */
export function keyBlock(
  o: ManagedObject,
  m: Buffer,
  format: number,
  wrap?: { wrapped: Uint8Array; wrappingData: TtlvItem },
): KeyBlockInput {
  const alg = attrScalar(o, 'Cryptographic Algorithm')
  const len = attrScalar(o, 'Cryptographic Length')
  return {
    keyFormatType: format,
    keyValue:
      wrap === undefined
        ? encodeStructure(KeyValue, { keyMaterial: keyMaterial(o, m, format) }, ANY)
        : bytes(Tag.KeyValue, wrap.wrapped),
    cryptographicAlgorithm: typeof alg === 'number' ? alg : undefined,
    cryptographicLength: typeof len === 'number' ? len : undefined,
    keyWrappingData: wrap?.wrappingData,
  }
}

/**
 * Bytes a wrap covers (KMIP 1.4 §2.1.5 Encoding Option): the Key Value TTLV, or with `none` the
 * bare Key Material.
 */
export function keyValueBytes(
  o: ManagedObject,
  m: Buffer,
  wrap: { readonly format: number; readonly encoding: 'ttlv' | 'none' },
): Buffer {
  const km = keyMaterial(o, m, wrap.format)
  if (wrap.encoding === 'none') {
    if (km.type !== 'ByteString') throw notSupported('No Encoding needs a byte-string key format')
    return Buffer.from(km.value)
  }
  return Buffer.from(encodeTtlv(encodeStructure(KeyValue, { keyMaterial: km }, ANY)))
}

/** Objects kept as key material (not as registered), by Object Type. */
const keyObjects: Readonly<Record<number, typeof SymmetricKey>> = {
  [ObjectType.SymmetricKey]: SymmetricKey,
  [ObjectType.PrivateKey]: PrivateKey,
  [ObjectType.PublicKey]: PublicKey,
}

/** The whole object structure for Get. */
export function renderObject(
  o: ManagedObject,
  m: Buffer,
  block: KeyBlockInput | undefined,
): TtlvItem {
  // Sealed by this server (so authenticated), possibly before Big Integers were bounded at 8 KiB
  if (o.format === AS_REGISTERED || block === undefined)
    return decodeTtlv(m, { maxBigIntegerBytes: 1 << 20 })
  if (o.objectType === ObjectType.SecretData)
    return encodeStructure(SecretData, { secretDataType: 1, keyBlock: block }, ANY)
  const schema = keyObjects[o.objectType]
  const item = encodeStructure(schema ?? SymmetricKey, { keyBlock: block }, ANY)
  return schema === undefined ? retag(item, objectTag[o.objectType]!) : item
}

export interface ParsedMaterial {
  readonly material: Buffer
  readonly format: number
  /** The Key Format Type the object was registered in (its Key Block's), if it has one. */
  readonly registeredFormat?: number
  readonly algorithm?: number
  readonly length?: number
}

/** Register: bring a supplied object to the canonical stored form (or keep it as registered). */
export function parseObject(objectType: number, obj: TtlvItem): ParsedMaterial {
  const asIs = (): ParsedMaterial => ({
    material: Buffer.from(encodeTtlv(obj)),
    format: AS_REGISTERED,
  })
  // Every key object (Symmetric, Private, Public Key, Secret Data...) carries one Key Block
  const blockItem = find(obj, Tag.KeyBlock)
  if (blockItem === undefined) return asIs()
  const block = decodeStructure(KeyBlock, blockItem, ANY)
  const fmt = block.keyFormatType
  const alg = block.cryptographicAlgorithm
  const len = block.cryptographicLength
  if (block.keyWrappingData !== undefined) return { ...asIs(), registeredFormat: fmt }
  const kv = block.keyValue
  const km =
    kv?.type === 'Structure' && find(kv, Tag.KeyMaterial) !== undefined
      ? decodeStructure(KeyValue, kv, ANY).keyMaterial
      : undefined
  if (km === undefined) throw invalidField('Key Block has no Key Material')
  const meta = {
    registeredFormat: fmt,
    ...(alg !== undefined ? { algorithm: alg } : {}),
    ...(len !== undefined ? { length: len } : {}),
  }
  try {
    if (objectType === ObjectType.SymmetricKey) {
      if (km.type === 'ByteString' && (fmt === KeyFormatType.Raw || fmt === KeyFormatType.Opaque))
        return {
          material: Buffer.from(km.value),
          format: KeyFormatType.Raw,
          ...meta,
          length: len ?? km.value.length * 8,
        }
      if (km.type === 'Structure' && fmt === KeyFormatType.TransparentSymmetricKey) {
        const k = decodeStructure(TransparentSymmetricKey, km, ANY).key
        return {
          material: Buffer.from(k),
          format: KeyFormatType.Raw,
          ...meta,
          length: len ?? k.length * 8,
        }
      }
    }
    if (objectType === ObjectType.PrivateKey && km.type === 'ByteString') {
      const type =
        fmt === KeyFormatType.PKCS_1
          ? 'pkcs1'
          : fmt === KeyFormatType.ECPrivateKey
            ? 'sec1'
            : fmt === KeyFormatType.PKCS_8
              ? 'pkcs8'
              : undefined
      if (type !== undefined) {
        const k = createPrivateKey({ key: Buffer.from(km.value), format: 'der', type })
        checkKeySize(k)
        return {
          material: k.export({ format: 'der', type: 'pkcs8' }),
          format: KeyFormatType.PKCS_8,
          ...meta,
          ...asymMeta(k),
        }
      }
    }
    if (objectType === ObjectType.PublicKey && km.type === 'ByteString') {
      const type =
        fmt === KeyFormatType.PKCS_1 ? 'pkcs1' : fmt === KeyFormatType.X_509 ? 'spki' : undefined
      if (type !== undefined) {
        const k = createPublicKey({ key: Buffer.from(km.value), format: 'der', type })
        checkKeySize(k)
        return {
          material: k.export({ format: 'der', type: 'spki' }),
          format: KeyFormatType.X_509,
          ...meta,
          ...asymMeta(k),
        }
      }
    }
  } catch (e) {
    if (e instanceof KmsError || e instanceof KmipError) throw e
    throw new KmsError(
      'ERR_KMS_BAD_KEY',
      'the supplied key material does not parse in the stated Key Format Type',
      { cause: e },
    )
  }
  return { ...asIs(), ...meta }
}

/**
 * Largest RSA modulus (or DSA prime) accepted: 8192 bits. A private-key operation costs the cube
 * of the size and runs on the event loop (per-signature times: bench/README.md, "Figures from
 * source comments"), and Create Key Pair makes at most 4096 bits; OpenSSL itself refuses public-key
 * operations above 16384 bits.
 */
export const MAX_MODULUS_BITS = 8192

function checkKeySize(k: KeyObject): void {
  const bits = k.asymmetricKeyDetails?.modulusLength
  if (bits !== undefined && bits > MAX_MODULUS_BITS)
    throw notSupported(
      `${k.asymmetricKeyType ?? 'asymmetric'} keys of ${bits} bits are not supported (at most ${MAX_MODULUS_BITS})`,
    )
}

function asymMeta(k: KeyObject): { algorithm: number; length: number } {
  const d = k.asymmetricKeyDetails
  if (k.asymmetricKeyType === 'rsa')
    return { algorithm: CryptographicAlgorithm.RSA, length: d?.modulusLength ?? 0 }
  const bits = d?.namedCurve === 'secp384r1' ? 384 : d?.namedCurve === 'secp521r1' ? 521 : 256
  return { algorithm: CryptographicAlgorithm.EC, length: bits }
}
