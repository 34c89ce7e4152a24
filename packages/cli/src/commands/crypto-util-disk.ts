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
import { defineCommand, type Command, type CommandContext } from '../command.js'
import type { Progress } from '../output.js'
import { CliError } from '../errors.js'

/*
 * `ward crypto-util disk ...`: LUKS2 disks offline (issue 2). KEK files hold 32 raw bytes and
 * passphrase files one line; both must be mode 0600. Key material is only ever borrowed from a
 * Secret for the duration of an operation.
 */

function str(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.values[name]
  if (v === undefined) return undefined
  if (typeof v !== 'string' || v === '')
    throw new CliError('ERR_CLI_USAGE', `--${name} needs a value`, { option: name })
  return v
}

function required(ctx: CommandContext, name: string): string {
  const v = str(ctx, name)
  if (v === undefined)
    throw new CliError('ERR_CLI_USAGE', `--${name} is required`, { option: name })
  return v
}

function int(ctx: CommandContext, name: string): number | undefined {
  const v = str(ctx, name)
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new CliError('ERR_CLI_USAGE', `--${name} must be a positive integer`, { option: name })
  return n
}

/** Flags of every command that writes a keyslot, shaped like cryptsetup's. */
const kdfOptions = {
  pbkdf: { type: 'string' },
  'pbkdf-memory': { type: 'string' },
  'pbkdf-force-iterations': { type: 'string' },
  'pbkdf-parallel': { type: 'string' },
} as const

const kdfHelp = (prefix: string): Record<string, string> => ({
  pbkdf: `${prefix}KDF of the recovery keyslot: argon2id (default), argon2i or pbkdf2`,
  'pbkdf-memory': `${prefix}argon2 memory in KiB (default ${WARD_KDF_DEFAULTS.memory}, at most half the host's memory)`,
  'pbkdf-force-iterations': `${prefix}argon2 passes (default ${WARD_KDF_DEFAULTS.passes}) or PBKDF2-SHA256 iterations (default ${WARD_KDF_DEFAULTS.pbkdf2Iterations})`,
  'pbkdf-parallel': `${prefix}argon2 lanes (default min(${WARD_KDF_DEFAULTS.maxParallelism}, CPUs))`,
})

/** The KDF flags, or undefined when none is given (library defaults). */
function kdfFlags(ctx: CommandContext, hasPassphrase: boolean): KeyslotKdfOptions | undefined {
  const type = str(ctx, 'pbkdf')
  if (type !== undefined && type !== 'argon2id' && type !== 'argon2i' && type !== 'pbkdf2')
    throw new CliError('ERR_CLI_USAGE', '--pbkdf must be argon2id, argon2i or pbkdf2', {
      option: 'pbkdf',
    })
  const memory = int(ctx, 'pbkdf-memory')
  const iterations = int(ctx, 'pbkdf-force-iterations')
  const parallelism = int(ctx, 'pbkdf-parallel')
  const o: KeyslotKdfOptions = {
    ...(type !== undefined ? { type } : {}),
    ...(memory !== undefined ? { memory } : {}),
    ...(iterations !== undefined ? { iterations } : {}),
    ...(parallelism !== undefined ? { parallelism } : {}),
  }
  if (Object.keys(o).length === 0) return undefined
  if (!hasPassphrase)
    throw new CliError(
      'ERR_CLI_USAGE',
      '--pbkdf* flags set the recovery keyslot: give --recovery-passphrase-file too',
    )
  return o
}

/** --key-slot N: a keyslot number as cryptsetup prints it. */
function keySlot(ctx: CommandContext): string | undefined {
  const v = str(ctx, 'key-slot')
  if (v !== undefined && !/^(0|[1-9][0-9]?)$/.test(v))
    throw new CliError('ERR_CLI_USAGE', '--key-slot must be a keyslot number (0-31)', {
      option: 'key-slot',
    })
  return v
}

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

function progressFor(ctx: CommandContext, label: string) {
  let bar: Progress | undefined
  return {
    onProgress: (done: number, total: number) => {
      bar ??= ctx.out.progress(label, total)
      bar.update(done)
    },
    finish: () => bar?.done(),
  }
}

function print(ctx: CommandContext, action: string, r: DiskResult): void {
  const was =
    r.previousKekId !== undefined
      ? `, was KEK '${r.previousKekId}' of provider '${r.previousProviderId ?? ''}'`
      : ''
  ctx.out.data({ action, ...r }, () =>
    r.alreadyDone
      ? `${r.path}: nothing to do (${action} already complete${r.kekId !== undefined ? `: KEK '${r.kekId}' of provider '${r.providerId ?? ''}'` : ''})`
      : `${action}: ${r.path} (${r.dataBytes} bytes of data${r.kekId !== undefined ? `, KEK '${r.kekId}' of provider '${r.providerId ?? ''}'` : ''}${was}${r.resumed ? ', resumed from its journal' : ''})`,
  )
}

