export { EnvelopeError } from './errors.js'
export { wrapKw, unwrapKw, wrapKwp, unwrapKwp } from './keywrap/keywrap.js'
export {
  xtsEncryptSectors,
  xtsDecryptSectors,
  xtsEncryptSectorsAsync,
  xtsDecryptSectorsAsync,
  xtsTransform,
  xtsBackend,
} from './xts/xts.js'
export { gcmSeal, gcmOpen, GCM_IV_LENGTH, GCM_TAG_LENGTH } from './aead/gcm.js'
export { hkdfSha256, HKDF_SHA256_MAX } from './kdf/hkdf.js'
export { pbkdf2Sha256, pbkdf2Sha256Sync, PBKDF2_MAX_ITERATIONS, PBKDF2_MAX_LENGTH } from './kdf/pbkdf2.js'
