import { defineCommand, type Command } from '../command.js'
import { bool, int, text } from '../flags.js'
import { table } from '../output.js'
import { CliError } from '../errors.js'
import { api, need, sessionFlag } from './center.js'

/* `ward key status|gc`: key status with the seed's reasons, and key garbage collection. */

export const keyCommands: readonly Command[] = [
  defineCommand({
    path: ['key', 'status'],
    summary:
      "Whether keys are available, the seed's reason when not, and the VMs, disks and hosts using them",
    args: 'KEY_ID...',
    example: 'ward key status --provider kms-cluster 1f0c 2a7d --json',
    flags: {
      provider: text('the key provider of the keys', { value: 'NAME', required: true }),
      ...sessionFlag,
    },
    async run({ values, positionals, out }) {
      need(positionals[0], 'KEY_ID')
      if (positionals.length > 100) throw new CliError('ERR_CLI_USAGE', 'at most 100 keys at once')
      const rs = await api(values['session-file'], 'key.status', {
        body: { keys: positionals.map((key_id) => ({ provider: values.provider, key_id })) },
      })
      out.data(rs, () =>
        table(
          ['key', 'provider', 'status', 'VMs', 'disks', 'hosts'],
          rs.map((r) => [
            r.key_id,
            r.provider,
            r.reason,
            r.vms.join(','),
            r.disks.join(','),
            r.hosts.join(','),
          ]),
        ),
      )
      return rs.every((r) => r.key_available) ? 0 : 1
    },
  }),
  defineCommand({
    path: ['key', 'gc'],
    summary:
      'List the keys the center created that nothing uses; --run revokes and destroys those past the grace period',
    example: 'ward key gc --run --grace-seconds 604800 --json',
    flags: {
      run: bool(
        'revoke and destroy in the KMS the unused keys whose grace period is over (Cryptographer.ManageKeys)',
      ),
      'grace-seconds': int('set the grace period first', { min: 0, max: 3650 * 86400 }),
      ...sessionFlag,
    },
    async run({ values, out }) {
      const sf = values['session-file']
      const grace = values['grace-seconds']
      if (grace !== undefined) await api(sf, 'key.gcSettings', { body: { grace_seconds: grace } })
      if (values.run) {
        const r = await api(sf, 'key.gcRun', {})
        out.data(r, () =>
          [
            `destroyed ${r.destroyed.length} key(s)${r.destroyed.length > 0 ? `: ${r.destroyed.map((k) => `${k.provider}/${k.key_id}`).join(', ')}` : ''}; ${r.waiting} in their grace period`,
            ...r.failed.map((f) => `failed ${f.provider}/${f.key_id}: ${f.error}`),
          ].join('\n'),
        )
        return r.failed.length > 0 ? 1 : 0
      }
      const l = await api(sf, 'key.gcList', {})
      out.data(l, () =>
        [
          `grace period ${l.grace_seconds} s`,
          table(
            ['key', 'provider', 'label', 'unused since', 'destroy after'],
            l.keys.map((k) => [k.key_id, k.provider, k.label, k.unused_since, k.destroy_after]),
          ),
        ].join('\n'),
      )
      return 0
    },
  }),
]
