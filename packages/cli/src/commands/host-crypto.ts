import { Secret, readSecretFile, writeSecretFile } from '@ward/core'
import { DEFAULT_DATA_DIR, agentClient, type AdminResult, type HostStatus } from '@ward/host'
import { resolve } from 'node:path'
import { defineCommand, type Command } from '../command.js'
import { CliError } from '../errors.js'
import { text } from '../flags.js'
import { table } from '../output.js'
import { hostDataDir } from './host.js'

const D = DEFAULT_DATA_DIR

type CryptoStatus = AdminResult<'crypto.status'>

const noArgs = (positionals: readonly string[]): void => {
  if (positionals.length > 0)
    throw new CliError('ERR_CLI_USAGE', `expected no arguments (got ${positionals.length})`)
}

/** CryptoManagerHostKeyStatus as people read it. */
export const cryptoStatusText = (s: CryptoStatus): string =>
  [
    `   Crypto State: ${s.state}`,
    s.hostKey
      ? `   Host Key: ${s.hostKey.keyId} (provider ${s.hostKey.providerId}), ${s.hostKey.present ? 'present in the key cache' : 'NOT in the key cache: add it with ward crypto-util keys add'}`
      : '   Host Key: none',
    `   Dump Folder: ${s.dumpFolder}`,
  ].join('\n')

const keyFlags = {
  ...hostDataDir,
  'provider-id': text('key provider of the host key', { value: 'ID', required: true }),
  'key-id': text('the host key: a 32-byte key already in the key cache', {
    value: 'ID',
    required: true,
  }),
} as const

const statusText = (s: HostStatus): string =>
  [
    `   Host ID: ${s.hostId}`,
    `   Configuration Encryption Mode: ${s.mode}`,
    `   Key Persistence: ${s.keyPersistence}`,
    `   Cached Keys: ${s.cachedKeys}`,
    `   Secure Boot: ${s.boot.secureBoot}, exec-installed-only: ${s.boot.execInstalledOnly}, verified: ${s.boot.verified}`,
    cryptoStatusText(s.crypto),
  ].join('\n')

/**
 * `ward host status`, `ward host crypto ...` (host encryption mode, the host key) and
 * `ward host vm dump-memory` (issue 12).
 */
