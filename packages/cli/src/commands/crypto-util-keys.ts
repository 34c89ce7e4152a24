import { readSecretFile } from '@ward/core'
import { agentClient } from '@ward/host'
import { defineCommand, type Command, type CommandContext } from '../command.js'
import { table } from '../output.js'
import { dataDirOf } from './host.js'
import { CliError } from '../errors.js'

const opts = {
  'data-dir': { type: 'string' },
  'provider-id': { type: 'string' },
  'kek-id': { type: 'string' },
} as const
const help = {
  'data-dir': 'host data folder (default /var/lib/ward/host)',
  'provider-id': 'key provider id (or the first positional argument)',
  'kek-id': 'KEK id (or the second positional argument)',
}

function ids(ctx: CommandContext): { providerId: string; kekId: string } {
  const p = ctx.values['provider-id'] ?? ctx.positionals[0]
  const k = ctx.values['kek-id'] ?? ctx.positionals[1]
  if (typeof p !== 'string' || typeof k !== 'string')
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
    options: { ...opts, 'kek-file': { type: 'string' } },
    help: { ...help, 'kek-file': 'file holding exactly 32 key bytes, mode 0600' },
    async run(ctx) {
      const { providerId, kekId } = ids(ctx)
      const f = ctx.values['kek-file']
      if (typeof f !== 'string') throw new CliError('ERR_CLI_USAGE', '--kek-file is required')
      const kek = readSecretFile(f, { length: 32 })
      const key = kek.use((k) => Buffer.from(k).toString('base64'))
      kek.dispose()
      const r = await agentClient(dataDirOf(ctx.values)).call('keys.add', {
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
    options: opts,
    help,
    async run(ctx) {
      const { providerId, kekId } = ids(ctx)
      const r = await agentClient(dataDirOf(ctx.values)).call('keys.has', { providerId, kekId })
      ctx.out.data({ providerId, kekId, inCache: r.inCache }, () => (r.inCache ? 'YES' : 'NO'))
      return r.inCache ? 0 : 1
    },
  }),
  defineCommand({
    path: ['crypto-util', 'keys', 'list'],
    summary: 'list the ids of the cached keys',
    options: { 'data-dir': opts['data-dir'] },
    help,
    async run(ctx) {
      const r = await agentClient(dataDirOf(ctx.values)).call('keys.list')
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
    options: opts,
    help,
    async run(ctx) {
      const { providerId, kekId } = ids(ctx)
      await agentClient(dataDirOf(ctx.values)).call('keys.remove', { providerId, kekId })
      ctx.out.data(
        { providerId, kekId, removed: true },
        () => `Key (${providerId}, ${kekId}) removed.`,
      )
      return 0
    },
  }),
]
