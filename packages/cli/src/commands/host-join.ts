import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { readSecretFile } from '@ward/core'
import { DEFAULT_REMOTE_PORT, formatHostPort, joinCenter, parseHostPort } from '@ward/host'
import { defineCommand, type Command } from '../command.js'
import { CliError } from '../errors.js'
import { text } from '../flags.js'
import { hostDataDir } from './host.js'

/** `ward host join`: join a `ward center` with a one-time token (issue 13). */
export const hostJoinCommands: readonly Command[] = [
  defineCommand({
    path: ['host', 'join'],
    summary:
      "join a center: the host's key pair and a CSR, the center signs it; then `ward host serve` listens for the center over mutual TLS",
    example:
      'ward host join --data-dir /var/lib/ward/host --center https://center.example:8440 --token-file token --ca-file ca.crt --listen 0.0.0.0:8443 --address esx1.example:8443',
    flags: {
      ...hostDataDir,
      center: text('the center URL (https://HOST:PORT)', { value: 'URL', required: true }),
      'token-file': text(
        'file (0600) holding the one-time join token (`ward host add` on the center); never on the command line',
        { value: 'FILE', required: true },
      ),
      'ca-file': text(
        "the center's CA certificate (its D/pki/ca.crt): verifies the center, then the center's calls",
        { value: 'FILE', required: true },
      ),
      name: text('the host name in the center inventory (default: this machine name)', {
        value: 'NAME',
      }),
      listen: text(`where \`ward host serve\` listens for the center`, {
        value: 'HOST:PORT',
        default: `0.0.0.0:${DEFAULT_REMOTE_PORT}`,
      }),
      address: text(
        'the address the center calls (default: --listen, or this machine name with its port when --listen is a wildcard)',
        { value: 'HOST:PORT' },
      ),
    },
    async run({ values, out }) {
      const listen = parseHostPort(values.listen, '--listen')
      const wildcard = listen.host === '0.0.0.0' || listen.host === '::'
      const address =
        values.address ??
        (wildcard
          ? formatHostPort(hostname(), listen.port)
          : formatHostPort(listen.host, listen.port))
      let caPem: string
      try {
        caPem = readFileSync(values['ca-file'], 'utf8')
      } catch (e) {
        throw new CliError(
          'ERR_CLI_USAGE',
          `cannot read --ca-file ${values['ca-file']} (${(e as NodeJS.ErrnoException).code ?? 'error'}): copy the center's D/pki/ca.crt to this host`,
        )
      }
      if (!caPem.includes('-----BEGIN CERTIFICATE-----'))
        throw new CliError(
          'ERR_CLI_USAGE',
          `--ca-file ${values['ca-file']} holds no PEM certificate`,
        )
      const token = readSecretFile(values['token-file'], { trimNewline: true, maxLength: 4096 })
      try {
        const r = await joinCenter({
          dataDir: values['data-dir'],
          center: values.center,
          token,
          name: values.name ?? hostname(),
          listen: formatHostPort(listen.host, listen.port),
          address,
          caPem,
        })
        out.data(r, () =>
          [
            `Joined ${r.center} as host ${r.hostId}.`,
            `Host certificate: ${r.certificateSha256}`,
            `Center CA: ${r.caSha256} (the fingerprint ward center init printed)`,
            `The center calls ${r.address}; restart the agent (ward host serve --data-dir ${values['data-dir']}) to listen on ${r.listen}.`,
          ].join('\n'),
        )
      } finally {
        token.dispose()
      }
      return 0
    },
  }),
]
