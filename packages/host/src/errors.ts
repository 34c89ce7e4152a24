import { CodedError } from '@ward/core'

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
  encryptedDiskNeedsEncryptedVm:
    'An encrypted virtual disk cannot be associated with a VM that is not encrypted.',
} as const

/** Every error of the host agent; the code is stable and documented in docs/errors/host.md. */
export class HostError extends CodedError {
  readonly code: `ERR_HOST_${string}`
  readonly details: Readonly<Record<string, string | number | boolean>>
  constructor(
    code: `ERR_HOST_${string}`,
    message: string,
    details: Record<string, string | number | boolean> = {},
    options?: ErrorOptions,
  ) {
    super(message, options)
    this.code = code
    this.details = details
  }
}