const segmentHelp =
  'bytes per segment, a multiple of 4096 (default 4 MiB into a new file, 16 MiB in place; tests use small ones)'

const encrypt = defineCommand({
  path: ['crypto-util', 'disk', 'encrypt'],
  summary: 'Encrypt a raw disk image into a LUKS2 disk (new file, or in place)',
  options: {
    in: { type: 'string' },
    out: { type: 'string' },
    'in-place': { type: 'string' },
    'kek-file': { type: 'string' },
    'provider-id': { type: 'string' },
    'kek-id': { type: 'string' },
    'recovery-passphrase-file': { type: 'string' },
    ...kdfOptions,
    'segment-bytes': { type: 'string' },
    'force-raw': { type: 'boolean' },
  },
  help: {
    in: 'raw image to encrypt (with --out)',
    out: 'new LUKS2 file to create (never overwritten; mode 0600)',
    'in-place':
      'raw image to encrypt in place (grows by 16 MiB; made owner-only, 0600; crash-safe: re-run to resume)',
    'kek-file': 'file holding the 32-byte KEK, mode 0600',
    'provider-id': "key provider id recorded in the Ward token (default 'offline')",
    'kek-id': 'KEK id recorded in the Ward token (default: the KEK file name)',
    'recovery-passphrase-file':
      'add a recovery keyslot (argon2id) opened by this passphrase (mode 0600)',
    ...kdfHelp(''),
    'segment-bytes': segmentHelp,
    'force-raw':
      'encrypt the input as a raw image even if it starts like a qcow2, VMDK, VHD(X) or VDI image (refused by default: convert those with qemu-img convert -O raw)',
  },
  async run(ctx) {
    const inPlace = str(ctx, 'in-place')
    const input = str(ctx, 'in')
    const out = str(ctx, 'out')
    if (
      (inPlace === undefined) === (input === undefined) ||
      (input !== undefined) !== (out !== undefined)
    )
      throw new CliError('ERR_CLI_USAGE', 'give either --in RAW --out DISK, or --in-place FILE')
    const kekFile = required(ctx, 'kek-file')
    const providerId = str(ctx, 'provider-id') ?? 'offline'
    const kekId = str(ctx, 'kek-id') ?? basename(kekFile)
    const passFile = str(ctx, 'recovery-passphrase-file')
    const kdf = kdfFlags(ctx, passFile !== undefined)
    const segmentBytes = int(ctx, 'segment-bytes')
    const kek = readKek(kekFile)
    const pass = readPass(passFile)
    const progress = progressFor(ctx, 'encrypt')
    const r = await withSecrets([kek, pass], ([k, p]) => {
      const o = {
        kek: k as Uint8Array,
        providerId,
        kekId,
        onProgress: progress.onProgress,
        assumeRaw: ctx.values['force-raw'] === true,
        ...(p !== undefined ? { recoveryPassphrase: p } : {}),
        ...(kdf !== undefined ? { recoveryKdf: kdf } : {}),
        ...(segmentBytes !== undefined ? { segmentBytes } : {}),
      }
      return inPlace !== undefined
        ? encryptInPlace(inPlace, o)
        : encryptDisk(input as string, out as string, o)
    })
    progress.finish()
    print(ctx, 'encrypt', r)
    return 0
  },
})

const decrypt = defineCommand({
  path: ['crypto-util', 'disk', 'decrypt'],
  summary: 'Decrypt a LUKS2 disk to a raw image, with its KEK or a recovery passphrase',
  options: {
    in: { type: 'string' },
    out: { type: 'string' },
    'kek-file': { type: 'string' },
    'recovery-passphrase-file': { type: 'string' },
    'key-slot': { type: 'string' },
    'segment-bytes': { type: 'string' },
  },
  help: {
    in: 'LUKS2 disk',
    out: 'raw image to create (never overwritten; mode 0600)',
    'kek-file': 'file holding the 32-byte KEK, mode 0600 (unlocks through the Ward token)',
    'recovery-passphrase-file':
      'passphrase of a keyslot (argon2id, argon2i or pbkdf2), mode 0600 (break-glass)',
    'key-slot': 'try the passphrase on this keyslot only (default: every keyslot)',
    'segment-bytes': segmentHelp,
  },
  async run(ctx) {
    const input = required(ctx, 'in')
    const out = required(ctx, 'out')
    const kekFile = str(ctx, 'kek-file')
    const passFile = str(ctx, 'recovery-passphrase-file')
    if ((kekFile === undefined) === (passFile === undefined))
      throw new CliError(
        'ERR_CLI_USAGE',
        'give exactly one of --kek-file or --recovery-passphrase-file',
      )
    const keyslot = keySlot(ctx)
    if (keyslot !== undefined && passFile === undefined)
      throw new CliError('ERR_CLI_USAGE', '--key-slot goes with --recovery-passphrase-file')
    const segmentBytes = int(ctx, 'segment-bytes')
    const secret = kekFile !== undefined ? readKek(kekFile) : (readPass(passFile) as Secret)
    const progress = progressFor(ctx, 'decrypt')
    const r = await withSecrets([secret], ([b]) =>
      decryptDisk(input, out, {
        unlock:
          kekFile !== undefined
            ? { kek: b as Uint8Array }
            : { passphrase: b as Uint8Array, ...(keyslot !== undefined ? { keyslot } : {}) },
        onProgress: progress.onProgress,
        ...(segmentBytes !== undefined ? { segmentBytes } : {}),
      }),
    )
    progress.finish()
    print(ctx, 'decrypt', r)
    return 0
  },
})

