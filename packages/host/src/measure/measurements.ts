import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from '@ward/core'
import {
  EventLogWriter,
  parseEventLog,
  replayEventLog,
  type EventLog,
  type PcrEvent,
} from '@ward/tpm2'
import { HostError } from '../errors.js'
import { readFileBounded, writeFileAtomic } from '../util/files.js'
import type { HostTpm } from '../tpm/host-tpm.js'

/** Event types used here (TCG PC Client PFP §10.4.1). */
const EV = { SEPARATOR: 0x4, IPL: 0xd, EFI_VARIABLE_DRIVER_CONFIG: 0x80000001 } as const

/** Largest event log accepted. */
const MAX_LOG = 16 << 20

/** Ward's version as measured into PCR 12. */
export const WARD_VERSION = '0.1.0'

/** PCRs Ward's sealing policy uses (PC Client PFP: 7 = secure boot policy; 12-13 OS-defined). */
export const PCR = { secureBoot: 7, wardVersion: 12, execInstalledOnly: 13 } as const

/** Files the simulated firmware and the agent write in the data folder. */
export const FIRMWARE_LOG = 'firmware-eventlog.bin'
export const WARD_LOG = 'ward-eventlog.bin'
const SYSFS_LOG = '/sys/kernel/security/tpm0/binary_bios_measurements'
const BOOT_ID = '/proc/sys/kernel/random/boot_id'
const EFI_SECURE_BOOT = '/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c'

/** What the boot measured, read back from the event logs and checked against the PCRs. */
export interface BootState {
  readonly secureBoot: boolean
  readonly execInstalledOnly: boolean
  readonly wardVersion: string | undefined
  /** Every replayed PCR equals the TPM's (always false without a TPM). */
  readonly verified: boolean
  /** Current sha256 values of the policy PCRs (empty without a TPM). */
  readonly pcrValues: ReadonlyMap<number, Buffer>
}

export interface MeasureOptions {
  readonly dataDir: string
  readonly tpm: HostTpm | undefined
  /** Play firmware (swtpm): measure this secure-boot state into PCR 7 and write the log. */
  readonly simulateFirmware: { readonly secureBoot: boolean } | undefined
  readonly execInstalledOnly: boolean
  readonly log: Logger
}

/** EFI_GLOBAL_VARIABLE GUID 8BE4DF61-93CA-11D2-AA0D-00E098032B8C in EFI_GUID byte order. */
const EFI_GLOBAL_VARIABLE = Buffer.from('61dfe48bca93d211aa0d00e098032b8c', 'hex')

/** UEFI_VARIABLE_DATA (PFP §10.4.9 / UEFI): GUID, u64 name length, u64 data length, UTF-16LE name, data. */
function uefiVariable(name: string, data: Uint8Array): Buffer {
  const n = Buffer.from(name, 'utf16le')
  const h = Buffer.alloc(32)
  EFI_GLOBAL_VARIABLE.copy(h, 0)
  h.writeBigUInt64LE(BigInt(name.length), 16)
  h.writeBigUInt64LE(BigInt(data.length), 24)
  return Buffer.concat([h, n, data])
}

function readUefiVariable(data: Buffer): { name: string; value: Buffer } | undefined {
  if (data.length < 32) return undefined
  const nameLen = Number(data.readBigUInt64LE(16))
  const valLen = Number(data.readBigUInt64LE(24))
  if (nameLen > 256 || valLen > 4096 || 32 + nameLen * 2 + valLen !== data.length) return undefined
  return {
    name: data.toString('utf16le', 32, 32 + nameLen * 2),
    value: data.subarray(32 + nameLen * 2),
  }
}

/**
 * Measure the boot and read it back. With `simulateFirmware` the agent plays firmware (PCR 7:
 * SecureBoot variable + separator); on a real host the firmware log comes from securityfs. The
 * agent then measures its own version (PCR 12) and the exec-installed-only setting (PCR 13).
 * Everything is then read the same way: parse the logs, replay, compare with the PCRs.
 */
export async function measureBoot(o: MeasureOptions): Promise<BootState> {
  const fwPath = join(o.dataDir, FIRMWARE_LOG)
  const wardPath = join(o.dataDir, WARD_LOG)
  let firmwareLogPath: string | undefined
  if (o.simulateFirmware) {
    const events = [
      {
        pcr: PCR.secureBoot,
        type: EV.EFI_VARIABLE_DRIVER_CONFIG,
        data: uefiVariable('SecureBoot', Buffer.from([o.simulateFirmware.secureBoot ? 1 : 0])),
      },
      { pcr: PCR.secureBoot, type: EV.SEPARATOR, data: Buffer.alloc(4) },
    ]
    writeFileAtomic(fwPath, await measureAll(o.tpm, events), 0o600)
    firmwareLogPath = fwPath
  } else if (o.tpm?.spec.kind === 'device') firmwareLogPath = SYSFS_LOG

  const wardEvents = [
    { pcr: PCR.wardVersion, type: EV.IPL, data: Buffer.from(`ward ${WARD_VERSION}`, 'utf8') },
    {
      pcr: PCR.execInstalledOnly,
      type: EV.IPL,
      data: Buffer.from(`execInstalledOnly=${o.execInstalledOnly ? 'TRUE' : 'FALSE'}`, 'utf8'),
    },
  ]
  // A real TPM is not reset when only the agent restarts: measure once per kernel boot.
  const bootId = o.tpm?.spec.kind === 'device' ? readBootId() : undefined
  const bootIdPath = join(o.dataDir, 'ward-eventlog.boot')
  const already = bootId !== undefined && readFileBounded(bootIdPath, 256)?.toString() === bootId
  if (!already) {
    writeFileAtomic(wardPath, await measureAll(o.tpm, wardEvents), 0o600)
    if (bootId !== undefined) writeFileAtomic(bootIdPath, bootId, 0o600)
  }

  return readMeasurements({
    logPaths: firmwareLogPath ? [firmwareLogPath, wardPath] : [wardPath],
    tpm: o.tpm,
    allowEfiVariable: !o.simulateFirmware,
    log: o.log,
  })
}

