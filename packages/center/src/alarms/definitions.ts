/**
 * The center's alarm definitions, declared once: id, name (vCenter's where it has one), the status
 * it raises (yellow = warning, red = alert), what it watches and, for the NKP one, the re-raise
 * period (vsphere-features.md §20: "re-raised every 24 h after acknowledge until backup"). The
 * alarms route, `ward alarm list` and docs/center.md read this table.
 */
export type AlarmStatus = 'green' | 'yellow' | 'red'

export interface AlarmDefinition {
  readonly name: string
  readonly status: Exclude<AlarmStatus, 'green'>
  /** What the alarm watches and what clears it. */
  readonly description: string
  /** An acknowledged alarm whose condition still holds is raised again after this long. */
  readonly reraiseMs?: number
}

const DAY = 86_400_000

export const alarmDefinitions = {
  NkpNotBackedUp: {
    name: 'Native Key Provider not backed up',
    status: 'yellow',
    description:
      'a native key provider has not been backed up (its status is "Not backed up"); cleared by its backup',
    reraiseMs: DAY,
  },
  KmsUnreachable: {
    name: 'KMS server unreachable',
    status: 'red',
    description: 'a KMS server of a standard key provider does not answer; cleared when it does',
  },
  CertificateExpiring: {
    name: 'Certificate expiring',
    status: 'yellow',
    description:
      "a certificate expires within the warning window (the center's CA, server and client certificates, hosts' certificates, KMS server and client certificates); cleared when renewed",
  },
  VmLocked: {
    name: 'Virtual machine locked',
    status: 'red',
    description:
      "an encrypted VM is locked (its key is missing); the message is the seed's locked event text; cleared when it unlocks",
  },
  RecoveryKeyNotBackedUp: {
    name: 'TPM Encryption Recovery Key Backup',
    status: 'yellow',
    description:
      'a host in encryption mode TPM whose current recovery key was never shown on its console (ward host settings encryption recovery list); cleared when it was',
  },
  HostDisconnected: {
    name: 'Host connection and power state',
    status: 'red',
    description: 'a host is not responding or disconnected; cleared when it answers again',
  },
} as const satisfies Record<string, AlarmDefinition>

export type AlarmDefinitionId = keyof typeof alarmDefinitions

export const isAlarmDefinition = (s: string): s is AlarmDefinitionId =>
  Object.hasOwn(alarmDefinitions, s)
