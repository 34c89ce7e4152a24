import { bytes32, fixed, magic, str8, uint } from '../binary/layout.js'

/** Current VM key bundle format version. */
export const BUNDLE_VERSION = 1
/** Largest bundle accepted by the decoder (1 KiB of keys per disk leaves ample room). */
export const BUNDLE_MAX_BYTES = 1 << 20

/**
 * Ward VM key bundle v1 (docs/formats.md "VM key bundle"). Everything before `sealed` is in clear
 * and is the AES-256-GCM associated data, so provider or KEK id tampering fails authentication.
 */
export const BundleHeader = {
  magic: magic('WARDVKB'),
  version: uint(2, 1, 0xffff),
  providerId: str8(1, 255),
  kekId: str8(1, 255),
  /** HKDF-SHA256 salt: fresh per seal, so each seal uses new derived keys. */
  salt: fixed(32),
  /** HKDF(KEK, salt, "ward/bundle/v1/check"): tells a wrong KEK from a modified bundle. */
  kekCheck: fixed(16),
  nonce: fixed(12),
} as const

/** The sealed part: `ciphertext || tag` of the encoded {@link BundleKeys} body. */
export const BundleBody = {
  sealed: bytes32(16, BUNDLE_MAX_BYTES),
} as const

/** Plaintext header of the key list: the file key then `diskCount` disk entries. */
export const BundleKeys = {
  fileKey: fixed(32, { sensitive: true }),
  diskCount: uint(2, 0, 4096),
} as const

/** One disk entry: its id and its XTS-AES-256 DEK (two 32-byte halves). */
export const BundleDisk = {
  diskId: str8(1, 255),
  dek: fixed(64, { sensitive: true }),
} as const
