import {
  describeDisk,
  describeVmFile,
  hasLuks2Magic,
  hasVmFileMagic,
  type DiskDescription,
  type VmFileDescription,
} from '@ward/envelope'
import { describeCoreDump, hasCoreDumpMagic, type CoreDumpDescription } from '@ward/host'
import { defineCommand, type Command } from '../command.js'
import { coreDumpText } from './crypto-util-coredump.js'
import { diskDescriptionText } from './crypto-util-disk.js'
import { CliError } from '../errors.js'

const oneFile = (positionals: readonly string[], name: string): string => {
  const f = positionals[0]
  if (f === undefined || positionals.length !== 1)
    throw new CliError('ERR_CLI_USAGE', `${name} takes exactly one FILE`)
  return f
}

/**
 * What kind of envelope a file is, with its description (each header read once): a Ward disk
 * (LUKS2 with a Ward token), a LUKS2 volume made elsewhere (describable, openable with its
 * passphrase, but not Ward-encrypted), a Ward VM file.
 */
type Found =
  | { kind: 'disk' | 'luks2'; description: DiskDescription }
  | { kind: 'file'; description: VmFileDescription }
  | { kind: 'coredump'; description: CoreDumpDescription }

/**
 * A file that starts with a format's magic is that format: a header cut short or damaged is its
 * coded error (ERR_LUKS2_TRUNCATED, ERR_VMFILE_HEADER ...), not "neither".
 */
async function inspectEnvelope(file: string): Promise<Found | undefined> {
  if (hasLuks2Magic(file)) {
    const description = describeDisk(file)
    return { kind: description.ward ? 'disk' : 'luks2', description }
  }
  if (await hasVmFileMagic(file)) return { kind: 'file', description: await describeVmFile(file) }
  if (hasCoreDumpMagic(file)) return { kind: 'coredump', description: describeCoreDump(file) }
  return undefined
}

function vmFileText(d: VmFileDescription): string {
  return [
    `format:      Ward VM file, version ${d.version}`,
    `role:        ${d.role}`,
    `cipher:      ${d.cipher}, chunks of ${d.chunkSize} bytes`,
    d.plaintextSize !== undefined
      ? `data:        ${d.plaintextSize} bytes in ${d.chunkCount ?? '?'} chunks (file ${d.fileSize} bytes, header ${d.headerSize})`
      : `truncated:   the file (${d.fileSize} bytes) ends inside a chunk or has no final chunk; restore it from a backup`,
    `KEK:         provider '${d.providerId}', KEK '${d.kekId}'`,
  ].join('\n')
}

/** Text mode: readable lines (keyslots one per entry, never JSON); --json gives the object. */
const render = (found: Found): string =>
  `kind:        ${found.kind}\n` +
  (found.kind === 'file'
    ? vmFileText(found.description)
    : found.kind === 'coredump'
      ? coreDumpText(found.description)
      : diskDescriptionText(found.description))

/** `ward crypto-util envelope describe` and `ward crypto-util isencrypted` (issue 2). */
export const cryptoUtilCommands: readonly Command[] = [
  defineCommand({
    path: ['crypto-util', 'envelope', 'describe'],
    summary:
      'Describe a Ward-encrypted disk or file: format, cipher, sector or chunk size, provider and KEK ids, role, keyslots (never key material)',
    args: 'FILE',
    example: 'ward crypto-util envelope describe vm.luks --json',
    flags: {},
    async run({ positionals, out }) {
      const file = oneFile(positionals, 'envelope describe')
      const found = await inspectEnvelope(file)
      if (found === undefined)
        throw new CliError(
          'ERR_ENVELOPE_NOT_WARD',
          `${file} is neither a LUKS2 disk, a Ward VM file nor a Ward core dump; nothing to describe`,
        )
      out.data({ kind: found.kind, ...found.description }, () => render(found))
      return 0
    },
  }),
  defineCommand({
    path: ['crypto-util', 'isencrypted'],
    summary: 'Exit 0 if FILE is a Ward-encrypted disk or file, 1 if not',
    args: 'FILE',
    example: 'ward crypto-util isencrypted nvram.ward',
    flags: {},
    async run({ positionals, out }) {
      const file = oneFile(positionals, 'isencrypted')
      const kind = (await inspectEnvelope(file))?.kind
      const encrypted = kind === 'disk' || kind === 'file' || kind === 'coredump'
      if (out.json) out.data({ file, encrypted, kind: kind ?? null })
      else if (kind === 'luks2')
        out.info(
          `${file}: a LUKS2 volume without a Ward token (not Ward-encrypted; describe it with 'ward crypto-util envelope describe')`,
        )
      return encrypted ? 0 : 1
    },
  }),
]
