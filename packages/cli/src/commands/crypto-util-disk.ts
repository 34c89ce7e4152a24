import { basename } from 'node:path'
import { readSecretFile, type Secret } from '@ward/core'
import {
  decryptDisk,
  describeDisk,
  encryptDisk,
  encryptInPlace,
  rekeyDeep,
  rekeyShallow,
  WARD_KDF_DEFAULTS,
  type DiskDescription,
  type DiskResult,
  type KeyslotKdfOptions,
} from '@ward/envelope/disk'
import { defineCommand, type Command } from '../command.js'
import { bool, choice, custom, int, text, type FlagValues } from '../flags.js'
import { lazyProgress, type Output } from '../output.js'
import { CliError } from '../errors.js'

/*
 * `ward crypto-util disk ...`: LUKS2 disks offline (issue 2). KEK files hold 32 raw bytes and
 * passphrase files one line; both must be mode 0600. Key material is only ever borrowed from a
 * Secret for the duration of an operation.
 */

/** Flags of every command that writes a keyslot, shaped like cryptsetup's. */
const kdfFlags = (prefix: string) =>
  ({
    pbkdf: choice(
      ['argon2id', 'argon2i', 'pbkdf2'],
      `${prefix}KDF of the recovery keyslot (default argon2id)`,
    ),
    'pbkdf-memory': int(
      `${prefix}argon2 memory in KiB (default ${WARD_KDF_DEFAULTS.memory}, at most half the host's memory)`,
      { min: 1 },
    ),
    'pbkdf-force-iterations': int(
      `${prefix}argon2 passes (default ${WARD_KDF_DEFAULTS.passes}) or PBKDF2-SHA256 iterations (default ${WARD_KDF_DEFAULTS.pbkdf2Iterations})`,
      { min: 1 },
    ),
    'pbkdf-parallel': int(
      `${prefix}argon2 lanes (default min(${WARD_KDF_DEFAULTS.maxParallelism}, CPUs))`,
      { min: 1 },
    ),
  }) as const
type KdfValues = FlagValues<ReturnType<typeof kdfFlags>>

/** The KDF flags, or undefined when none is given (library defaults). */
function kdfOptions(v: KdfValues, hasPassphrase: boolean): KeyslotKdfOptions | undefined {
  const o: KeyslotKdfOptions = {
    ...(v.pbkdf !== undefined ? { type: v.pbkdf } : {}),
    ...(v['pbkdf-memory'] !== undefined ? { memory: v['pbkdf-memory'] } : {}),
    ...(v['pbkdf-force-iterations'] !== undefined
      ? { iterations: v['pbkdf-force-iterations'] }
      : {}),
    ...(v['pbkdf-parallel'] !== undefined ? { parallelism: v['pbkdf-parallel'] } : {}),
  }
  if (Object.keys(o).length === 0) return undefined
  if (!hasPassphrase)
    throw new CliError(
      'ERR_CLI_USAGE',
      '--pbkdf* flags set the recovery keyslot: give --recovery-passphrase-file too',
    )
  return o
}

/** --key-slot N: a keyslot number as cryptsetup prints it (0-31). */
const keySlotFlag = (help: string) =>
  custom(
    help,
    (s, name) => {
      if (!/^(0|[1-9][0-9]?)$/.test(s))
        throw new CliError('ERR_CLI_USAGE', `--${name} must be a keyslot number (0-31)`, {
          option: name,
        })
      return s
    },
    { value: 'N' },
  )

const fileFlag = (help: string) => text(help, { value: 'FILE' })
const segmentBytesFlag = int(
  'bytes per segment, a multiple of 4096 (default 4 MiB into a new file, 16 MiB in place; tests use small ones)',
  { min: 1 },
)

/** Borrow the bytes of several secrets (nested `use`) for an async operation, then dispose them all. */
async function withSecrets<T>(
  secrets: readonly (Secret | undefined)[],
  fn: (bytes: (Uint8Array | undefined)[]) => Promise<T>,
): Promise<T> {
  const step = (i: number, acc: (Uint8Array | undefined)[]): Promise<T> => {
    if (i === secrets.length) return fn(acc)
    const s = secrets[i]
    return s ? s.use((b) => step(i + 1, [...acc, b])) : step(i + 1, [...acc, undefined])
  }
  try {
    return await step(0, [])
  } finally {
    for (const s of secrets) s?.dispose()
  }
}

