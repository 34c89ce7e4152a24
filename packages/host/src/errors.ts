import { CodedError } from '@ward/core'
import type { ErrorInfo } from '@ward/core'

/** The seed's boot failure messages (vsphere-features.md §13, KB 312109), exactly. */
export const BootMessages = {
  securityViolation: 'Unable to restore system configuration. A security violation was detected.',
  decryptFailed: 'Failed to decrypt system configuration.',
  recoveryFailed: 'Unable to recover the system configuration.',
} as const

/** The seed's message when a new sealing policy cannot be satisfied by the running host. */
export const PolicyUnsatisfiableMessage =
  'Unable to change the encryption mode and policy. Verify that the current host configuration can satisfy the new requirement.'

/**
 * The seed's VM encryption messages (vsphere-features.md §2 and §8), exactly where the seed gives
 * them; `locked` is the state's own text (VirtualMachineCryptoState "locked").
 */
export const VmMessages = {
  locked: 'The virtual machine is locked.',
  /** runtime.cryptoState = locked: "configuration key missing on the ESX host where the VM is registered". */
  lockedReason: 'configuration key missing on the host where the VM is registered',
  lockedReasonShort: 'key missing in cache',
  diskKeyMissing: (path: string): string =>
    `The disk [${path}] is encrypted and a required key was not found.`,
  /** vsphere-features.md §9: "VM must be powered off with no snapshots". */
  deepRecryptPoweredOff: 'A deep recrypt needs the VM powered off with no snapshots.',
  /** The seed (vSphere 8 "Virtual Machine Encryption Best Practices"): shallow recrypt and snapshots. */
  shallowRecryptOneBranch:
    'Shallow recrypt of an encrypted virtual machine with snapshots is permitted only on a single snapshot branch (disk chain). Multiple snapshot branches are not supported.',
  /** The seed, same page: deep recrypt and snapshots. */
  deepRecryptNoSnapshots:
    'A deep recrypt requires that the virtual machine is powered off and contains no snapshots.',
  encryptedDiskNeedsEncryptedVm:
    'An encrypted virtual disk cannot be associated with a VM that is not encrypted.',
} as const

