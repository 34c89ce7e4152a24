// The host's crypto filter: LUKS2 disks served decrypted over NBD to QEMU (docs/host.md).
export {
  openEncryptedDisk,
  type EncryptedDisk,
  type EncryptedDiskOptions,
  type EncryptedDiskStats,
} from './encrypted-disk.js'
export {
  serveEncryptedDisk,
  type EncryptedDiskServer,
  type FilterEvent,
  type ServeEncryptedDiskOptions,
} from './serve.js'