const readKek = (path: string): Secret => readSecretFile(path, { length: 32 })
const readPass = (path: string | undefined): Secret | undefined =>
  path === undefined ? undefined : readSecretFile(path, { trimNewline: true })

function print(out: Output, action: string, r: DiskResult): void {
  const was =
    r.previousKekId !== undefined
      ? `, was KEK '${r.previousKekId}' of provider '${r.previousProviderId ?? ''}'`
      : ''
  out.data({ action, ...r }, () =>
    r.alreadyDone
      ? `${r.path}: nothing to do (${action} already complete${r.kekId !== undefined ? `: KEK '${r.kekId}' of provider '${r.providerId ?? ''}'` : ''})`
      : `${action}: ${r.path} (${r.dataBytes} bytes of data${r.kekId !== undefined ? `, KEK '${r.kekId}' of provider '${r.providerId ?? ''}'` : ''}${was}${r.resumed ? ', resumed from its journal' : ''})`,
  )
}

const encrypt = defineCommand({
  path: ['crypto-util', 'disk', 'encrypt'],
  summary: 'Encrypt a raw disk image into a LUKS2 disk (new file, or in place)',
  example:
    'ward crypto-util disk encrypt --in vm.img --out vm.luks --kek-file kek --provider-id kms-1 --kek-id kek-42',
  flags: {
    in: fileFlag('raw image to encrypt (with --out)'),
    out: fileFlag('new LUKS2 file to create (never overwritten; mode 0600)'),
    'in-place': fileFlag(
      'raw image to encrypt in place (grows by 16 MiB; made owner-only, 0600; crash-safe: re-run to resume)',
    ),
    'kek-file': text('file holding the 32-byte KEK, mode 0600', { value: 'FILE', required: true }),
    'provider-id': text('key provider id recorded in the Ward token', {
      value: 'ID',
      default: 'offline',
    }),
    'kek-id': text('KEK id recorded in the Ward token (default: the KEK file name)', {
      value: 'ID',
    }),
    'recovery-passphrase-file': fileFlag(
      'add a recovery keyslot (argon2id) opened by this passphrase (mode 0600)',
    ),
    ...kdfFlags(''),
    'segment-bytes': segmentBytesFlag,
    'force-raw': bool(
      'encrypt the input as a raw image even if it starts like a qcow2, VMDK, VHD(X) or VDI image (refused by default: convert those with qemu-img convert -O raw)',
    ),
  },
  async run({ values, out: output }) {
    const { 'in-place': inPlace, in: input, out } = values
    if (
      (inPlace === undefined) === (input === undefined) ||
      (input !== undefined) !== (out !== undefined)
    )
      throw new CliError('ERR_CLI_USAGE', 'give either --in RAW --out DISK, or --in-place FILE')
    const kekFile = values['kek-file']
    const providerId = values['provider-id']
    const kekId = values['kek-id'] ?? basename(kekFile)
    const passFile = values['recovery-passphrase-file']
    const kdf = kdfOptions(values, passFile !== undefined)
    const segmentBytes = values['segment-bytes']
    const kek = readKek(kekFile)
    const pass = readPass(passFile)
    const progress = lazyProgress(output, 'encrypt')
    const r = await withSecrets([kek, pass], ([k, p]) => {
      const o = {
        kek: k as Uint8Array,
        providerId,
        kekId,
        onProgress: progress.onProgress,
        assumeRaw: values['force-raw'],
        ...(p !== undefined ? { recoveryPassphrase: p } : {}),
        ...(kdf !== undefined ? { recoveryKdf: kdf } : {}),
        ...(segmentBytes !== undefined ? { segmentBytes } : {}),
      }
      return inPlace !== undefined
        ? encryptInPlace(inPlace, o)
        : encryptDisk(input as string, out as string, o)
    })
    progress.finish()
    print(output, 'encrypt', r)
    return 0
  },
})

