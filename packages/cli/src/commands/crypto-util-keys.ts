import { readSecretFile } from '@ward/core'
import { agentClient } from '@ward/host'
import { defineCommand, type Command, type CommandContext } from '../command.js'
import { text } from '../flags.js'
import { table } from '../output.js'
import { hostDataDir } from './host.js'
import { CliError } from '../errors.js'

const keyFlags = {
  ...hostDataDir,
  'provider-id': text('key provider id (or the first positional argument)', { value: 'ID' }),
  'kek-id': text('KEK id (or the second positional argument)', { value: 'ID' }),
} as const

function ids(
  ctx: CommandContext<{
    readonly 'provider-id': string | undefined
    readonly 'kek-id': string | undefined
  }>,
): { providerId: string; kekId: string } {
  const p = ctx.values['provider-id'] ?? ctx.positionals[0]
  const k = ctx.values['kek-id'] ?? ctx.positionals[1]
  if (p === undefined || k === undefined)
    throw new CliError(
      'ERR_CLI_USAGE',
      'give the provider id and the KEK id (positional P K, or --provider-id and --kek-id)',
    )
  return { providerId: p, kekId: k }
}

/** `ward crypto-util keys ...`: the running host agent's key cache (ids only, never values). */
export const cryptoUtilKeysCommands: readonly Command[] = [
  defineCommand({
    path: ['crypto-util', 'keys', 'add'],
    summary: 'add a KEK (32-byte file, mode 0600) to the key cache of the running agent',
    example: 'ward crypto-util keys add --provider-id kms-1 --kek-id kek-42 --kek-file ./kek',
    flags: {
      ...keyFlags,
      'kek-file': text('file holding exactly 32 key bytes, mode 0600', {
        value: 'FILE',
        required: true,
      }),
    },
    async run(ctx) {
      const { providerId, kekId } = ids(ctx)
      const kek = readSecretFile(ctx.values['kek-file'], { length: 32 })
      const key = kek.use((k) => Buffer.from(k).toString('base64'))
      kek.dispose()
      const r = await agentClient(ctx.values['data-dir']).call('keys.add', {
        providerId,
        kekId,
        key,
      })
      ctx.out.data(
        { providerId, kekId, persisted: r.persisted },
        () =>
          `Key (${providerId}, ${kekId}) added to the key cache${r.persisted ? ' and persisted' : ''}.`,
      )
      return 0
    },
  }),
  defineCommand({
    path: ['crypto-util', 'keys', 'iskeyincache'],
    summary: 'exit 0 and print YES if the key is in the cache, else exit 1 and print NO',
    args: 'PROVIDER_ID KEK_ID',
    example: 'ward crypto-util keys iskeyincache kms-1 kek-42',
    flags: keyFlags,
    async run(ctx) {
      const { providerId, kekId } = ids(ctx)
      const r = await agentClient(ctx.values['data-dir']).call('keys.has', { providerId, kekId })
      ctx.out.data({ providerId, kekId, inCache: r.inCache }, () => (r.inCache ? 'YES' : 'NO'))
      return r.inCache ? 0 : 1
    },
  }),
  defineCommand({
    path: ['crypto-util', 'keys', 'list'],
    summary: 'list the ids of the cached keys',
    example: 'ward crypto-util keys list --data-dir /var/lib/ward/host --json',
    flags: hostDataDir,
    async run(ctx) {
      const r = await agentClient(ctx.values['data-dir']).call('keys.list')
      ctx.out.data(r, () =>
        table(
          ['Provider ID', 'KEK ID'],
          r.map((k) => [k.providerId, k.kekId]),
        ),
      )
      return 0
    },
  }),
  defineCommand({
    path: ['crypto-util', 'keys', 'remove'],
    summary: 'evict a key from the cache (and from key persistence)',
    args: 'PROVIDER_ID KEK_ID',
    example: 'ward crypto-util keys remove --provider-id kms-1 --kek-id kek-42',
    flags: keyFlags,
    async run(ctx) {
      const { providerId, kekId } = ids(ctx)
      await agentClient(ctx.values['data-dir']).call('keys.remove', { providerId, kekId })
      ctx.out.data(
        { providerId, kekId, removed: true },
        () => `Key (${providerId}, ${kekId}) removed.`,
      )
      return 0
    },
  }),
]
