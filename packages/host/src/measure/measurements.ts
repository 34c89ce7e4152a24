import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from '@ward/core'
import {
  EV,
  encodeEventLog,
  eventDigest,
  parseEventLog,
  replay,
  type LogEvent,
} from './event-log.js'
import { readFileBounded, writeFileAtomic } from '../util/files.js'
import type { HostTpm } from '../tpm/host-tpm.js'

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
    for (const e of events) await o.tpm?.pcrExtend(e.pcr, eventDigest(e.type, e.data))
    writeFileAtomic(fwPath, encodeEventLog(events), 0o600)
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
    for (const e of wardEvents) await o.tpm?.pcrExtend(e.pcr, eventDigest(e.type, e.data))
    writeFileAtomic(wardPath, encodeEventLog(wardEvents), 0o600)
    if (bootId !== undefined) writeFileAtomic(bootIdPath, bootId, 0o600)
  }

  // From here on, only what the logs and the TPM say.
  const events: LogEvent[] = []
  if (firmwareLogPath) {
    const fw = readFileBounded(firmwareLogPath, 16 << 20)
    if (fw) events.push(...parseEventLog(fw))
  }
  const ward = readFileBounded(wardPath, 16 << 20)
  if (ward) events.push(...parseEventLog(ward))
  const replayed = replay(events)
  const pcrs: number[] = [PCR.secureBoot, PCR.wardVersion, PCR.execInstalledOnly]
  const pcrValues = o.tpm ? await o.tpm.pcrRead(pcrs) : new Map<number, Buffer>()
  const mismatched = o.tpm
    ? pcrs.filter((p) => !(replayed.get(p) ?? Buffer.alloc(32)).equals(pcrValues.get(p)!))
    : []
  for (const p of mismatched)
    o.log.warn(
      { pcr: p, finding: 'eventlog.replay_mismatch' },
      'event log does not replay to the PCR value',
    )
  const trusted = (pcr: number): boolean => !mismatched.includes(pcr)

  let secureBoot: boolean | undefined
  for (const e of events)
    if (e.pcr === PCR.secureBoot && e.type === EV.EFI_VARIABLE_DRIVER_CONFIG) {
      const v = readUefiVariable(e.data)
      if (v?.name === 'SecureBoot') secureBoot = v.value[0] === 1
    }
  if (secureBoot === undefined && !o.simulateFirmware) secureBoot = efiSecureBoot()
  let execInstalledOnly = false
  let wardVersion: string | undefined
  for (const e of events) {
    if (e.pcr === PCR.execInstalledOnly && e.type === EV.IPL)
      execInstalledOnly = e.data.toString('utf8') === 'execInstalledOnly=TRUE'
    if (e.pcr === PCR.wardVersion && e.type === EV.IPL) wardVersion = e.data.toString('utf8')
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