/**
 * Read a boot back from its event logs only: parse, replay as one sequence, compare with the
 * TPM's PCRs, and derive the secure-boot and exec-installed-only states (off unless the PCRs back
 * them).
 */
export async function readMeasurements(o: {
  readonly logPaths: readonly string[]
  readonly tpm: HostTpm | undefined
  /** Without a firmware log entry, fall back to the EFI SecureBoot variable. */
  readonly allowEfiVariable: boolean
  readonly log: Logger
}): Promise<BootState> {
  const logs: EventLog[] = []
  for (const path of o.logPaths) {
    const bytes = readFileBounded(path, MAX_LOG)
    if (bytes) logs.push(parseLog(path, bytes))
  }
  const events: PcrEvent[] = logs.flatMap((l) => l.events)
  // One sequence, replayed as one: Ward's events follow the firmware's like an OS loader's would.
  const replayed =
    logs[0] === undefined
      ? new Map<number, Uint8Array>()
      : replayEventLog({ specId: logs[0].specId, events })
  const pcrs: number[] = [PCR.secureBoot, PCR.wardVersion, PCR.execInstalledOnly]
  const pcrValues = o.tpm ? await o.tpm.pcrRead(pcrs) : new Map<number, Buffer>()
  const mismatched = o.tpm
    ? pcrs.filter(
        (p) => !Buffer.from(replayed.get(p) ?? Buffer.alloc(32)).equals(pcrValues.get(p)!),
      )
    : []
  for (const p of mismatched)
    o.log.warn(
      { pcr: p, finding: 'eventlog.replay_mismatch' },
      'event log does not replay to the PCR value',
    )
  const trusted = (pcr: number): boolean => !mismatched.includes(pcr)

  let secureBoot: boolean | undefined
  for (const e of events)
    if (e.pcrIndex === PCR.secureBoot && e.eventType === EV.EFI_VARIABLE_DRIVER_CONFIG) {
      const v = readUefiVariable(Buffer.from(e.event))
      if (v?.name === 'SecureBoot') secureBoot = v.value[0] === 1
    }
  if (secureBoot === undefined && o.allowEfiVariable) secureBoot = efiSecureBoot()
  let execInstalledOnly = false
  let wardVersion: string | undefined
  for (const e of events) {
    const text = Buffer.from(e.event).toString('utf8')
    if (e.pcrIndex === PCR.execInstalledOnly && e.eventType === EV.IPL)
      execInstalledOnly = text === 'execInstalledOnly=TRUE'
    if (e.pcrIndex === PCR.wardVersion && e.eventType === EV.IPL) wardVersion = text
  }
  return {
    // SECURITY: a state the PCRs do not back is treated as off (a forged log proves nothing).
    secureBoot: (secureBoot ?? false) && (!o.tpm || trusted(PCR.secureBoot)),
    execInstalledOnly: execInstalledOnly && (!o.tpm || trusted(PCR.execInstalledOnly)),
    wardVersion,
    verified: o.tpm !== undefined && mismatched.length === 0,
    pcrValues,
  }
}

/** Extend each event's sha256 into the TPM (when there is one) and return the log bytes. */
async function measureAll(
  tpm: HostTpm | undefined,
  events: readonly { pcr: number; type: number; data: Uint8Array }[],
): Promise<Buffer> {
  const w = new EventLogWriter(['sha256'])
  const parts = [w.header()]
  for (const e of events) {
    const digests = w.digestsOf(e.data)
    await tpm?.pcrExtend(e.pcr, digests[0]!.digest)
    parts.push(w.encode({ pcrIndex: e.pcr, eventType: e.type, digests, event: e.data }))
  }
  return Buffer.concat(parts)
}

function parseLog(path: string, bytes: Uint8Array): EventLog {
  try {
    return parseEventLog(bytes)
  } catch (e) {
    throw new HostError(
      'ERR_HOST_EVENTLOG',
      `${path}: malformed TCG event log (${(e as Error).message})`,
      {},
      { cause: e },
    )
  }
}

function readBootId(): string | undefined {
  try {
    return readFileSync(BOOT_ID, 'utf8').trim()
  } catch {
    return undefined
  }
}

/** UEFI SecureBoot variable: 4 attribute bytes then the value (1 = enabled). */
function efiSecureBoot(): boolean | undefined {
  const b = readFileBounded(EFI_SECURE_BOOT, 64)
  return b && b.length >= 5 ? b[4] === 1 : undefined
}
