import { stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { readSecretFile } from '@ward/core'
import {
  decryptVmFile,
  describeVmFile,
  encryptVmFile,
  EnvelopeError,
  VM_FILE_ROLES,
  type VmFileRole,
} from '@ward/envelope'
import { defineCommand, type Command, type CommandContext } from '../command.js'
import type { Progress } from '../output.js'
import { CliError } from '../errors.js'

/** Show a progress bar (or JSON progress lines) only for files big enough to take a while. */
const PROGRESS_MIN_BYTES = 8 * 1024 * 1024

const common = {
  'vm-id': { type: 'string' },
  role: { type: 'string' },
  'kek-file': { type: 'string' },
  in: { type: 'string' },
  out: { type: 'string' },
  force: { type: 'boolean' },
} as const

const commonHelp = {
  'vm-id': 'VM id the file belongs to (bound into every chunk)',
  role: `file role: ${VM_FILE_ROLES.join(', ')}`,
  'kek-file': 'file holding the 32-byte KEK, mode 0600',
  in: 'input file',
  out: 'output file (written to a temp file, fsynced, then renamed)',
  force: 'replace --out if it exists (it can equal --in for in-place work)',
}

function required(ctx: CommandContext, name: string): string {
  const v = ctx.values[name]
  if (typeof v !== 'string' || v === '')
    throw new CliError('ERR_CLI_USAGE', `--${name} is required`, { option: name })
  return v
}

/** --role as given (checked against the known roles), or undefined when absent. */
function givenRole(ctx: CommandContext): VmFileRole | undefined {
  const r = ctx.values.role
  if (r === undefined) return undefined
  if (typeof r !== 'string' || !(VM_FILE_ROLES as readonly string[]).includes(r))
    throw new CliError('ERR_CLI_USAGE', `--role must be one of ${VM_FILE_ROLES.join(', ')}`, {
      option: 'role',
    })
  return r as VmFileRole
}

function role(ctx: CommandContext): VmFileRole {
  const r = givenRole(ctx)
  if (r === undefined) throw new CliError('ERR_CLI_USAGE', '--role is required', { option: 'role' })
  return r
}

function progressFor(ctx: CommandContext, label: string, total: number) {
  let bar: Progress | undefined
  return {
    onProgress: (done: number) => {
      if (total < PROGRESS_MIN_BYTES) return
      bar ??= ctx.out.progress(label, total)
      bar.update(done)
    },
    finish: () => bar?.done(),
  }
}

const encrypt = defineCommand({
  path: ['crypto-util', 'file', 'encrypt'],
  summary: 'Encrypt a VM file (NVRAM, swap, snapshot memory, core dump...) with a KEK',
  options: {
    ...common,
    'provider-id': { type: 'string' },
    'kek-id': { type: 'string' },
    'chunk-size': { type: 'string' },
  },
  help: {
    ...commonHelp,
    'provider-id': "key provider id recorded in clear (default 'offline')",
    'kek-id': 'KEK id recorded in clear (default: the KEK file name)',
    'chunk-size': 'plaintext bytes per chunk, a power of two from 4096 (default 65536)',
  },
  async run(ctx) {
    const [vmId, inPath, outPath, kekFile] = ['vm-id', 'in', 'out', 'kek-file'].map((n) =>
      required(ctx, n),
    ) as [string, string, string, string]
    const fileRole = role(ctx)
    const providerId = (ctx.values['provider-id'] as string | undefined) ?? 'offline'
    const kekId = (ctx.values['kek-id'] as string | undefined) ?? basename(kekFile)
    const cs = ctx.values['chunk-size'] as string | undefined
    const chunkSize = cs === undefined ? undefined : Number(cs)
    if (chunkSize !== undefined && !Number.isInteger(chunkSize))
      throw new CliError('ERR_CLI_USAGE', '--chunk-size must be an integer', {
        option: 'chunk-size',
      })
    const kek = readSecretFile(kekFile, { length: 32 })
    const total = (await stat(inPath).catch(() => undefined))?.size ?? 0
    const progress = progressFor(ctx, 'encrypt', total)
    try {
      await kek.use((k) =>
        encryptVmFile(inPath, outPath, k, {
          vmId,
          role: fileRole,
          providerId,
          kekId,
          overwrite: ctx.values.force === true,
          onProgress: progress.onProgress,
          ...(chunkSize === undefined ? {} : { chunkSize }),
        }),
      )
    } finally {
      kek.dispose()
    }
    progress.finish()
    const d = await describeVmFile(outPath)
    ctx.out.data(
      {
        encrypted: outPath,
        vmId,
        role: fileRole,
        providerId,
        kekId,
        bytes: d.plaintextSize ?? 0,
        chunkSize: d.chunkSize,
      },
      () =>
        `encrypted ${inPath} -> ${outPath} (${d.plaintextSize ?? 0} bytes, role ${fileRole}, KEK ${kekId} of ${providerId})`,
    )
    return 0
  },
})

const decrypt = defineCommand({
  path: ['crypto-util', 'file', 'decrypt'],
  summary: 'Decrypt a Ward VM file with its KEK (every chunk is verified first)',
  options: common,
  help: {
    ...commonHelp,
    role: `optional check: the role the file must have (${VM_FILE_ROLES.join(', ')}); default: the role its header records`,
  },
  async run(ctx) {
    const [vmId, inPath, outPath, kekFile] = ['vm-id', 'in', 'out', 'kek-file'].map((n) =>
      required(ctx, n),
    ) as [string, string, string, string]
    const expected = givenRole(ctx)
    const kek = readSecretFile(kekFile, { length: 32 })
    const d = await describeVmFile(inPath).catch((e: unknown) => {
      kek.dispose()
      throw e
    })
    // the header records the role (and every chunk is bound to it): --role is a check, not a requirement
    const fileRole = d.role
    if (expected !== undefined && expected !== fileRole) {
      kek.dispose()
      throw new EnvelopeError(
        'ERR_VMFILE_ROLE_MISMATCH',
        `${inPath} is a ${fileRole} file, not ${expected}: drop --role to decrypt it as ${fileRole}, or check where it came from`,
      )
    }
    const progress = progressFor(ctx, 'decrypt', d.plaintextSize ?? 0)
    try {
      await kek.use((k) =>
        decryptVmFile(inPath, outPath, k, {
          vmId,
          role: fileRole,
          overwrite: ctx.values.force === true,
          onProgress: progress.onProgress,
        }),
      )
    } finally {
      kek.dispose()
    }
    progress.finish()
    ctx.out.data(
      {
        decrypted: outPath,
        vmId,
        role: fileRole,
        providerId: d.providerId,
        kekId: d.kekId,
        bytes: d.plaintextSize ?? 0,
      },
      () => `decrypted ${inPath} -> ${outPath} (${d.plaintextSize ?? 0} bytes)`,
    )
    return 0
  },
})

/** `ward crypto-util file encrypt|decrypt`: offline VM file encryption (issue 2). */
export const cryptoUtilFileCommands: readonly Command[] = [encrypt, decrypt]
