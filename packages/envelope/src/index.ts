export { EnvelopeError, envelopeErrors, type EnvelopeErrorCode } from './errors.js'
export { wrapKw, unwrapKw, wrapKwp, unwrapKwp } from './keywrap/keywrap.js'
export {
  xtsEncryptSectors,
  xtsDecryptSectors,
  xtsEncryptSectorsAsync,
  xtsDecryptSectorsAsync,
  xtsReencryptSectors,
  xtsReencryptSectorsAsync,
  xtsTransform,
  xtsBackend,
} from './xts/xts.js'
export { gcmSeal, gcmSealParts, gcmOpen, GCM_IV_LENGTH, GCM_TAG_LENGTH } from './aead/gcm.js'
export { hkdfSha256, HKDF_SHA256_MAX } from './kdf/hkdf.js'
export {
  pbkdf2Sha256,
  pbkdf2Sha256Sync,
  PBKDF2_MAX_ITERATIONS,
  PBKDF2_MAX_LENGTH,
  pbkdf2Derive,
  type Pbkdf2Hash,
} from './kdf/pbkdf2.js'
export { argon2Derive, type Argon2Variant, type Argon2Params } from './kdf/argon2.js'
export {
  sealBundle,
  openBundle,
  rewrapBundle,
  describeBundle,
  zeroBundleKeys,
  type BundleKeySet,
  type BundleIds,
  type OpenedBundle,
  type BundleDescription,
} from './bundle/bundle.js'
export { bundleToBase64, bundleFromBase64 } from './bundle/text.js'
export {
  VM_FILE_ROLES,
  VMFILE_DEFAULT_CHUNK,
  VMFILE_VERSION,
  type VmFileRole,
} from './vmfile/layout.js'
export { VmFileSealer, type VmFileSealOptions } from './vmfile/sealer.js'
export { openVmFile, type VmFileReader, type VmFileOpenOptions } from './vmfile/reader.js'
export { encryptVmFile, decryptVmFile, type VmFileFileOptions } from './vmfile/files.js'
export {
  describeVmFile,
  hasVmFileMagic,
  isVmFile,
  type VmFileDescription,
} from './vmfile/describe.js'
export { parseVmFileHeader, unwrapVmFileDek, type ParsedVmFileHeader } from './vmfile/header.js'
export {
  describeDisk,
  hasLuks2Magic,
  isLuks2,
  type DiskDescription,
  type KeyslotDescription,
} from './luks2/describe.js'
export { encryptDisk, type EncryptOptions, type DiskResult } from './disk/encrypt.js'
export { encryptInPlace } from './disk/encrypt-in-place.js'
export { createThinDisk, THIN_DISK_MAX_BYTES, type ThinDiskOptions } from './disk/create.js'
export { decryptDisk, type DecryptOptions, type Unlock } from './disk/decrypt.js'
export { rekeyShallow, type ShallowRekeyOptions } from './disk/rekey-shallow.js'
export { rekeyDeep, type DeepRekeyOptions } from './disk/rekey-deep.js'
export {
  diskDataArea,
  unlockDiskKey,
  refuseJournaled,
  type DiskDataArea,
} from './disk/data-area.js'
export {
  mapInputFile,
  xtsSectorsFromMappedAsync,
  type MappedInput,
  type MappedSectors,
} from './xts/mapped.js'
export {
  sectorWriter,
  xtsReadSectorsAsync,
  xtsWriteSectorsAsync,
  type SectorIo,
  type SectorWriter,
} from './xts/io.js'
export {
  KDF_ATTEMPT_BUDGET_NS,
  WARD_KDF_DEFAULTS,
  defaultMemoryKiB,
  defaultParallelism,
  type KeyslotKdfOptions,
} from './luks2/kdf.js'
export { VmFileOpener } from './vmfile/opener.js'
export { createVmFileEncryptStream, createVmFileDecryptStream } from './vmfile/streams.js'