const decrypt = defineCommand({
  path: ['crypto-util', 'disk', 'decrypt'],
  summary: 'Decrypt a LUKS2 disk to a raw image, with its KEK or a recovery passphrase',
  example: 'ward crypto-util disk decrypt --in vm.luks --out back.img --kek-file kek',
  flags: {
    in: text('LUKS2 disk', { value: 'FILE', required: true }),
    out: text('raw image to create (never overwritten; mode 0600)', {
      value: 'FILE',
      required: true,
    }),
    'kek-file': fileFlag(
      'file holding the 32-byte KEK, mode 0600 (unlocks through the Ward token)',
    ),
    'recovery-passphrase-file': fileFlag(
      'passphrase of a keyslot (argon2id, argon2i or pbkdf2), mode 0600 (break-glass)',
    ),
    'key-slot': keySlotFlag('try the passphrase on this keyslot only (default: every keyslot)'),
    'segment-bytes': segmentBytesFlag,
  },
  async run({ values, out }) {
    const { in: input, out: output, 'kek-file': kekFile } = values
    const passFile = values['recovery-passphrase-file']
    if ((kekFile === undefined) === (passFile === undefined))
      throw new CliError(
        'ERR_CLI_USAGE',
        'give exactly one of --kek-file or --recovery-passphrase-file',
      )
    const keyslot = values['key-slot']
    if (keyslot !== undefined && passFile === undefined)
      throw new CliError('ERR_CLI_USAGE', '--key-slot goes with --recovery-passphrase-file')
    const segmentBytes = values['segment-bytes']
    const secret = kekFile !== undefined ? readKek(kekFile) : (readPass(passFile) as Secret)
    const progress = lazyProgress(out, 'decrypt')
    const r = await withSecrets([secret], ([b]) =>
      decryptDisk(input, output, {
        unlock:
          kekFile !== undefined
            ? { kek: b as Uint8Array }
            : { passphrase: b as Uint8Array, ...(keyslot !== undefined ? { keyslot } : {}) },
        onProgress: progress.onProgress,
        ...(segmentBytes !== undefined ? { segmentBytes } : {}),
      }),
    )
    progress.finish()
    print(out, 'decrypt', r)
    return 0
  },
})

const rekey = defineCommand({
  path: ['crypto-util', 'disk', 'rekey'],
  summary: 'Rekey a LUKS2 disk: --shallow (new KEK, header only) or --deep (new DEK, every sector)',
  args: 'DISK',
  example:
    'ward crypto-util disk rekey --shallow --kek-file kek --new-kek-file kek2 --new-kek-id kek-43 vm.luks',
  flags: {
    shallow: bool('rewrap the DEK under --new-kek-file (time independent of the disk size)'),
    deep: bool('re-encrypt every sector under a new DEK (crash-safe: re-run to resume)'),
    'kek-file': text('the current 32-byte KEK, mode 0600', { value: 'FILE', required: true }),
    'new-kek-file': fileFlag('--shallow: the new 32-byte KEK, mode 0600'),
    'new-provider-id': text('--shallow: new key provider id (default: keep)', { value: 'ID' }),
    'new-kek-id': text(
      "--shallow, required: the new KEK's id at its provider, recorded in the Ward token (printed with the old one)",
      { value: 'ID' },
    ),
    'recovery-passphrase-file': fileFlag(
      '--deep: passphrase of the recovery keyslot, rebuilt for the new DEK',
    ),
    'key-slot': keySlotFlag(
      '--deep: check the passphrase on this keyslot only (default: every keyslot)',
    ),
    ...kdfFlags('--deep: '),
    'segment-bytes': segmentBytesFlag,
  },
  async run({ values, positionals, out }) {
    const disk = positionals[0]
    if (disk === undefined || positionals.length !== 1)
      throw new CliError('ERR_CLI_USAGE', 'give exactly one DISK')
    const shallow = values.shallow
    if (shallow === values.deep)
      throw new CliError('ERR_CLI_USAGE', 'give exactly one of --shallow or --deep')
    const kek = readKek(values['kek-file'])
    const progress = lazyProgress(out, 'rekey')
    let r: DiskResult
    if (shallow) {
      const newKekFile = values['new-kek-file']
      if (newKekFile === undefined)
        throw new CliError('ERR_CLI_USAGE', '--new-kek-file is required', {
          option: 'new-kek-file',
        })
      // a shallow rekey changes the KEK, so the id naming it changes too: never guessed from a file name
      const kekId = values['new-kek-id']
      if (kekId === undefined)
        throw new CliError(
          'ERR_CLI_USAGE',
          "--shallow needs --new-kek-id: the new KEK's id at its key provider (recorded in the disk's Ward token in place of the old KEK's id)",
          { option: 'new-kek-id' },
        )
      const providerId = values['new-provider-id']
      const newKek = readKek(newKekFile)
      r = await withSecrets([kek, newKek], ([k, n]) =>
        Promise.resolve(
          rekeyShallow(disk, {
            kek: k as Uint8Array,
            newKek: n as Uint8Array,
            kekId,
            ...(providerId !== undefined ? { providerId } : {}),
          }),
        ),
      )
    } else {
      const passFile = values['recovery-passphrase-file']
      const kdf = kdfOptions(values, passFile !== undefined)
      const keyslot = values['key-slot']
      if (keyslot !== undefined && passFile === undefined)
        throw new CliError('ERR_CLI_USAGE', '--key-slot goes with --recovery-passphrase-file')
      const segmentBytes = values['segment-bytes']
      const pass = readPass(passFile)
      r = await withSecrets([kek, pass], ([k, p]) =>
        rekeyDeep(disk, {
          kek: k as Uint8Array,
          onProgress: progress.onProgress,
          ...(p !== undefined ? { recoveryPassphrase: p } : {}),
          ...(keyslot !== undefined ? { recoveryKeyslotId: keyslot } : {}),
          ...(kdf !== undefined ? { recoveryKdf: kdf } : {}),
          ...(segmentBytes !== undefined ? { segmentBytes } : {}),
        }),
      )
    }
    progress.finish()
    print(out, shallow ? 'rekey-shallow' : 'rekey-deep', r)
    return 0
  },
})

