import { stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { readSecretFile } from '@ward/core'
import {
  decryptVmFile,
  describeVmFile,
  encryptVmFile,
  EnvelopeError,
  VM_FILE_ROLES,
} from '@ward/envelope'
import { defineCommand, type Command } from '../command.js'
import { bool, choice, int, text } from '../flags.js'
import { lazyProgress } from '../output.js'

/** Show a progress bar (or JSON progress lines) only for files big enough to take a while. */
const PROGRESS_MIN_BYTES = 8 * 1024 * 1024

const common = {
  'vm-id': text('VM id the file belongs to (bound into every chunk)', {
    value: 'ID',
    required: true,
  }),
  'kek-file': text('file holding the 32-byte KEK, mode 0600', { value: 'FILE', required: true }),
  in: text('input file', { value: 'FILE', required: true }),
  out: text('output file (written to a temp file, fsynced, then renamed)', {
    value: 'FILE',
    required: true,
  }),
  force: bool('replace --out if it exists (it can equal --in for in-place work)'),
} as const

const encrypt = defineCommand({
  path: ['crypto-util', 'file', 'encrypt'],
  summary: 'Encrypt a VM file (NVRAM, swap, snapshot memory, core dump...) with a KEK',
  example:
    'ward crypto-util file encrypt --vm-id vm-7 --role nvram --kek-file kek --in nvram.raw --out nvram.ward',
  flags: {
    'vm-id': common['vm-id'],
    role: choice(VM_FILE_ROLES, `file role: ${VM_FILE_ROLES.join(', ')}`, {
      value: 'ROLE',
      required: true,
    }),
    'kek-file': common['kek-file'],
    in: common.in,
    out: common.out,
    force: common.force,
    'provider-id': text('key provider id recorded in clear', { value: 'ID', default: 'offline' }),
    'kek-id': text('KEK id recorded in clear (default: the KEK file name)', { value: 'ID' }),
    'chunk-size': int('plaintext bytes per chunk, a power of two from 4096 (default 65536)'),
  },
  async run({ values, out }) {
    const { 'vm-id': vmId, in: inPath, out: outPath, 'kek-file': kekFile, role } = values
    const providerId = values['provider-id']
    const kekId = values['kek-id'] ?? basename(kekFile)
    const chunkSize = values['chunk-size']
    const kek = readSecretFile(kekFile, { length: 32 })
    const total = (await stat(inPath).catch(() => undefined))?.size ?? 0
    const progress = lazyProgress(out, 'encrypt', PROGRESS_MIN_BYTES)
    try {
      await kek.use((k) =>
        encryptVmFile(inPath, outPath, k, {
          vmId,
          role,
          providerId,
          kekId,
          overwrite: values.force,
          onProgress: (done: number) => progress.onProgress(done, total),
          ...(chunkSize === undefined ? {} : { chunkSize }),
        }),
      )
    } finally {
      kek.dispose()
    }
    progress.finish()
    const d = await describeVmFile(outPath)
    out.data(
      {
        encrypted: outPath,
        vmId,
        role,
        providerId,
        kekId,
        bytes: d.plaintextSize ?? 0,
        chunkSize: d.chunkSize,
      },
      () =>
        `encrypted ${inPath} -> ${outPath} (${d.plaintextSize ?? 0} bytes, role ${role}, KEK ${kekId} of ${providerId})`,
    )
    return 0
  },
})

const decrypt = defineCommand({
  path: ['crypto-util', 'file', 'decrypt'],
  summary: 'Decrypt a Ward VM file with its KEK (every chunk is verified first)',
  example:
    'ward crypto-util file decrypt --vm-id vm-7 --kek-file kek --in nvram.ward --out nvram.raw',
  flags: {
    'vm-id': common['vm-id'],
    role: choice(
      VM_FILE_ROLES,
      `optional check: the role the file must have (${VM_FILE_ROLES.join(', ')}; default: the role its header records)`,
      { value: 'ROLE' },
    ),
    'kek-file': common['kek-file'],
    in: common.in,
    out: common.out,
    force: common.force,
  },
  async run({ values, out }) {
    const { 'vm-id': vmId, in: inPath, out: outPath, 'kek-file': kekFile } = values
    const expected = values.role
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
    const total = d.plaintextSize ?? 0
    const progress = lazyProgress(out, 'decrypt', PROGRESS_MIN_BYTES)
    try {
      await kek.use((k) =>
        decryptVmFile(inPath, outPath, k, {
          vmId,
          role: fileRole,
          overwrite: values.force,
          onProgress: (done: number) => progress.onProgress(done, total),
        }),
      )
    } finally {
      kek.dispose()
    }
    progress.finish()
    out.data(
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
