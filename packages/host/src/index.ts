export {
  HostError,
  BootMessages,
  PolicyUnsatisfiableMessage,
  VmMessages,
  hostErrors,
  type HostErrorCode,
} from './errors.js'
export { HostAgent, KEYSTORE_FILE, type AgentOptions, type BootStats } from './agent/agent.js'
export {
  listenAdminSocket,
  type AgentRequest,
  type AgentResponse,
  type AgentProgress,
} from './agent/server.js'
export type { OpOptions, OpProgress, OpContext } from './agent/schema.js'
export { RECOVERY_SHOWN_FILE, type RecoveryKeyStatus } from './config/recovery-backup.js'
export {
  agentClient,
  callAgent,
  AgentError,
  type AgentClient,
  type CallOptions,
  type OptionalParamsOp,
} from './agent/client.js'
export {
  AdminOps,
  type AdminOp,
  type AdminParams,
  type AdminResult,
  type AdminHandlers,
  type HandlersFor,
  streamsProgress,
  type HostStatus,
  type RecoveryKey,
} from './agent/protocol.js'
export { initHost, readHostFile, DEFAULT_DATA_DIR, SOCKET_FILE } from './agent/data-dir.js'
export { KeyCache, type KeyRef, type CachedKey, type CacheObserver } from './keys/key-cache.js'
export { KeyStore } from './keys/key-store.js'
export { KDK_BYTES, KDK_PROVIDER, deriveKek, kdkInfo } from './keys/kdk.js'
export { parseTpmSpec, formatTpmSpec, HostTpm, type TpmSpec } from './tpm/host-tpm.js'
export {
  ARCHIVE_FILE,
  INFO_FILE,
  policyPcrs,
  type EncryptionSettings,
} from './config/secure-config.js'
export {
  PCR,
  WARD_VERSION,
  FIRMWARE_LOG,
  WARD_LOG,
  measureBoot,
  readMeasurements,
  type BootState,
} from './measure/measurements.js'
export { backoffSeconds, FREE_ATTEMPTS } from './config/recovery-attempts.js'
export {
  serveEncryptedDisk,
  openEncryptedDisk,
  type EncryptedDisk,
  type EncryptedDiskOptions,
  type EncryptedDiskStats,
  type EncryptedDiskServer,
  type FilterEvent,
  type ServeEncryptedDiskOptions,
} from './filter/index.js'
export {
  VmManager,
  type DiskFilter,
  type DiskServer,
  type SnapshotInfo,
  type VmDescription,
  type KeyState,
} from './vm/manager.js'
export { readVmConfig, VM_CONFIG_FILE, type VmConfig, type VmDisk } from './vm/config.js'
export { chooseAccelerator, probeImage, runProbe, type Accelerator } from './vm/accel.js'
export { QEMU_LOG, SERIAL_LOG } from './vm/qemu.js'
export {
  CENTER_CLIENT_CN,
  CENTER_CLIENT_OU,
  HOST_OU,
  HOST_ID_RE,
  DEFAULT_REMOTE_PORT,
  hostUri,
} from './remote/identity.js'
export {
  HOST_CRYPTO_STATES,
  CRYPTO_TRANSITIONS,
  type HostCryptoState,
} from './crypto-state/states.js'
export {
  DUMP_DIR,
  COREDUMP_EXT,
  type HostCryptoStatus,
  type RewrapReport,
} from './crypto-state/host-crypto.js'
export {
  describeCoreDump,
  hasCoreDumpMagic,
  decryptCoreDump,
  readCoreDumpHeader,
  COREDUMP_DATA_OFFSET,
  type CoreDumpDescription,
  type CoreDumpHeaderValue,
} from './crypto-state/coredump-file.js'
export {
  exportHostKey,
  openHostKeyExport,
  describeHostKeyExport,
  HOST_KEY_EXPORT_KDF,
} from './crypto-state/key-export.js'
export {
  REMOTE_DIR,
  RemoteFiles,
  readJoinState,
  loadRemoteCredentials,
  type JoinState,
  type RemoteCredentials,
} from './remote/join-state.js'
export { joinCenter, JOIN_PATH, type JoinOptions, type JoinResult } from './remote/join.js'
export {
  listenRemote,
  notTheCenter,
  RemoteLimits,
  type RemoteListenerOptions,
} from './remote/listener.js'
export { parseHostPort, formatHostPort } from './remote/address.js'
export { createCsr } from './remote/csr.js'
export { MAX_LINE, serveConnection, type ConnectionOptions } from './agent/server.js'
export { isRemoteOp, type RemoteOp } from './agent/protocol.js'
export { listenForCenter } from './remote/serve.js'