/** `0 (luks2, argon2id: 1048576 KiB, 4 iterations, 2 lanes)`: the KDF and its cost, never a key. */
function keyslotLine(k: DiskDescription['keyslots'][number]): string {
  const cost = [
    k.hash,
    k.memoryKiB !== undefined ? `${k.memoryKiB} KiB` : undefined,
    k.iterations !== undefined ? `${k.iterations} iterations` : undefined,
    k.parallelism !== undefined ? `${k.parallelism} lanes` : undefined,
  ].filter((x) => x !== undefined)
  return `${k.id} (${k.type}, ${k.kdf}${cost.length ? `: ${cost.join(', ')}` : ''})`
}

/** The text form of a disk description (`disk describe`, `envelope describe`): lines, never JSON. */
export function diskDescriptionText(d: DiskDescription): string {
  return [
    `format:      LUKS2 (uuid ${d.uuid})`,
    `cipher:      ${d.cipher ?? '-'} ${d.keyBits ?? '?'} bits, sector ${d.sectorSize ?? '?'}`,
    `data:        ${d.dataBytes ?? 0} bytes at offset ${d.dataOffset ?? '?'}`,
    ...(d.truncated
      ? [
          `truncated:   the file ends before its data${d.recordedDataBytes !== undefined ? ` (the disk holds ${d.recordedDataBytes} bytes)` : ''}; copy it again from its source`,
        ]
      : []),
    `ward token:  ${d.ward ? `provider '${d.providerId ?? ''}', KEK '${d.kekId ?? ''}'` : 'none'}`,
    `keyslots:    ${d.keyslots.map(keyslotLine).join(', ') || 'none'}`,
    ...(d.requirements.length ? [`requirements: ${d.requirements.join(', ')}`] : []),
    ...(d.pendingOperation
      ? ['pending:     an interrupted operation left its journal; re-run it to finish']
      : []),
    ...(d.damagedHeaders.length
      ? [`damaged:     ${d.damagedHeaders.join(', ')} header (recovered)`]
      : []),
  ].join('\n')
}

const describe = defineCommand({
  path: ['crypto-util', 'disk', 'describe'],
  summary: 'Describe a LUKS2 disk: cipher, sector size, Ward token ids, keyslots (never keys)',
  args: 'DISK',
  example: 'ward crypto-util disk describe vm.luks',
  flags: {},
  async run({ positionals, out }) {
    const disk = positionals[0]
    if (disk === undefined) throw new CliError('ERR_CLI_USAGE', 'give a DISK')
    const d = describeDisk(disk)
    out.data(d, () => diskDescriptionText(d))
    return 0
  },
})

/** The `ward crypto-util disk ...` commands. */
export const cryptoUtilDiskCommands: readonly Command[] = [encrypt, decrypt, rekey, describe]
