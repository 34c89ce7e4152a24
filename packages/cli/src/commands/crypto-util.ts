import { WardError } from '@ward/core'
import { describeDisk, describeVmFile, isLuks2, isVmFile } from '@ward/envelope'
import { defineCommand, type Command } from '../command.js'

const oneFile = (positionals: readonly string[], name: string): string => {
  const f = positionals[0]
  if (f === undefined || positionals.length !== 1)
    throw new WardError('ERR_CLI_USAGE', `${name} takes exactly one FILE`)
  return f
}

/**
 * What kind of envelope a file is, with its description (each header read once): a Ward disk
 * (LUKS2 with a Ward token), a LUKS2 volume made elsewhere (describable, openable with its
 * passphrase, but not Ward-encrypted), a Ward VM file.
 */
async function inspectEnvelope(
  file: string,
): Promise<{ kind: 'disk' | 'luks2' | 'file'; description: object } | undefined> {
  if (isLuks2(file)) {
    const description = describeDisk(file)
    return { kind: description.ward ? 'disk' : 'luks2', description }
  }
  if (await isVmFile(file)) return { kind: 'file', description: await describeVmFile(file) }
  return undefined
}

const render = (d: object): string =>
  Object.entries(d)
    .map(([k, v]) => `${k}: ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`)
    .join('\n')

/** `ward crypto-util envelope describe` and `ward crypto-util isencrypted` (issue 2). */
export const cryptoUtilCommands: readonly Command[] = [
  defineCommand({
    path: ['crypto-util', 'envelope', 'describe'],
    summary:
      'Describe a Ward-encrypted disk or file: format, cipher, sector or chunk size, provider and KEK ids, role, keyslots (never key material)',
    args: 'FILE',
    options: {},
    async run({ positionals, out }) {
      const file = oneFile(positionals, 'envelope describe')
      const found = await inspectEnvelope(file)
      if (found === undefined)
        throw new WardError(
          'ERR_ENVELOPE_NOT_WARD',
          `${file} is neither a LUKS2 disk nor a Ward VM file; nothing to describe`,
        )
      const d = { kind: found.kind, ...found.description }
      out.data(d, () => render(d))
      return 0
    },
  }),
  defineCommand({
    path: ['crypto-util', 'isencrypted'],
    summary: 'Exit 0 if FILE is a Ward-encrypted disk or file, 1 if not',
    args: 'FILE',
    options: {},
    async run({ positionals, out }) {
      const file = oneFile(positionals, 'isencrypted')
      const kind = (await inspectEnvelope(file))?.kind
      const encrypted = kind === 'disk' || kind === 'file'
      if (out.json) out.data({ file, encrypted, kind: kind ?? null })
      else if (kind === 'luks2')
        out.info(
          `${file}: a LUKS2 volume without a Ward token (not Ward-encrypted; describe it with 'ward crypto-util envelope describe')`,
        )
      return encrypted ? 0 : 1
    },
  }),
]
