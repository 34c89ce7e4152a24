/**
 * Key lengths a symmetric key may have for its Cryptographic Algorithm (KMIP 1.4 §3.4 / 2.1 §4.8
 * Cryptographic Length: "the length in bits of the clear-text cryptographic key material"),
 * checked when a key is registered: a 33-byte "AES" key, or one whose stated length is not the
 * length of its bytes, is refused instead of stored (it would fail later in every operation, or be
 * used under a wrong name).
 */
import { CryptographicAlgorithm as A } from '@ward/kmip'
import { KmsError } from '../errors.js'

/** Key bytes → the Cryptographic Length values that may describe them. */
type Sizes = Readonly<Record<number, readonly number[]>>

const bits = (...bytes: number[]): Sizes =>
  Object.fromEntries(bytes.map((b) => [b, [b * 8]])) as Sizes

const SIZES: Readonly<Record<number, Sizes>> = {
  [A.AES]: bits(16, 24, 32), // FIPS 197
  [A.Camellia]: bits(16, 24, 32), // RFC 3713
  [A.ARIA]: bits(16, 24, 32), // RFC 5794
  [A.Twofish]: bits(16, 24, 32),
  [A.SM4]: bits(16),
  [A.SEED]: bits(16), // RFC 4269
  [A.ChaCha20]: bits(32), // RFC 8439
  [A.ChaCha20Poly1305]: bits(32),
  [A.Poly1305]: bits(32),
  [A.GOST28147_89]: bits(32),
  [A.GOSTR34_13_2015]: bits(32),
  // DES and Triple DES: 8 bytes per DES key, stated with or without the parity bits (SP 800-67)
  [A.DES]: { 8: [56, 64] },
  [A.DES3]: { 16: [112, 128], 24: [168, 192] },
}

/** Algorithms of key pairs: never the algorithm of a Symmetric Key object. */
const ASYMMETRIC = new Set<number>([
  A.RSA,
  A.DSA,
  A.ECDSA,
  A.DH,
  A.ECDH,
  A.ECMQV,
  A.EC,
  A.SM2,
  A.GOSTR34_10_2012,
  A.XMSS,
  A.SPHINCS_256,
  A.McEliece,
  A.McEliece_6960119,
  A.McEliece_8192128,
  A.Ed25519,
  A.Ed448,
])

const bad = (message: string): KmsError => new KmsError('ERR_KMS_KEY_LENGTH', message)

/**
 * Refuse symmetric key material of `bytes` bytes that does not fit `algorithm` (when known), or
 * that a stated Cryptographic Length (`stated`, each as given by the client) does not describe.
 * Algorithms without a fixed size (HMAC, Blowfish, RC4...) need at least one byte and a length
 * equal to the key's bits.
 */
export function checkSymmetricLength(
  algorithm: number | undefined,
  stated: readonly (number | undefined)[],
  bytes: number,
): void {
  if (bytes === 0) throw bad('the key material is empty')
  if (algorithm !== undefined && ASYMMETRIC.has(algorithm))
    throw bad(
      `cryptographic algorithm ${algorithm} is an asymmetric one: register it as a Private Key or Public Key`,
    )
  const sizes = algorithm === undefined ? undefined : SIZES[algorithm]
  const allowed = sizes === undefined ? [bytes * 8] : sizes[bytes]
  if (allowed === undefined)
    throw bad(
      `a ${bytes}-byte key is not valid for cryptographic algorithm ${algorithm} (key sizes: ${Object.keys(
        sizes!,
      )
        .map((b) => `${b} bytes`)
        .join(', ')})`,
    )
  for (const s of stated)
    if (s !== undefined && !allowed.includes(s))
      throw bad(
        `Cryptographic Length ${s} does not describe the ${bytes}-byte key material (${allowed.join(' or ')} bits)`,
      )
}
