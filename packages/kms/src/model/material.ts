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
  KeyFormatType,
  ObjectType,
  RecommendedCurve,
  big,
  bytes,
  en,
  find,
  int,
  opt,
  req,
  s,
  Tag,
  decodeTtlv,
  encodeTtlv,
  KmipError,
} from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'
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

/** Key Material for the requested format (Transparent formats per KMIP 1.4 §2.1.7). */
function keyMaterial(o: ManagedObject, m: Buffer, format: number): TtlvItem {
  const KM = Tag.KeyMaterial
  switch (o.objectType) {
    case ObjectType.SymmetricKey:
    case ObjectType.SecretData:
      if (format === KeyFormatType.Raw || format === KeyFormatType.Opaque)
        return bytes(KM, Buffer.from(m))
      if (format === KeyFormatType.TransparentSymmetricKey)
        return s(KM, [bytes(Tag.Key, Buffer.from(m))])
      break
    case ObjectType.PrivateKey: {
      const k = privateKeyObject(m)
      if (format === KeyFormatType.PKCS_8) return bytes(KM, Buffer.from(m))
      if (k.asymmetricKeyType === 'rsa') {
        if (format === KeyFormatType.PKCS_1)
          return bytes(KM, k.export({ format: 'der', type: 'pkcs1' }))
        if (format === KeyFormatType.TransparentRSAPrivateKey) {
          const j = k.export({ format: 'jwk' })
          return s(KM, [
            big(Tag.Modulus, b64u(j.n)),
            big(Tag.PrivateExponent, b64u(j.d)),
            big(Tag.PublicExponent, b64u(j.e)),
            big(Tag.P, b64u(j.p)),
            big(Tag.Q, b64u(j.q)),
            big(Tag.PrimeExponentP, b64u(j.dp)),
            big(Tag.PrimeExponentQ, b64u(j.dq)),
            big(Tag.CRTCoefficient, b64u(j.qi)),
          ])
        }
      } else if (k.asymmetricKeyType === 'ec') {
        if (format === KeyFormatType.ECPrivateKey)
          return bytes(KM, k.export({ format: 'der', type: 'sec1' }))
        if (format === KeyFormatType.TransparentECPrivateKey) {
          const j = k.export({ format: 'jwk' })
          return s(KM, [
            en(Tag.RecommendedCurve, curveByJwk.get(j.crv ?? '') ?? 0),
            big(Tag.D, b64u(j.d)),
          ])
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
          return s(KM, [big(Tag.Modulus, b64u(j.n)), big(Tag.PublicExponent, b64u(j.e))])
        }
      } else if (k.asymmetricKeyType === 'ec' && format === KeyFormatType.TransparentECPublicKey) {
        const j = k.export({ format: 'jwk' })
        const size = j.crv === 'P-384' ? 48 : j.crv === 'P-521' ? 66 : 32
        const q = Buffer.concat([Buffer.from([4]), unb(b64u(j.x), size), unb(b64u(j.y), size)])
        return s(KM, [
          en(Tag.RecommendedCurve, curveByJwk.get(j.crv ?? '') ?? 0),
          bytes(Tag.QString, q),
        ])
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
): TtlvItem {
  const alg = attrScalar(o, 'Cryptographic Algorithm')
  const len = attrScalar(o, 'Cryptographic Length')
  return s(Tag.KeyBlock, [
    en(Tag.KeyFormatType, format),
    wrap === undefined
      ? s(Tag.KeyValue, [keyMaterial(o, m, format)])
      : bytes(Tag.KeyValue, wrap.wrapped),
    typeof alg === 'number' ? en(Tag.CryptographicAlgorithm, alg) : undefined,
    typeof len === 'number' ? int(Tag.CryptographicLength, len) : undefined,
    wrap?.wrappingData,
  ])
}

/** Bytes a wrap covers: the Key Value TTLV, or the bare Key Material with No Encoding. */
export function keyValueBytes(
  o: ManagedObject,
  m: Buffer,
  format: number,
  noEncoding: boolean,
): Buffer {
  const km = keyMaterial(o, m, format)
  if (noEncoding) {
    if (km.type !== 'ByteString') throw notSupported('No Encoding needs a byte-string key format')
    return Buffer.from(km.value)
  }
  return Buffer.from(encodeTtlv(s(Tag.KeyValue, [km])))
}

/** The whole object structure for Get. */
export function renderObject(o: ManagedObject, m: Buffer, block: TtlvItem | undefined): TtlvItem {
  // Sealed by this server (so authenticated), possibly before Big Integers were bounded at 8 KiB
  if (o.format === AS_REGISTERED) return decodeTtlv(m, { maxBigIntegerBytes: 1 << 20 })
  const tag = objectTag[o.objectType]!
  if (o.objectType === ObjectType.SecretData) return s(tag, [en(Tag.SecretDataType, 1), block])
  return s(tag, [block])
}

export interface ParsedMaterial {
  readonly material: Buffer
  readonly format: number
  readonly algorithm?: number
  readonly length?: number
}

/** Register: bring a supplied object to the canonical stored form (or keep it as registered). */
export function parseObject(objectType: number, obj: TtlvItem): ParsedMaterial {
  const asIs = (): ParsedMaterial => ({
    material: Buffer.from(encodeTtlv(obj)),
    format: AS_REGISTERED,
  })
  const block = find(obj, Tag.KeyBlock)
  if (block === undefined) return asIs()
  const fmt = req(block, Tag.KeyFormatType, 'Enumeration')
  const alg = opt(block, Tag.CryptographicAlgorithm, 'Enumeration')
  const len = opt(block, Tag.CryptographicLength, 'Integer')
  if (find(block, Tag.KeyWrappingData) !== undefined) return asIs()
  const kv = find(block, Tag.KeyValue)
  const km = kv?.type === 'Structure' ? find(kv, Tag.KeyMaterial) : undefined
  if (km === undefined) throw invalidField('Key Block has no Key Material')
  const meta = {
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
        const k = req(km, Tag.Key, 'ByteString')
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
