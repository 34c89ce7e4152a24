import { readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { defineCommand, type Command } from '../command.js'
import { bool, custom } from '../flags.js'
import { table } from '../output.js'
import { api, need, passwordFlag, readPassword, sessionFlag } from './center.js'

/*
 * `ward provider native ...`: native key providers of a running center (docs/center.md, "Native
 * key provider"), through its REST API with the session of `ward login`. Backup passwords come
 * from a 0600 file or the terminal, never argv.
 */

export const providerNativeCommands: readonly Command[] = [
  defineCommand({
    path: ['provider', 'native', 'create'],
    summary: 'Create a native key provider (unusable until backed up: export it)',
    args: 'NAME',
    example: 'ward provider native create nkp-1 --tpm-required',
    flags: {
      'tpm-required': bool('give its key only to TPM-protected hosts'),
      ...sessionFlag,
    },
    async run({ values, positionals, out }) {
      const provider = need(positionals[0], 'NAME')
      await api(values['session-file'], 'nkp.create', {
        body: { provider, constraints: { tpm_required: values['tpm-required'] } },
      })
      out.data(
        { provider },
        () =>
          `created native key provider ${provider}; back it up before use (ward provider native export)`,
      )
      return 0
    },
  }),
  defineCommand({
    path: ['provider', 'native', 'list'],
    summary: 'Native key providers: backup state, alarm, hosts',
    example: 'ward provider native list --json',
    flags: sessionFlag,
    async run({ values, out }) {
      const ps = await api(values['session-file'], 'nkp.list', {})
      out.data(ps, () =>
        table(
          ['provider', 'status', 'tpm_required', 'export_time', 'hosts'],
          ps.map((p) => [
            p.provider,
            p.status,
            String(p.constraints.tpm_required),
            p.export_time ?? '-',
            String(p.hosts.filter((h) => h.state === 'installed').length),
          ]),
        ),
      )
      return 0
    },
  }),
  defineCommand({
    path: ['provider', 'native', 'get'],
    summary: 'One native key provider',
    args: 'NAME',
    example: 'ward provider native get nkp-1 --json',
    flags: sessionFlag,
    async run({ values, positionals, out }) {
      const provider = need(positionals[0], 'NAME')
      const p = await api(values['session-file'], 'nkp.get', { params: { provider } })
      out.data(p, () => JSON.stringify(p, null, 2))
      return 0
    },
  }),
  defineCommand({
    path: ['provider', 'native', 'delete'],
    summary: 'Delete a native key provider from the center',
    args: 'NAME',
    example: 'ward provider native delete nkp-1',
    flags: sessionFlag,
    async run({ values, positionals, out }) {
      const provider = need(positionals[0], 'NAME')
      await api(values['session-file'], 'nkp.delete', { params: { provider } })
      out.data({ provider, deleted: true }, () => `deleted native key provider ${provider}`)
      return 0
    },
  }),
  defineCommand({
    path: ['provider', 'native', 'export'],
    summary: 'Back up a native key provider: a password-protected PKCS#12 (two steps, one call)',
    args: 'NAME',
    example: 'ward provider native export nkp-1 --password-file ./backup.pw --out nkp-1.p12',
    flags: {
      out: custom('where to write the .p12 (mode 0600)', (d) => resolve(d), {
        value: 'FILE',
        required: true,
      }),
      ...passwordFlag,
      ...sessionFlag,
    },
    async run({ values, positionals, out }) {
      const provider = need(positionals[0], 'NAME')
      const pw = await readPassword(values['password-file'], 'backup password: ')
      let token: string
      try {
        const r = await api(values['session-file'], 'nkp.export', {
          params: { provider },
          body: { password: pw.toString('utf8') },
        })
        token = r.location.download_token.token
      } finally {
        pw.fill(0)
      }
      const f = await api(values['session-file'], 'nkp.download', {
        params: { provider },
        body: { token },
      })
      writeFileSync(values.out, Buffer.from(f.config, 'base64'), { mode: 0o600, flag: 'wx' })
      out.data({ provider, file: values.out }, () => `backed up ${provider} to ${values.out}`)
      return 0
    },
  }),
  defineCommand({
    path: ['provider', 'native', 'import'],
    summary: 'Restore a native key provider from its backup (--dry-run: check only)',
    args: 'FILE',
    example: 'ward provider native import nkp-1.p12 --password-file ./backup.pw --dry-run',
    flags: {
      'dry-run': bool('check the file and password; change nothing'),
      ...passwordFlag,
      ...sessionFlag,
    },
    async run({ values, positionals, out }) {
      const file = readFileSync(resolve(need(positionals[0], 'FILE')))
      const pw = await readPassword(values['password-file'], 'backup password: ')
      try {
        const r = await api(values['session-file'], 'nkp.import', {
          body: {
            config: file.toString('base64'),
            password: pw.toString('utf8'),
            dry_run: values['dry-run'],
          },
        })
        out.data(r, () =>
          r.dry_run
            ? `${r.provider} (key id ${r.native_info.key_id}, exported ${r.export_time}) can be imported`
            : `imported native key provider ${r.provider}`,
        )
      } finally {
        pw.fill(0)
      }
      return 0
    },
  }),
]
