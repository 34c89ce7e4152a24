import { readFileSync } from 'node:fs'
import { readSecretFile } from '@ward/core'
import {
  decryptCoreDump,
  describeCoreDump,
  openHostKeyExport,
  type CoreDumpDescription,
} from '@ward/host'
import { defineCommand, type Command } from '../command.js'
import { CliError } from '../errors.js'
import { text } from '../flags.js'

/** The text form of a core dump's description (also `crypto-util envelope describe`). */
export const coreDumpText = (d: CoreDumpDescription): string =>
  [
    `format:      Ward core dump, version ${d.version} (${d.dumpFormat.toUpperCase()} inside)`,
    `keyID:       '${d.hostKeyId}' (host key of provider '${d.hostProviderId}')`,
    `vm:          ${d.vmName} (${d.vmId})`,
    `created:     ${d.created}`,
    `cipher:      ${d.cipher}, chunks of ${d.chunkSize} bytes, data at offset ${d.dataOffset}`,
    `size:        ${d.plaintextSize} bytes of memory dump (file ${d.fileSize} bytes)`,
  ].join('\n')

/** `ward crypto-util coredump describe|decrypt`: core dumps sealed with a host key (issue 12). */
export const cryptoUtilCoredumpCommands: readonly Command[] = [
  defineCommand({
    path: ['crypto-util', 'coredump', 'describe'],
    summary:
      'describe a core dump: the host key that opens it (keyID), the VM, sizes (never key material)',
    args: 'FILE',
    example: 'ward crypto-util coredump describe vm1-20261203T171500Z-a1b2c3.coredump --json',
    flags: {},
    async run({ positionals, out }) {
      if (positionals.length !== 1) throw new CliError('ERR_CLI_USAGE', 'expected FILE')
      const d = describeCoreDump(positionals[0]!)
      out.data(d, () => coreDumpText(d))
      return 0
    },
  }),
  defineCommand({
    path: ['crypto-util', 'coredump', 'decrypt'],
    summary:
      'decrypt a core dump into OUT (the ELF file) with the raw host key or a password-protected export of it',
    args: 'FILE OUT',
    example:
      'ward crypto-util coredump decrypt vm1.coredump vm1.elf --key-export host-key.export --password-file pw',
    flags: {
      'key-file': text('file (mode 0600) holding the 32-byte host key', { value: 'FILE' }),
      'key-export': text('a host key export made by ward host crypto export-key', {
        value: 'FILE',
      }),
      'password-file': text("file (mode 0600) holding the export's password (with --key-export)", {
        value: 'FILE',
      }),
    },
    async run({ positionals, values, out }) {
      if (positionals.length !== 2) throw new CliError('ERR_CLI_USAGE', 'expected FILE OUT')
      const [file, outFile] = positionals as [string, string]
      const keyFile = values['key-file']
      const exportFile = values['key-export']
      const pwFile = values['password-file']
      if ((keyFile === undefined) === (exportFile === undefined))
        throw new CliError('ERR_CLI_USAGE', 'give exactly one of --key-file or --key-export')
      if ((exportFile !== undefined) !== (pwFile !== undefined))
        throw new CliError(
          'ERR_CLI_USAGE',
          pwFile === undefined
            ? '--key-export needs --password-file'
            : '--password-file goes with --key-export',
        )
      let key: Uint8Array
      if (keyFile !== undefined) {
        const s = readSecretFile(keyFile, { length: 32 })
        key = s.use((b) => new Uint8Array(b))
        s.dispose()
      } else {
        const pw = readSecretFile(pwFile!, { maxLength: 1024 })
        try {
          const opened = await pw.use((p) =>
            openHostKeyExport(readFileSync(exportFile!), new Uint8Array(p)),
          )
          key = opened.key
        } finally {
          pw.dispose()
        }
      }
      try {
        const r = await decryptCoreDump(file, outFile, key)
        out.data(
          {
            decrypted: outFile,
            bytes: r.bytes,
            vmId: r.header.vmId,
            hostKeyId: r.header.hostKeyId,
          },
          () => `decrypted ${file} -> ${outFile} (${r.bytes} bytes, ELF)`,
        )
      } finally {
        key.fill(0)
      }
      return 0
    },
  }),
]
