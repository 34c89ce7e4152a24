import { X509Certificate } from 'node:crypto'
import { KmsError } from '../errors.js'
import { toAttrs } from '../model/attributes.js'
import {
  AS_REGISTERED,
  attrScalar,
  newObject,
  saveObjects,
  sealMaterial,
  setAttr,
} from '../model/object.js'
import { checkSymmetricLength } from '../model/key-length.js'
import type { ManagedObject } from '../model/object.js'
import { objectTag, parseObject } from '../model/material.js'
import {
  Operation,
  ObjectType,
  RegisterRequest,
  RegisterResponse,
  enumeration,
  int,
  optionalValue,
  text,
  Tag,
} from '@ward/kmip'
import type { TtlvItem } from '@ward/kmip'
import { applyInitialAttributes, firstAttr, num } from './initial-attributes.js'
import { defineOperation } from './types.js'

/** KMIP 1.4 §4.3 Register: every object type; keys are normalised so crypto operations work. */
export const register = defineOperation({
  code: Operation.Register,
  privilege: 'register',
  request: RegisterRequest,
  response: RegisterResponse,
  async handle(ctx, request) {
    const type = request.objectType
    const tag = objectTag[type]
    if (tag === undefined)
      throw new KmsError('ERR_KMS_INVALID_FIELD', `unknown object type ${type}`)
    const obj = request.object
    if (obj === undefined || obj.tag !== tag)
      throw new KmsError('ERR_KMS_MISSING_DATA', 'the object to register is missing')
    const attrs = toAttrs(request.attributes)
    const parsed = parseObject(type, obj)
    const o = newObject(ctx, type)
    // KMIP 2.1 §4.24: Fresh may be set by the client at Register (e.g. a key it never exported)
    applyInitialAttributes(
      o,
      attrs,
      new Set(['Cryptographic Algorithm', 'Cryptographic Length', 'Fresh']),
    )
    if (parsed.algorithm !== undefined)
      setAttr(o, 'Cryptographic Algorithm', enumeration(Tag.AttributeValue, parsed.algorithm))
    if (parsed.length !== undefined)
      setAttr(o, 'Cryptographic Length', int(Tag.AttributeValue, parsed.length))
    try {
      // A symmetric key's bytes must fit its algorithm and its stated length (model/key-length.ts).
      if (type === ObjectType.SymmetricKey && parsed.format !== AS_REGISTERED) {
        const alg = attrScalar(o, 'Cryptographic Algorithm')
        checkSymmetricLength(
          typeof alg === 'number' ? alg : undefined,
          [num(firstAttr(attrs, 'Cryptographic Length')), parsed.length],
          parsed.material.length,
        )
      }
      sealMaterial(ctx, o, parsed.material, parsed.format)
    } finally {
      parsed.material.fill(0)
    }
    // Get without a Key Format Type returns the key as it was registered (BL-M-3-21); the stored
    // form stays canonical. Objects kept as registered carry their own Key Block.
    const registered = parsed.registeredFormat
    if (parsed.format !== AS_REGISTERED && registered !== undefined)
      setAttr(o, 'Key Format Type', enumeration(Tag.AttributeValue, registered))
    if (type === ObjectType.Certificate) certificateAttributes(o, obj)
    await saveObjects(ctx, [o])
    return { objectId: o.id, payload: { uniqueIdentifier: o.id } }
  },
})

/** KMIP Certificate Type X.509 (1.4 §9.1.3.2.6). */
const X_509 = 0x01

/**
 * Server-derived attributes of a registered X.509 certificate (KMIP 2.1 §4.4 Certificate Length,
 * §4.7 Certificate Subject CN), read from the DER with node:crypto. A certificate OpenSSL cannot
 * parse is refused: the server would otherwise keep attributes it cannot vouch for.
 */
function certificateAttributes(o: ManagedObject, obj: TtlvItem): void {
  if (optionalValue(obj, Tag.CertificateType, 'Enumeration') !== X_509) return
  const der = optionalValue(obj, Tag.CertificateValue, 'ByteString')
  if (der === undefined) return
  let cert: X509Certificate
  try {
    cert = new X509Certificate(der)
  } catch {
    throw new KmsError(
      'ERR_KMS_BAD_CERTIFICATE',
      'the Certificate Value is not a DER X.509 certificate',
    )
  }
  setAttr(o, 'Certificate Length', int(Tag.AttributeValue, der.length))
  // node:crypto renders the subject one "key=value" per line
  const cn = cert.subject
    .split('\n')
    .find((l) => l.startsWith('CN='))
    ?.slice(3)
  if (cn !== undefined) setAttr(o, 'Certificate Subject CN', text(Tag.AttributeValue, cn))
}
