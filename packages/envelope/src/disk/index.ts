/**
 * `@ward/envelope/disk`: the offline disk operations alone (LUKS2 headers, XTS, journal), for
 * callers that need nothing else. A process that only encrypts a disk (the `ward crypto-util
 * disk` commands) loads about half of the package's modules through this entry instead of the
 * whole barrel (VM files, bundles, streams), which is measurable in its start-up time.
 */
export {
  describeDisk,
  hasLuks2Magic,
  isLuks2,
  type DiskDescription,
  type KeyslotDescription,
} from '../luks2/describe.js'
export { encryptDisk, type EncryptOptions, type DiskResult } from './encrypt.js'
export { encryptInPlace } from './encrypt-in-place.js'
export { createThinDisk, THIN_DISK_MAX_BYTES, type ThinDiskOptions } from './create.js'
export { decryptDisk, type DecryptOptions, type Unlock } from './decrypt.js'
export { rekeyShallow, type ShallowRekeyOptions } from './rekey-shallow.js'
export { rekeyDeep, type DeepRekeyOptions } from './rekey-deep.js'
export { diskDataArea, unlockDiskKey, refuseJournaled, type DiskDataArea } from './data-area.js'
export {
  KDF_ATTEMPT_BUDGET_NS,
  WARD_KDF_DEFAULTS,
  defaultMemoryKiB,
  defaultParallelism,
  type KeyslotKdfOptions,
} from '../luks2/kdf.js'
