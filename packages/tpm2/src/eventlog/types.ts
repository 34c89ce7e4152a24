/**
 * TCG PC Client Platform Firmware Profile (PFP) 1.05 rev 23, §10: event types and the crypto-agile
 * log format of /sys/kernel/security/tpm0/binary_bios_measurements. All integers little-endian.
 */

/** Event types, PFP §10.4.1 (Table 9). */
export const EV = {
  PREBOOT_CERT: 0x00000000,
  POST_CODE: 0x00000001,
  NO_ACTION: 0x00000003,
  SEPARATOR: 0x00000004,
  ACTION: 0x00000005,
  EVENT_TAG: 0x00000006,
  S_CRTM_CONTENTS: 0x00000007,
  S_CRTM_VERSION: 0x00000008,
  CPU_MICROCODE: 0x00000009,
  PLATFORM_CONFIG_FLAGS: 0x0000000a,
  TABLE_OF_DEVICES: 0x0000000b,
  COMPACT_HASH: 0x0000000c,
  IPL: 0x0000000d,
  IPL_PARTITION_DATA: 0x0000000e,
  NONHOST_CODE: 0x0000000f,
  NONHOST_CONFIG: 0x00000010,
  NONHOST_INFO: 0x00000011,
  OMIT_BOOT_DEVICE_EVENTS: 0x00000012,
  EFI_VARIABLE_DRIVER_CONFIG: 0x80000001,
  EFI_VARIABLE_BOOT: 0x80000002,
  EFI_BOOT_SERVICES_APPLICATION: 0x80000003,
  EFI_BOOT_SERVICES_DRIVER: 0x80000004,
  EFI_RUNTIME_SERVICES_DRIVER: 0x80000005,
  EFI_GPT_EVENT: 0x80000006,
  EFI_ACTION: 0x80000007,
  EFI_PLATFORM_FIRMWARE_BLOB: 0x80000008,
  EFI_HANDOFF_TABLES: 0x80000009,
  EFI_VARIABLE_AUTHORITY: 0x800000e0,
} as const

/** TCG_EfiSpecIDEventStruct, PFP §10.4.5.1: the first (SHA-1 format) event of a crypto-agile log. */
export interface SpecIdEvent {
  readonly platformClass: number
  readonly specVersionMinor: number
  readonly specVersionMajor: number
  readonly specErrata: number
  readonly uintnSize: number
  /** TPM_ALG id and digest size of every bank the log carries */
  readonly algorithms: readonly { readonly algorithmId: number; readonly digestSize: number }[]
  readonly vendorInfo: Uint8Array
}

/** TCG_PCR_EVENT2, PFP §10.2.2. */
export interface PcrEvent {
  readonly pcrIndex: number
  readonly eventType: number
  /** digest per TPM_ALG id */
  readonly digests: readonly { readonly hashAlg: number; readonly digest: Uint8Array }[]
  readonly event: Uint8Array
}

export interface EventLog {
  readonly specId: SpecIdEvent
  readonly events: readonly PcrEvent[]
}

/** "Spec ID Event03\0", PFP §10.4.5.1. */
export const SPEC_ID_SIGNATURE = 'Spec ID Event03\0'
/** "StartupLocality\0", PFP §10.4.5.3: EV_NO_ACTION event setting PCR 0's initial locality. */
export const STARTUP_LOCALITY_SIGNATURE = 'StartupLocality\0'
