/**
 * RSA encryption schemes (RFC 8017): RSAES-OAEP with any hash, any MGF1 hash and a label
 * (KMIP Cryptographic Parameters: Hashing Algorithm, Mask Generator Hashing Algorithm, P Source),
 * and RSAES-PKCS1-v1_5 encryption. node:crypto's OAEP uses the OAEP hash for MGF1 too, so a
 * different MGF1 hash is encoded here (RFC 8017 §7.1) over raw RSA from node:crypto.
 */
import { constants, createHash, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { KmsError, cryptoFailure } from '../errors.js'

export interface RsaEncryptionParams {
  readonly padding: 'OAEP' | 'PKCS1v15'
  /** OAEP hash (node name, e.g. 'sha256'); KMIP and RFC 8017 default to SHA-1. */
  readonly hash?: string
  /** MGF1 hash; defaults to `hash`. */
  readonly mgf1Hash?: string
  /** OAEP label L (KMIP P Source); empty by default. */
  readonly label?: Uint8Array
}

const bytesOf = (k: KeyObject): number => {
  const bits = k.asymmetricKeyDetails?.modulusLength
  if (bits === undefined) throw cryptoFailure('not an RSA key')
  return Math.ceil(bits / 8)
}

function hashLen(h: string): number {
  try {
    return createHash(h).digest().length
  } catch {
    throw new KmsError(
      'ERR_KMS_INVALID_FIELD',
      `hash ${h} is not available for OAEP`,
      'InvalidField',
    )
  }
}

/** MGF1 (RFC 8017 §B.2.1). */
export function mgf1(hash: string, seed: Uint8Array, length: number): Buffer {
  const out = Buffer.alloc(length)
  const c = Buffer.alloc(4)
  for (let i = 0, off = 0; off < length; i++) {
    c.writeUInt32BE(i)
    const d = createHash(hash).update(seed).update(c).digest()
    off += d.copy(out, off)
  }
  return out
}

const xorInto = (a: Buffer, b: Buffer): void => {
  for (let i = 0; i < a.length; i++) a[i] = a[i]! ^ b[i]!
}

/** RSAES-OAEP-ENCRYPT / RSAES-PKCS1-V1_5-ENCRYPT with a public key. */
export function rsaEncrypt(key: KeyObject, p: RsaEncryptionParams, m: Uint8Array): Buffer {
  try {
    if (p.padding === 'PKCS1v15')
      return publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, m)
    const hash = p.hash ?? 'sha1'
    const mgf = p.mgf1Hash ?? hash
    if (mgf === hash)
      return publicEncrypt(
        {
          key,
          padding: constants.RSA_PKCS1_OAEP_PADDING,
          oaepHash: hash,
          ...(p.label ? { oaepLabel: p.label } : {}),
        },
        m,
      )
    const k = bytesOf(key)
    const h = hashLen(hash)
    if (m.length > k - 2 * h - 2)
      throw cryptoFailure(`message too long for OAEP (at most ${k - 2 * h - 2} bytes)`)
    // EME-OAEP encoding, RFC 8017 §7.1.1 step 2.
    const db = Buffer.alloc(k - h - 1)
    createHash(hash)
      .update(p.label ?? new Uint8Array(0))
      .digest()
      .copy(db, 0)
    db[db.length - m.length - 1] = 1
    db.set(m, db.length - m.length)
    const seed = randomBytes(h)
    xorInto(db, mgf1(mgf, seed, db.length))
    xorInto(seed, mgf1(mgf, db, h))
    const em = Buffer.concat([Buffer.alloc(1), seed, db])
    return publicEncrypt({ key, padding: constants.RSA_NO_PADDING }, em)
  } catch (e) {
    if (e instanceof KmsError) throw e
    throw cryptoFailure(`RSA encryption failed (${(e as Error).message})`)
  }
}

/**
 * RSAES-OAEP-DECRYPT with a private key. Every failure is one Cryptographic Failure, and the
 * decoding below inspects every byte whatever their values (RFC 8017 §7.1.2 note: the error must
 * not reveal which check failed; Manger's attack).
 */
export function rsaDecrypt(key: KeyObject, p: RsaEncryptionParams, c: Uint8Array): Buffer {
  const fail = (): KmsError => cryptoFailure('RSA decryption failed')
  if (p.padding === 'PKCS1v15')
    // OpenSSL 3.0 in Node 20 has no implicit rejection, so Node refuses PKCS#1 v1.5 decryption
    // (CVE-2023-46809); a JS decoder would reopen Bleichenbacher's oracle.
    throw new KmsError(
      'ERR_KMS_NOT_SUPPORTED',
      'RSA PKCS#1 v1.5 decryption is refused (Bleichenbacher); encrypt with OAEP',
      'FeatureNotSupported',
    )
  const hash = p.hash ?? 'sha1'
  const mgf = p.mgf1Hash ?? hash
  try {
    if (mgf === hash)
      return privateDecrypt(
        {
          key,
          padding: constants.RSA_PKCS1_OAEP_PADDING,
          oaepHash: hash,
          ...(p.label ? { oaepLabel: p.label } : {}),
        },
        c,
      )
  } catch {
    throw fail()
  }
  const k = bytesOf(key)
  const h = hashLen(hash)
  if (c.length !== k || k < 2 * h + 2) throw fail()
  let em: Buffer
  try {
    em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, c)
  } catch {
    throw fail()
  }
  if (em.length !== k) throw fail()
  const seed = em.subarray(1, 1 + h)
  const db = Buffer.from(em.subarray(1 + h))
  xorInto(seed, mgf1(mgf, db, h))
  xorInto(db, mgf1(mgf, seed, db.length))
  const lHash = createHash(hash)
    .update(p.label ?? new Uint8Array(0))
    .digest()
  // bad accumulates every mismatch; index is the position of the 0x01 separator.
  let bad = em[0]!
  for (let i = 0; i < h; i++) bad |= db[i]! ^ lHash[i]!
  let found = 0
  let index = 0
  for (let i = h; i < db.length; i++) {
    const b = db[i]!
    const isOne = ((b ^ 1) - 1) >>> 31 // 1 when b === 1
    const isZero = (b - 1) >>> 31 // 1 when b === 0
    const first = isOne & ~found & 1
    index |= -first & i
    found |= first
    bad |= ~found & ~isZero & ~isOne & 1 // a byte before the separator that is neither 0 nor 1
  }
  bad |= ~found & 1
  em.fill(0)
  if (bad !== 0) {
    db.fill(0)
    throw fail()
  }
  const out = Buffer.from(db.subarray(index + 1))
  db.fill(0)
  return out
}
