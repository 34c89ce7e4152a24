/**
 * Managed objects and attribute values as payloads carry them (KMIP 1.4 §2.1.3-2.1.7, §2.2, §3):
 * Key Block, Key Value, the object structures, the Transparent key formats, Name and Link.
 * Member order is wire order.
 */
import { Tag } from '../tables/tags.js'
import {
  bigInteger,
  byteString,
  enumerated,
  integer,
  item,
  optional,
  required,
  struct,
  textString,
} from '../schema/dsl.js'

/** Key Value, KMIP 1.4 §2.1.4: Key Material (bytes, or a Transparent structure). */
export const KeyValue = struct(Tag.KeyValue, {
  keyMaterial: required(item(Tag.KeyMaterial, ['ByteString', 'Structure'])),
})

/**
 * Key Block, KMIP 1.4 §2.1.3. The Key Value is a Key Value structure, or a Byte String when the
 * key is wrapped; Key Wrapping Data is kept as received (a server may store it as is).
 */
export const KeyBlock = struct(Tag.KeyBlock, {
  keyFormatType: required(enumerated(Tag.KeyFormatType)),
  keyCompressionType: optional(enumerated(Tag.KeyCompressionType)),
  keyValue: optional(item(Tag.KeyValue)),
  cryptographicAlgorithm: optional(enumerated(Tag.CryptographicAlgorithm)),
  cryptographicLength: optional(integer(Tag.CryptographicLength)),
  keyWrappingData: optional(item(Tag.KeyWrappingData)),
})

const keyObject = (tag: number) => struct(tag, { keyBlock: required(KeyBlock) })
/** Symmetric Key, KMIP 1.4 §2.2.2. */
export const SymmetricKey = keyObject(Tag.SymmetricKey)
/** Public Key, KMIP 1.4 §2.2.3. */
export const PublicKey = keyObject(Tag.PublicKey)
/** Private Key, KMIP 1.4 §2.2.4. */
export const PrivateKey = keyObject(Tag.PrivateKey)
/** Secret Data, KMIP 1.4 §2.2.7. */
export const SecretData = struct(Tag.SecretData, {
  secretDataType: required(enumerated(Tag.SecretDataType)),
  keyBlock: required(KeyBlock),
})

/** Transparent Symmetric Key, KMIP 1.4 §2.1.7.2. */
export const TransparentSymmetricKey = struct(Tag.KeyMaterial, {
  key: required(byteString(Tag.Key, { sensitive: true })),
})
/** Transparent RSA Private Key, KMIP 1.4 §2.1.7.5. */
export const TransparentRSAPrivateKey = struct(Tag.KeyMaterial, {
  modulus: required(bigInteger(Tag.Modulus)),
  privateExponent: optional(bigInteger(Tag.PrivateExponent, { sensitive: true })),
  publicExponent: optional(bigInteger(Tag.PublicExponent)),
  p: optional(bigInteger(Tag.P, { sensitive: true })),
  q: optional(bigInteger(Tag.Q, { sensitive: true })),
  primeExponentP: optional(bigInteger(Tag.PrimeExponentP, { sensitive: true })),
  primeExponentQ: optional(bigInteger(Tag.PrimeExponentQ, { sensitive: true })),
  crtCoefficient: optional(bigInteger(Tag.CRTCoefficient, { sensitive: true })),
})
/** Transparent RSA Public Key, KMIP 1.4 §2.1.7.6. */
export const TransparentRSAPublicKey = struct(Tag.KeyMaterial, {
  modulus: required(bigInteger(Tag.Modulus)),
  publicExponent: required(bigInteger(Tag.PublicExponent)),
})
/** Transparent EC Private Key, KMIP 1.4 §2.1.7.13. */
export const TransparentECPrivateKey = struct(Tag.KeyMaterial, {
  recommendedCurve: required(enumerated(Tag.RecommendedCurve)),
  d: required(bigInteger(Tag.D, { sensitive: true })),
})
/** Transparent EC Public Key, KMIP 1.4 §2.1.7.14. */
export const TransparentECPublicKey = struct(Tag.KeyMaterial, {
  recommendedCurve: required(enumerated(Tag.RecommendedCurve)),
  qString: required(byteString(Tag.QString)),
})

/** Name attribute value, KMIP 1.4 §3.2. */
export const Name = struct(Tag.Name, {
  nameValue: required(textString(Tag.NameValue)),
  nameType: required(enumerated(Tag.NameType)),
})
/** Link attribute value, KMIP 1.4 §3.35. */
export const Link = struct(Tag.Link, {
  linkType: required(enumerated(Tag.LinkType)),
  linkedObjectIdentifier: required(textString(Tag.LinkedObjectIdentifier)),
})
