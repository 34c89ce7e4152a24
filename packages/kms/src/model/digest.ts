/**
 * Digest attribute (KMIP 1.4 §3.17, 2.1 §4.12): SHA-256 of the object's key material in its
 * default digest encoding, set by the server whenever material is stored (Create, Register,
 * Create Key Pair, Re-key). Encodings, as the spec's table and the OASIS reference responses give
 * them: symmetric keys and secret data → Raw key bytes; RSA keys → PKCS#1 DER; EC keys → PKCS#8
 * (private) / X.509 SubjectPublicKeyInfo (public) DER; certificates → the Certificate Value DER;
 * opaque objects → the Opaque Data Value (these two carry no Key Format Type).
 */
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto'
import {
  HashingAlgorithm,
  KeyFormatType,
  Tag,
  bytes,
  decodeTtlv,
  enumeration,
  find,
  optionalValue,
  structure,
} from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'

/** Material stored as the whole registered TTLV object (see object.ts AS_REGISTERED). */
const AS_REGISTERED = -1

const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest()

function value(hash: Uint8Array, format: number | undefined): TtlvItem {
  return structure(Tag.AttributeValue, [
    enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_256),
    bytes(Tag.DigestValue, hash),
    format !== undefined ? enumeration(Tag.KeyFormatType, format) : undefined,
  ])
}

/**
 * The Digest attribute value for stored material `m` in stored format `format`, or undefined when
 * the material has no digestible encoding (wrapped keys, templates).
 */
export function digestAttribute(m: Uint8Array, format: number): TtlvItem | undefined {
  const b = Buffer.from(m.buffer, m.byteOffset, m.byteLength)
  switch (format) {
    case KeyFormatType.Raw:
      return value(sha256(b), KeyFormatType.Raw)
    case KeyFormatType.PKCS_8: {
      const k = createPrivateKey({ key: b, format: 'der', type: 'pkcs8' })
      if (k.asymmetricKeyType === 'rsa') {
        const der = k.export({ format: 'der', type: 'pkcs1' })
        const d = sha256(der)
        der.fill(0)
        return value(d, KeyFormatType.PKCS_1)
      }
      return value(sha256(b), KeyFormatType.PKCS_8)
    }
    case KeyFormatType.X_509: {
      const k = createPublicKey({ key: b, format: 'der', type: 'spki' })
      if (k.asymmetricKeyType === 'rsa')
        return value(sha256(k.export({ format: 'der', type: 'pkcs1' })), KeyFormatType.PKCS_1)
      return value(sha256(b), KeyFormatType.X_509)
    }
    case AS_REGISTERED:
      return registeredDigest(decodeTtlv(b))
    default:
      return undefined
  }
}

function registeredDigest(obj: TtlvItem): TtlvItem | undefined {
  if (obj.tag === Tag.Certificate) {
    const v = optionalValue(obj, Tag.CertificateValue, 'ByteString')
    return v === undefined ? undefined : value(sha256(v), undefined)
  }
  if (obj.tag === Tag.OpaqueObject) {
    const v = optionalValue(obj, Tag.OpaqueDataValue, 'ByteString')
    return v === undefined ? undefined : value(sha256(v), undefined)
  }
  const block = find(obj, Tag.KeyBlock)
  if (block === undefined || find(block, Tag.KeyWrappingData) !== undefined) return undefined
  const fmt = optionalValue(block, Tag.KeyFormatType, 'Enumeration')
  const kv = find(block, Tag.KeyValue)
  const km = kv?.type === 'Structure' ? find(kv, Tag.KeyMaterial) : undefined
  if (km?.type !== 'ByteString') return undefined
  return value(sha256(km.value), fmt)
}