export const hostCryptoCommands: readonly Command[] = [
  defineCommand({
    path: ['host', 'status'],
    summary:
      'the host: id, configuration encryption, key cache, boot state, crypto state and host key',
    example: `ward host status --data-dir ${D}`,
    flags: hostDataDir,
    async run({ values, positionals, out }) {
      noArgs(positionals)
      const s = await agentClient(values['data-dir']).call('status')
      out.data(s, () => statusText(s))
      return 0
    },
  }),
  defineCommand({
    path: ['host', 'crypto', 'status'],
    summary:
      'crypto state (incapable, prepared, safe, pendingIncapable), host key id, in cache or not',
    example: `ward host crypto status --data-dir ${D}`,
    flags: hostDataDir,
    async run({ values, positionals, out }) {
      noArgs(positionals)
      const s = await agentClient(values['data-dir']).call('crypto.status')
      out.data(s, () => cryptoStatusText(s))
      return 0
    },
  }),
  defineCommand({
    path: ['host', 'crypto', 'prepare'],
    summary: 'prepare host encryption mode: incapable -> prepared',
    example: `ward host crypto prepare --data-dir ${D}`,
    flags: hostDataDir,
    async run({ values, positionals, out }) {
      noArgs(positionals)
      const s = await agentClient(values['data-dir']).call('crypto.prepare')
      out.data(s, () => `Host prepared for encryption mode.\n${cryptoStatusText(s)}`)
      return 0
    },
  }),
  defineCommand({
    path: ['host', 'crypto', 'enable'],
    summary:
      'enable host encryption mode: prepared -> safe, with a host key from the key cache (core dumps are encrypted with it)',
    example: `ward host crypto enable --provider-id kp1 --key-id host-key-1 --data-dir ${D}`,
    flags: keyFlags,
    async run({ values, positionals, out }) {
      noArgs(positionals)
      const s = await agentClient(values['data-dir']).call('crypto.enable', {
        providerId: values['provider-id'],
        keyId: values['key-id'],
      })
      out.data(s, () => `Host encryption mode enabled (crypto safe).\n${cryptoStatusText(s)}`)
      return 0
    },
  }),
  defineCommand({
    path: ['host', 'crypto', 'change-key'],
    summary:
      "set a new host key (in the key cache); the dump folder's dumps are rewrapped under it, best effort",
    example: `ward host crypto change-key --provider-id kp1 --key-id host-key-2 --data-dir ${D}`,
    flags: keyFlags,
    async run({ values, positionals, out }) {
      noArgs(positionals)
      const r = await agentClient(values['data-dir']).call('crypto.key.change', {
        providerId: values['provider-id'],
        keyId: values['key-id'],
      })
      out.data(r, () => {
        const rows = [
          ...r.rewrapped.map((f) => [f, 'rewrapped']),
          ...r.alreadyUnderNewKey.map((f) => [f, 'already under the new key']),
          ...r.notRewrapped.map((x) => [x.file, `NOT rewrapped: ${x.reason}`]),
        ]
        return [
          `Host key changed to ${r.hostKey?.keyId ?? '?'}.`,
          cryptoStatusText(r),
          '',
          rows.length > 0 ? table(['Dump', 'Result'], rows) : 'No dumps in the dump folder.',
        ].join('\n')
      })
      return r.notRewrapped.length > 0 ? 1 : 0
    },
  }),
  defineCommand({
    path: ['host', 'crypto', 'disable'],
    summary:
      'disable host encryption mode: -> pendingIncapable (no new encrypted VM work); incapable after a reboot',
    example: `ward host crypto disable --data-dir ${D}`,
    flags: hostDataDir,
    async run({ values, positionals, out }) {
      noArgs(positionals)
      const s = await agentClient(values['data-dir']).call('crypto.disable')
      out.data(s, () =>
        [
          'Host encryption mode disabled: crypto state pendingIncapable.',
          'New encrypted VM work (vm create --encrypt, vm encrypt, vm dump-memory) is refused; running VMs go on.',
          'The host becomes incapable at its next reboot (restart ward host serve); the host key stays in the key cache until you remove it.',
          cryptoStatusText(s),
        ].join('\n'),
      )
      return 0
    },
  }),
  defineCommand({
    path: ['host', 'crypto', 'export-key'],
    summary:
      'write a password-protected export of the host key (argon2id + AES-256-GCM, mode 0600) for crypto-util coredump decrypt',
    example: `ward host crypto export-key --out host-key.export --password-file pw --data-dir ${D}`,
    flags: {
      ...hostDataDir,
      out: text('the export file to create (never overwritten; mode 0600)', {
        value: 'FILE',
        required: true,
      }),
      'password-file': text('file (mode 0600) holding the password that protects the export', {
        value: 'FILE',
        required: true,
      }),
    },
    async run({ values, positionals, out }) {
      noArgs(positionals)
      const pw = readSecretFile(values['password-file'], { maxLength: 1024 })
      const password = pw.use((b) => Buffer.from(b).toString('base64'))
      pw.dispose()
      const r = await agentClient(values['data-dir']).call('crypto.key.export', { password })
      const bytes = Buffer.from(r.export, 'base64')
      writeSecretFile(resolve(values.out), Secret.take(bytes))
      out.data(
        { file: resolve(values.out), providerId: r.providerId, keyId: r.keyId },
        () =>
          `Host key ${r.keyId} (provider ${r.providerId}) exported to ${values.out}, protected by the password.`,
      )
      return 0
    },
  }),
  defineCommand({
    path: ['host', 'vm', 'dump-memory'],
    summary:
      "dump a running guest's memory (ELF) encrypted with the host key; the guest keeps running (needs crypto state safe)",
    args: 'NAME',
    example: `ward host vm dump-memory vm1 --data-dir ${D}`,
    flags: {
      ...hostDataDir,
      out: text('the dump file to create (default: a new file in the dump folder)', {
        value: 'FILE',
      }),
    },
    async run({ values, positionals, out }) {
      if (positionals.length !== 1) throw new CliError('ERR_CLI_USAGE', 'expected NAME')
      const r = await agentClient(values['data-dir']).call('vm.dump.memory', {
        name: positionals[0]!,
        ...(values.out !== undefined ? { out: resolve(values.out) } : {}),
      })
      out.data(
        r,
        () =>
          `Memory of ${r.vm} dumped to ${r.file} (${r.plaintextBytes} bytes, encrypted with host key ${r.hostKeyId} of ${r.hostProviderId}).`,
      )
      return 0
    },
  }),
]