/** Every code of the host agent → its kind (documented in docs/errors/host.md). */
export const hostErrors = {
  ERR_HOST_SECURITY_VIOLATION: { kind: 'denied' },
  ERR_HOST_CONFIG_DECRYPT: { kind: 'integrity' },
  ERR_HOST_CONFIG_ROLLBACK: { kind: 'integrity' },
  ERR_HOST_CONFIG_COUNTER: { kind: 'integrity' },
  ERR_HOST_TPM_COUNTER: { kind: 'conflict' },
  ERR_HOST_RECOVERY_FAILED: { kind: 'integrity' },
  ERR_HOST_RECOVERY_RATE_LIMITED: { kind: 'limit' },
  ERR_HOST_RECOVERY_KEY_FORMAT: { kind: 'usage' },
  ERR_HOST_POLICY_UNSATISFIABLE: { kind: 'state' },
  ERR_HOST_MODE_IRREVERSIBLE: { kind: 'state' },
  ERR_HOST_MODE_REQUIRED: { kind: 'state' },
  ERR_HOST_NO_TPM: { kind: 'state' },
  ERR_HOST_NOT_INITIALIZED: { kind: 'not-found' },
  ERR_HOST_ALREADY_INITIALIZED: { kind: 'conflict' },
  ERR_HOST_DATA_DIR: { kind: 'denied' },
  ERR_HOST_FILE_TOO_LARGE: { kind: 'limit' },
  ERR_HOST_TPM_SPEC: { kind: 'usage' },
  ERR_HOST_EVENTLOG: { kind: 'input' },
  ERR_HOST_KEYSTORE_CORRUPT: { kind: 'integrity' },
  ERR_HOST_KEYSTORE_ROLLBACK: { kind: 'integrity' },
  ERR_HOST_KEYSTORE_ANCHOR: { kind: 'io' },
  ERR_HOST_KEYSTORE_CLOSED: { kind: 'state' },
  ERR_HOST_KEY_NOT_FOUND: { kind: 'not-found' },
  ERR_HOST_BAD_ARGUMENT: { kind: 'usage' },
  ERR_HOST_BAD_REQUEST: { kind: 'usage' },
  ERR_HOST_PROTOCOL: { kind: 'input' },
  ERR_HOST_AGENT_NOT_RUNNING: { kind: 'io' },
  ERR_HOST_AGENT_RUNNING: { kind: 'conflict' },
  ERR_HOST_AGENT_ACCESS: { kind: 'denied' },
  ERR_HOST_AGENT: { kind: 'io' },
  ERR_HOST_INTERNAL: { kind: 'internal' },
  ERR_HOST_TEST_GUEST: { kind: 'io' },
  ERR_HOST_FILTER_KEY: { kind: 'usage' },
  ERR_HOST_FILTER_DISK: { kind: 'input' },
  // VMs (issue 12)
  ERR_HOST_DATASTORE_EXISTS: { kind: 'conflict' },
  ERR_HOST_DATASTORE_NOT_FOUND: { kind: 'not-found' },
  ERR_HOST_VM_NOT_FOUND: { kind: 'not-found' },
  ERR_HOST_VM_EXISTS: { kind: 'conflict' },
  ERR_HOST_VM_CONFIG: { kind: 'integrity' },
  ERR_HOST_VM_ENCRYPTION: { kind: 'state' },
  ERR_HOST_VM_LOCKED: { kind: 'state' },
  ERR_HOST_VM_DISK_KEY: { kind: 'not-found' },
  ERR_HOST_VM_POWER_STATE: { kind: 'state' },
  ERR_HOST_VM_RECRYPT_PARTIAL: { kind: 'state' },
  ERR_HOST_VM_SUSPEND: { kind: 'io' },
  ERR_HOST_FIRMWARE: { kind: 'state' },
  ERR_HOST_VTPM: { kind: 'io' },
  ERR_HOST_QEMU: { kind: 'io' },
  ERR_HOST_QMP: { kind: 'io' },
  ERR_HOST_RUN_DIR: { kind: 'state' },
  ERR_HOST_FILTER_UNAVAILABLE: { kind: 'state' },
  ERR_HOST_VM_SNAPSHOTS: { kind: 'state' },
  ERR_HOST_SNAPSHOT_NOT_FOUND: { kind: 'not-found' },
  ERR_HOST_SNAPSHOT_EXISTS: { kind: 'conflict' },
  ERR_HOST_SNAPSHOT_IO: { kind: 'io' },
  // host encryption mode, host key, memory dumps (issue 12)
  ERR_HOST_CRYPTO_STATE: { kind: 'state' },
  ERR_HOST_VM_DUMP: { kind: 'io' },
  ERR_HOST_COREDUMP_FORMAT: { kind: 'input' },
  ERR_HOST_COREDUMP_WRONG_KEY: { kind: 'integrity' },
  ERR_HOST_KEY_EXPORT_FORMAT: { kind: 'input' },
  ERR_HOST_KEY_EXPORT_PASSWORD: { kind: 'integrity' },
  // joining a center and its mutual-TLS listener (issue 13)
  ERR_HOST_REMOTE_DENIED: { kind: 'denied' },
  ERR_HOST_REMOTE_LISTEN: { kind: 'io' },
  ERR_HOST_REMOTE_FILES: { kind: 'integrity' },
  ERR_HOST_ALREADY_JOINED: { kind: 'conflict' },
  ERR_HOST_JOIN_UNREACHABLE: { kind: 'io' },
  ERR_HOST_JOIN_REFUSED: { kind: 'denied' },
  ERR_HOST_JOIN_RESPONSE: { kind: 'input' },
} as const satisfies Record<`ERR_HOST_${string}`, ErrorInfo>

/** A code of {@link hostErrors}. */
export type HostErrorCode = keyof typeof hostErrors

/** True for a code of {@link hostErrors} (e.g. one an agent answered with). */
export const isHostErrorCode = (code: string): code is HostErrorCode =>
  Object.hasOwn(hostErrors, code)

/** Every error of the host agent; the code is stable and documented in docs/errors/host.md. */
export class HostError extends CodedError {
  readonly code: HostErrorCode
  readonly details: Readonly<Record<string, string | number | boolean>>
  constructor(
    code: HostErrorCode,
    message: string,
    details: Record<string, string | number | boolean> = {},
    options?: ErrorOptions,
  ) {
    super(message, options)
    this.code = code
    this.details = details
  }
}