const rekey = defineCommand({
  path: ['crypto-util', 'disk', 'rekey'],
  summary: 'Rekey a LUKS2 disk: --shallow (new KEK, header only) or --deep (new DEK, every sector)',
  args: 'DISK',
  options: {
    shallow: { type: 'boolean' },
    deep: { type: 'boolean' },
    'kek-file': { type: 'string' },
    'new-kek-file': { type: 'string' },
    'new-provider-id': { type: 'string' },
    'new-kek-id': { type: 'string' },
    'recovery-passphrase-file': { type: 'string' },
    'key-slot': { type: 'string' },
    ...kdfOptions,
    'segment-bytes': { type: 'string' },
  },
  help: {
    shallow: 'rewrap the DEK under --new-kek-file (time independent of the disk size)',
    deep: 're-encrypt every sector under a new DEK (crash-safe: re-run to resume)',
    'kek-file': 'the current 32-byte KEK, mode 0600',
    'new-kek-file': '--shallow: the new 32-byte KEK, mode 0600',
    'new-provider-id': '--shallow: new key provider id (default: keep)',
    'new-kek-id':
      "--shallow, required: the new KEK's id at its provider, recorded in the Ward token (printed with the old one)",
    'recovery-passphrase-file':
      '--deep: passphrase of the recovery keyslot, rebuilt for the new DEK',
    'key-slot': '--deep: check the passphrase on this keyslot only (default: every keyslot)',
    ...kdfHelp('--deep: '),
    'segment-bytes': segmentHelp,
  },
  async run(ctx) {
    const disk = ctx.positionals[0]
    if (disk === undefined || ctx.positionals.length !== 1)
      throw new CliError('ERR_CLI_USAGE', 'give exactly one DISK')
    const shallow = ctx.values.shallow === true
    if (shallow === (ctx.values.deep === true))
      throw new CliError('ERR_CLI_USAGE', 'give exactly one of --shallow or --deep')
    const kek = readKek(required(ctx, 'kek-file'))
    const progress = progressFor(ctx, 'rekey')
    let r: DiskResult
    if (shallow) {
      const newKekFile = required(ctx, 'new-kek-file')
      // a shallow rekey changes the KEK, so the id naming it changes too: never guessed from a file name
      const kekId = str(ctx, 'new-kek-id')
      if (kekId === undefined)
        throw new CliError(
          'ERR_CLI_USAGE',
          "--shallow needs --new-kek-id: the new KEK's id at its key provider (recorded in the disk's Ward token in place of the old KEK's id)",
          { option: 'new-kek-id' },
        )
      const providerId = str(ctx, 'new-provider-id')
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
      const passFile = str(ctx, 'recovery-passphrase-file')
      const kdf = kdfFlags(ctx, passFile !== undefined)
      const keyslot = keySlot(ctx)
      if (keyslot !== undefined && passFile === undefined)
        throw new CliError('ERR_CLI_USAGE', '--key-slot goes with --recovery-passphrase-file')
      const segmentBytes = int(ctx, 'segment-bytes')
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
    print(ctx, shallow ? 'rekey-shallow' : 'rekey-deep', r)
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
  options: {},
  async run(ctx) {
    const disk = ctx.positionals[0]
    if (disk === undefined) throw new CliError('ERR_CLI_USAGE', 'give a DISK')
    const d = describeDisk(disk)
    ctx.out.data(d, () => diskDescriptionText(d))
    return 0
  },
})

/** The `ward crypto-util disk ...` commands. */
export const cryptoUtilDiskCommands: readonly Command[] = [encrypt, decrypt, rekey, describe]
