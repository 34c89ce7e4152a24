/**
 * Envelope errors: same shape as @ward/core's CodedError, without importing it (zero-dependency core).
 * Every code is a row of {@link envelopeErrors}; the native XTS addon throws the `ERR_XTS_` ones too.
 */

/** What kind of failure a code is: the words of @ward/core's `errorKinds` (the docs test checks every row). */
export type EnvelopeErrorKind =
  | 'usage'
  | 'input'
  | 'not-found'
  | 'conflict'
  | 'state'
  | 'denied'
  | 'integrity'
  | 'unsupported'
  | 'limit'
  | 'io'
  | 'timeout'
  | 'internal'

/** Every code of @ward/envelope → its kind (documented in docs/errors/). */
export const envelopeErrors = {
  // AES key wrap (docs/errors/envelope.md)
  ERR_KEYWRAP_INPUT_LENGTH: { kind: 'usage' },
  ERR_KEYWRAP_INTEGRITY: { kind: 'integrity' },
  ERR_KEYWRAP_KEK_LENGTH: { kind: 'usage' },
  // AES-GCM (docs/errors/envelope.md)
  ERR_AEAD_AUTH: { kind: 'integrity' },
  ERR_AEAD_IV_LENGTH: { kind: 'usage' },
  ERR_AEAD_KEY_LENGTH: { kind: 'usage' },
  // key derivation (docs/errors/envelope.md)
  ERR_KDF_LENGTH: { kind: 'usage' },
  ERR_KDF_PARAMS: { kind: 'usage' },
  // VM key bundle (docs/errors/envelope.md)
  ERR_BUNDLE_AUTH: { kind: 'integrity' },
  ERR_BUNDLE_FORMAT: { kind: 'input' },
  ERR_BUNDLE_KEY_INVALID: { kind: 'usage' },
  ERR_BUNDLE_MAGIC: { kind: 'input' },
  ERR_BUNDLE_VERSION: { kind: 'unsupported' },
  ERR_BUNDLE_WRONG_KEK: { kind: 'integrity' },
  // VM files (docs/errors/envelope.md)
  ERR_VMFILE_AUTH: { kind: 'integrity' },
  ERR_VMFILE_EXISTS: { kind: 'conflict' },
  ERR_VMFILE_HEADER: { kind: 'input' },
  ERR_VMFILE_IO: { kind: 'io' },
  ERR_VMFILE_MAGIC: { kind: 'input' },
  ERR_VMFILE_PARAMS: { kind: 'usage' },
  ERR_VMFILE_RANGE: { kind: 'input' },
  ERR_VMFILE_ROLE_MISMATCH: { kind: 'input' },
  ERR_VMFILE_TRUNCATED: { kind: 'input' },
  ERR_VMFILE_VERSION: { kind: 'unsupported' },
  ERR_VMFILE_WRONG_KEK: { kind: 'integrity' },
  // LUKS2 format (docs/errors/disk.md)
  ERR_LUKS2_CHECKSUM: { kind: 'integrity' },
  ERR_LUKS2_DIGEST: { kind: 'integrity' },
  ERR_LUKS2_HEADER: { kind: 'input' },
  ERR_LUKS2_KDF_BUDGET: { kind: 'limit' },
  ERR_LUKS2_KDF_PARAMS: { kind: 'input' },
  ERR_LUKS2_KEYSLOT: { kind: 'input' },
  ERR_LUKS2_METADATA: { kind: 'input' },
  ERR_LUKS2_NOT_LUKS: { kind: 'input' },
  ERR_LUKS2_TOKEN: { kind: 'input' },
  ERR_LUKS2_TRUNCATED: { kind: 'input' },
  ERR_LUKS2_UNSUPPORTED: { kind: 'unsupported' },
  // LUKS2 disk operations (docs/errors/disk.md)
  ERR_DISK_ALREADY_LUKS2: { kind: 'conflict' },
  ERR_DISK_EXISTS: { kind: 'conflict' },
  ERR_DISK_IMAGE_FORMAT: { kind: 'input' },
  ERR_DISK_IO: { kind: 'io' },
  ERR_DISK_JOURNAL: { kind: 'input' },
  ERR_DISK_JOURNAL_MISMATCH: { kind: 'state' },
  ERR_DISK_JOURNAL_OTHER_OP: { kind: 'state' },
  ERR_DISK_JOURNAL_TORN: { kind: 'input' },
  ERR_DISK_JOURNAL_UNSAFE: { kind: 'denied' },
  ERR_DISK_MODE: { kind: 'denied' },
  ERR_DISK_NO_KEYSLOT: { kind: 'not-found' },
  ERR_DISK_NO_WARD_TOKEN: { kind: 'not-found' },
  ERR_DISK_OPEN: { kind: 'io' },
  ERR_DISK_OPTIONS: { kind: 'usage' },
  ERR_DISK_RECOVERY_PASSPHRASE_NEEDED: { kind: 'usage' },
  ERR_DISK_REKEY_IN_PROGRESS: { kind: 'state' },
  ERR_DISK_UNALIGNED: { kind: 'input' },
  ERR_DISK_WRONG_KEK: { kind: 'integrity' },
  ERR_DISK_WRONG_PASSPHRASE: { kind: 'integrity' },
  // XTS-AES, the native addon included (docs/errors/envelope-xts.md)
  ERR_XTS_ARGUMENT: { kind: 'usage' },
  ERR_XTS_CRYPTO: { kind: 'internal' },
  ERR_XTS_DATA_LENGTH: { kind: 'usage' },
  ERR_XTS_DUPLICATED_KEYS: { kind: 'usage' },
  ERR_XTS_INPUT_SHORT: { kind: 'io' },
  ERR_XTS_KEY_LENGTH: { kind: 'usage' },
  ERR_XTS_MAP: { kind: 'io' },
  ERR_XTS_NO_MEMORY: { kind: 'limit' },
  ERR_XTS_OUTPUT_SPACE: { kind: 'io' },
  ERR_XTS_SECTOR_NUMBER: { kind: 'usage' },
  ERR_XTS_SECTOR_SIZE: { kind: 'usage' },
  ERR_XTS_TWEAK_LENGTH: { kind: 'usage' },
} as const satisfies Record<`ERR_${string}`, { readonly kind: EnvelopeErrorKind }>

/** A code of {@link envelopeErrors}. */
export type EnvelopeErrorCode = keyof typeof envelopeErrors

export class EnvelopeError extends Error {
  readonly code: EnvelopeErrorCode
  readonly expose = false
  constructor(code: EnvelopeErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'EnvelopeError'
    this.code = code
  }
}
