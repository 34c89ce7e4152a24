import { readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { defineCommand, type Command } from '../command.js'
import { custom, int, text, texts } from '../flags.js'
import { table } from '../output.js'
import { CliError } from '../errors.js'
import { api, need, sessionFlag } from './center.js'

/*
 * `ward provider ...`: standard key providers of a running center (a KMS cluster of KMIP servers),
 * their servers, the four trust set-ups, status and defaults, through the typed client.
 */

const file = (help: string) => custom(help, (d) => resolve(d), { value: 'FILE' })
const fileRequired = (help: string) =>
  custom(help, (d) => resolve(d), { value: 'FILE', required: true })

/** `NAME=HOST:PORT` of --server. */
function parseServer(s: string): { name: string; address: string; port: number } {
  const m =
    /^([A-Za-z0-9][A-Za-z0-9._-]{0,63})=(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s)
  if (m === null || Number(m[3]) < 1 || Number(m[3]) > 65535)
    throw new CliError(
      'ERR_CLI_USAGE',
      `--server must be NAME=HOST:PORT, e.g. kms1=kms1.example.org:5696 (got ${s})`,
    )
  return { name: m[1]!, address: m[2]!.replace(/^\[|\]$/g, ''), port: Number(m[3]) }
}

const readPem = (path: string): string => {
  try {
    return readFileSync(path, 'utf8')
  } catch (e) {
    throw new CliError(
      'ERR_CLI_USAGE',
      `cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
    )
  }
}

type ProviderView = Awaited<ReturnType<typeof api<'provider.get'>>>

const show = (p: ProviderView): string =>
  [
    `provider ${p.provider} (${p.type})${p.is_default ? ', default' : ''}${p.default_for_clusters.length > 0 ? `, default of ${p.default_for_clusters.join(', ')}` : ''}`,
    table(
      ['server', 'address', 'port'],
      p.servers.map((s) => [s.name, s.address, String(s.port)]),
    ),
    `trusted KMS certificates: ${p.trusted_kms_certificates.map((c) => `${c.subject} (until ${c.not_after})`).join('; ') || 'none'}`,
    `client certificate: ${p.client_certificate !== null ? `${p.client_certificate.subject} (${p.client_certificate_kind}, until ${p.client_certificate.not_after})` : 'none'}${p.csr_pending ? '; a CSR waits for its signed certificate' : ''}`,
  ].join('\n')

export const providerCommands: readonly Command[] = [
  defineCommand({
    path: ['provider', 'create'],
    summary: 'Create a standard key provider (a KMS cluster of KMIP servers)',
    args: 'NAME',
    example:
      'ward provider create kms-cluster --server kms1=10.0.0.5:5696 --server kms2=10.0.0.6:5696',
    flags: {
      server: texts('a KMIP server, NAME=HOST:PORT, in failover order', {
        value: 'NAME=HOST:PORT',
      }),
      ...sessionFlag,
    },
    async run({ values, positionals, out }) {
      const provider = need(positionals[0], 'NAME')
      const p = await api(values['session-file'], 'provider.create', {
        body: { provider, servers: values.server.map(parseServer) },
      })
      out.data(p, () => show(p))
      return 0
    },
  }),
  defineCommand({
    path: ['provider', 'list'],
    summary: 'Key providers',
    example: 'ward provider list --json',
    flags: sessionFlag,
    async run({ values, out }) {
      const ps = await api(values['session-file'], 'provider.list', {})
      out.data(ps, () =>
        table(
          ['provider', 'type', 'servers', 'default', 'client certificate'],
          ps.map((p) => [
            p.provider,
            p.type,
            String(p.servers.length),
            p.is_default ? 'yes' : '',
            p.client_certificate_kind ?? '',
          ]),
        ),
      )
      return 0
    },
  }),
  defineCommand({
    path: ['provider', 'get'],
    summary: 'One key provider: servers, trusted KMS certificates, client certificate',
    args: 'NAME',
    example: 'ward provider get kms-cluster',
    flags: sessionFlag,
    async run({ values, positionals, out }) {
      const p = await api(values['session-file'], 'provider.get', {
        params: { provider: need(positionals[0], 'NAME') },
      })
      out.data(p, () => show(p))
      return 0
    },
  }),
  defineCommand({
    path: ['provider', 'delete'],
    summary: 'Delete a key provider no VM or disk uses (its keys stay in the KMS)',
    args: 'NAME',
    example: 'ward provider delete old-cluster',
    flags: sessionFlag,
    async run({ values, positionals, out }) {
      const provider = need(positionals[0], 'NAME')
      await api(values['session-file'], 'provider.delete', { params: { provider } })
      out.data({ provider, deleted: true }, () => `deleted key provider ${provider}`)
      return 0
    },
  }),
  defineCommand({
    path: ['provider', 'server', 'add'],
    summary: 'Add a KMIP server to a provider (last in failover order)',
    args: 'PROVIDER',
    example: 'ward provider server add kms-cluster --server kms3=10.0.0.7:5696',
    flags: {
      server: text('the server, NAME=HOST:PORT', { value: 'NAME=HOST:PORT', required: true }),
      ...sessionFlag,
    },
    async run({ values, positionals, out }) {
      const p = await api(values['session-file'], 'provider.serverAdd', {
        params: { provider: need(positionals[0], 'PROVIDER') },
        body: parseServer(values.server),
      })
      out.data(p, () => show(p))
      return 0
    },
  }),
  defineCommand({
    path: ['provider', 'server', 'remove'],
    summary: 'Remove a KMIP server from a provider',
    args: 'PROVIDER SERVER',
    example: 'ward provider server remove kms-cluster kms3',
    flags: sessionFlag,
    async run({ values, positionals, out }) {
      const p = await api(values['session-file'], 'provider.serverRemove', {
        params: {
          provider: need(positionals[0], 'PROVIDER'),
          server: need(positionals[1], 'SERVER'),
        },
      })
      out.data(p, () => show(p))
      return 0
    },
  }),
  defineCommand({
    path: ['provider', 'trust', 'kms'],
    summary:
      'Make the center trust the KMS: its CA, or its server certificate, pinned (PEM file; replaces the list)',
    args: 'PROVIDER',
    example: 'ward provider trust kms kms-cluster --cert-file kms-ca.pem',
    flags: {
      'cert-file': fileRequired('PEM file of the certificate(s)'),
      ...sessionFlag,
    },
    async run({ values, positionals, out }) {
      const pems = readPem(values['cert-file']).match(
        /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g,
      )
      if (pems === null)
        throw new CliError('ERR_CLI_USAGE', `${values['cert-file']} holds no PEM certificate`)
      const p = await api(values['session-file'], 'provider.trustKms', {
        params: { provider: need(positionals[0], 'PROVIDER') },
        body: { certificates: pems.map((x) => `${x}\n`) },
      })
      out.data(p, () => show(p))
      return 0
    },
  }),
  defineCommand({
    path: ['provider', 'trust', 'self-signed'],
    summary:
      'Make the KMS trust the center: a self-signed client certificate (its key stays in the center); give the certificate to the KMS',
    args: 'PROVIDER',
    example: 'ward provider trust self-signed kms-cluster --out center-client.pem',
    flags: {
      'validity-days': int('validity of the certificate (default 365)', { min: 1, max: 3650 }),
      out: file('write the certificate (PEM) here'),
      ...sessionFlag,
    },
    async run({ values, positionals, out }) {
      const days = values['validity-days']
      const r = await api(values['session-file'], 'provider.selfSignedClientCert', {
        params: { provider: need(positionals[0], 'PROVIDER') },
        body: days !== undefined ? { validity_days: days } : {},
      })
      if (values.out !== undefined) writeFileSync(values.out, r.certificate)
      out.data(r, () =>
        values.out !== undefined ? `wrote ${values.out}` : r.certificate.trimEnd(),
      )
      return 0
    },
  }),
  defineCommand({
    path: ['provider', 'trust', 'csr'],
    summary:
      'A CSR for the KMS to sign (the key stays in the center); upload the signed certificate with ward provider trust upload',
    args: 'PROVIDER',
    example: 'ward provider trust csr kms-cluster --out center.csr',
    flags: { out: file('write the CSR (PEM) here'), ...sessionFlag },
    async run({ values, positionals, out }) {
      const r = await api(values['session-file'], 'provider.clientCsr', {
        params: { provider: need(positionals[0], 'PROVIDER') },
      })
      if (values.out !== undefined) writeFileSync(values.out, r.csr)
      out.data(r, () => (values.out !== undefined ? `wrote ${values.out}` : r.csr.trimEnd()))
      return 0
    },
  }),
  defineCommand({
    path: ['provider', 'trust', 'upload'],
    summary:
      'Upload the client certificate: the one the KMS signed for the latest CSR, or a certificate with its private key (--key-file)',
    args: 'PROVIDER',
    example: 'ward provider trust upload kms-cluster --cert-file client.crt --key-file client.key',
    flags: {
      'cert-file': fileRequired('PEM certificate'),
      'key-file': file('PEM private key of the certificate (not for a signed CSR)'),
      ...sessionFlag,
    },
    async run({ values, positionals, out }) {
      const keyFile = values['key-file']
      const p = await api(values['session-file'], 'provider.setClientCert', {
        params: { provider: need(positionals[0], 'PROVIDER') },
        body: {
          certificate: readPem(values['cert-file']),
          ...(keyFile !== undefined ? { private_key: readPem(keyFile) } : {}),
        },
      })
      out.data(p, () => show(p))
      return 0
    },
  }),
  defineCommand({
    path: ['provider', 'status'],
    summary:
      'Per server: connection, both trust directions, certificate expiry, gray/green/yellow/red',
    args: 'PROVIDER',
    example: 'ward provider status kms-cluster --json',
    flags: sessionFlag,
    async run({ values, positionals, out }) {
      const s = await api(values['session-file'], 'provider.status', {
        params: { provider: need(positionals[0], 'PROVIDER') },
      })
      const days = (n: number | undefined) => (n === undefined ? '' : `${Math.floor(n / 86400)} d`)
      out.data(s, () =>
        [
          `provider ${s.provider}: ${s.overall_status}; client certificate expires in ${days(s.client_cert_info?.seconds_before_expire) || '-'}`,
          table(
            [
              'server',
              'status',
              'connection',
              'center trusts KMS',
              'KMS trusts center',
              'KMS cert expires in',
            ],
            s.servers.map((x) => [
              x.name,
              x.status,
              x.connection_status,
              x.client_trust_server ? 'yes' : 'no',
              x.server_trust_client ? 'yes' : 'no',
              days(x.cert_info?.seconds_before_expire),
            ]),
          ),
        ].join('\n'),
      )
      return s.overall_status === 'red' ? 1 : 0
    },
  }),
  defineCommand({
    path: ['provider', 'default'],
    summary: 'Make a provider the default one, globally or of a cluster',
    args: 'PROVIDER',
    example: 'ward provider default kms-cluster --cluster domain-c2',
    flags: { cluster: text('only for this cluster', { value: 'ID' }), ...sessionFlag },
    async run({ values, positionals, out }) {
      const cluster = values.cluster
      const p = await api(values['session-file'], 'provider.setDefault', {
        params: { provider: need(positionals[0], 'PROVIDER') },
        body: cluster !== undefined ? { cluster } : {},
      })
      out.data(
        p,
        () =>
          `${p.provider} is the default key provider${cluster !== undefined ? ` of ${cluster}` : ''}`,
      )
      return 0
    },
  }),
]
