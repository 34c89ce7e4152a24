import { resolve } from 'node:path'
import {
  addClient,
  grantAccess,
  grantWarnings,
  listObjects,
  showObject,
  initKms,
  kmsStatus,
  listClients,
  listGrants,
  privilegeNames,
  revokeAccess,
  revokeClient,
  startKmsServer,
} from '@ward/kms'
import type { ObjectSummary } from '@ward/kms'
import { createLogger } from '@ward/core'
import { defineCommand } from '../command.js'
import type { Command } from '../command.js'
import { bool, custom, int, list, text, texts, type Flag } from '../flags.js'
import { table } from '../output.js'
import { logFormatFlag, logFormatOf, untilStopped } from '../service.js'
import { CliError } from '../errors.js'

/** `--data-dir` of every `ward kms` command (absolute). */
const kmsDataDir = {
  'data-dir': custom('KMS data folder', (d) => resolve(d), { value: 'DIR', required: true }),
} as const
const dbFlag = {
  db: text('postgres://… (default: SQLite in the data dir)', { value: 'URL' }),
} as const
/** `ward kms serve` limit flags → KmsServerOptions fields (value scale: MiB → bytes). */
const serveLimits = {
  'max-connections': {
    key: 'maxConnections',
    scale: 1,
    help: 'most TCP connections open at once, handshaking ones included (default 1024); more are refused and logged',
  },
  'max-connections-per-address': {
    key: 'maxConnectionsPerAddress',
    scale: 1,
    help: 'most TCP connections open at once from one source address (default 64)',
  },
  'handshake-timeout-ms': {
    key: 'handshakeTimeoutMs',
    scale: 1,
    help: 'a connection that has not finished its TLS handshake by then is closed (default 10000)',
  },
  'frame-timeout-ms': {
    key: 'readTimeoutMs',
    scale: 1,
    help: 'a started request (its 8-byte header included) must arrive within this plus 1 s per MiB, else the connection is closed (default 10000; idle connections: 120 s)',
  },
  'max-buffered-mib': {
    key: 'maxBufferedBytes',
    scale: 1 << 20,
    help: 'request bytes the server holds over all connections (default 64); over it new requests wait; at least 4/3 of the 16 MiB largest message',
  },
  'max-streams-per-client': {
    key: 'maxStreamsPerClient',
    scale: 1,
    help: 'open streaming Encrypt/Decrypt contexts per client identity (default 64; 1,024 in all)',
  },
} as const
type LimitFlag = keyof typeof serveLimits
/** Whole numbers (range checks are the server's). */
const limitFlags = Object.fromEntries(
  Object.entries(serveLimits).map(([flag, l]) => [flag, int(l.help, { min: 0, max: 999_999_999 })]),
) as Record<LimitFlag, Flag<number | undefined>>

/** Client names, once each; "(revoked)" when every certificate of the name is. */
const clientNames = (cs: readonly { name: string; revokedAt?: string }[]): string =>
  [...new Set(cs.map((c) => c.name))]
    .map((n) => (cs.every((c) => c.name !== n || c.revokedAt !== undefined) ? `${n} (revoked)` : n))
    .join(', ')

const objectLines = (o: ObjectSummary): string[] => [
  `id:        ${o.id}`,
  `type:      ${o.type}`,
  `algorithm: ${o.algorithm ?? '-'}${o.length !== null ? ` ${o.length} bits` : ''}`,
  `state:     ${o.state}`,
  `owner:     ${o.owner}`,
  `names:     ${o.names.join(', ') || '-'}`,
  `created:   ${o.created}`,
  `updated:   ${o.updated}`,
  ...Object.entries(o.dates).map(([k, v]) => `${`${k}:`.padEnd(28)}${v}`),
  ...Object.entries(o.custom).map(([k, v]) => `${`${k}:`.padEnd(28)}${v}`),
]

/** `ward kms …`: the KMIP server and its administration (issue 3). */
export const kmsCommands: readonly Command[] = [
  defineCommand({
    path: ['kms', 'init'],
    summary:
      'Create a KMS data directory: master key (0600), CA, server certificate for localhost (or --server-name) and 127.0.0.1/::1',
    example: 'ward kms init --data-dir /var/lib/ward/kms --server-name kms.example.com',
    flags: {
      ...kmsDataDir,
      'server-name': texts(
        'a name or IP address clients connect to (IP addresses become IP SANs, names DNS SANs; default localhost)',
        { value: 'NAME' },
      ),
    },
    async run({ values, out }) {
      const dir = values['data-dir']
      await initKms(dir, { serverNames: values['server-name'] })
      out.data(
        { dataDir: dir, initialized: true },
        () =>
          `initialized ${dir} (master.key, ca.pem, server.crt); next: ward kms client add NAME --data-dir ${dir} --out DIR`,
      )
      return 0
    },
  }),
  defineCommand({
    path: ['kms', 'client', 'add'],
    summary:
      'Issue a client certificate (EKU clientAuth): DIR/ca.pem, DIR/NAME.crt, DIR/NAME.key (0600)',
    args: 'NAME',
    example: 'ward kms client add vcenter --data-dir /var/lib/ward/kms --out ./vcenter-certs',
    flags: {
      ...kmsDataDir,
      out: custom('folder to write the CA, certificate and key into', (d) => resolve(d), {
        value: 'DIR',
        required: true,
      }),
    },
    async run({ values, positionals, out }) {
      const name = positionals[0]
      if (name === undefined)
        throw new CliError('ERR_CLI_USAGE', 'NAME (the client identity) is required')
      const files = await addClient(values['data-dir'], name, values.out)
      out.data(
        { identity: name, ...files },
        () => `client ${name}: ${files.cert}, ${files.key}, ${files.ca}`,
      )
      return 0
    },
  }),
  defineCommand({
    path: ['kms', 'client', 'revoke'],
    summary:
      'Revoke a client certificate (by client NAME: all its certificates; or by SERIAL): the running server refuses it and closes its connections at once',
    args: 'NAME|SERIAL',
    example: 'ward kms client revoke vcenter --data-dir /var/lib/ward/kms',
    flags: kmsDataDir,
    async run({ values, positionals, out }) {
      const arg = positionals[0]
      if (arg === undefined || arg === '')
        throw new CliError('ERR_CLI_USAGE', 'NAME (a client identity) or SERIAL is required')
      const dir = values['data-dir']
      const r = await revokeClient(dir, arg)
      const what =
        r.name !== undefined
          ? `client ${r.name} (${[...r.serials, ...(r.legacyCertificates > 0 ? [`${r.legacyCertificates} certificate(s) without a recorded serial, by date`] : [])].join(', ') || 'no certificates'})`
          : `certificate serial ${r.serials.join(', ')} (not issued by ward kms client add here)`
      out.data(r, () =>
        [
          `${r.alreadyRevoked ? 'already revoked' : 'revoked'}: ${what}`,
          r.server === null
            ? 'no server is running on this data dir; it applies the deny list when it starts'
            : r.server.applied
              ? `the running server (pid ${r.server.pid}) applied it: new handshakes are refused, open connections closed`
              : `the running server (pid ${r.server.pid}) has NOT confirmed it yet: check its log (it reloads ${dir}/revoked.json), or restart it`,
        ].join('\n'),
      )
      return r.server !== null && !r.server.applied ? 1 : 0
    },
  }),
  defineCommand({
    path: ['kms', 'client', 'list'],
    summary: 'List issued client certificates (name, serial, issued, expires, revoked)',
    example: 'ward kms client list --data-dir /var/lib/ward/kms --json',
    flags: kmsDataDir,
    async run({ values, out }) {
      const rows = listClients(values['data-dir'])
      out.data(rows, () =>
        table(
          ['name', 'serial', 'issued', 'expires', 'revoked'],
          rows.map((c) => [
            c.name,
            c.serial ?? '(not recorded)',
            c.issuedAt,
            c.notAfter ?? '',
            c.revokedAt ?? '',
          ]),
        ),
      )
      return 0
    },
  }),
  defineCommand({
    path: ['kms', 'serve'],
    summary: 'Run the KMIP server (binary TTLV over mutual TLS, default 127.0.0.1:5696)',
    example: 'ward kms serve --data-dir /var/lib/ward/kms --listen 0.0.0.0:5696 --log-format json',
    flags: {
      ...kmsDataDir,
      listen: text('address to listen on (port 0 picks a free one; default 127.0.0.1:5696)', {
        value: 'HOST:PORT',
      }),
      'audit-stdout': bool(
        'also log audit lines on stdout (audit.log in the data dir is always written)',
      ),
      'busy-poll-us': int(
        'after each reply keep polling the sockets this many µs instead of sleeping (default 200; 0 = off: less CPU, more latency)',
        { min: 0, max: 9_999_999 },
      ),
      'log-format': logFormatFlag,
      ...limitFlags,
      ...dbFlag,
    },
    async run({ values }) {
      const listen = values.listen
      const db = values.db
      const poll = values['busy-poll-us']
      const logger = createLogger('kms', { format: logFormatOf(values['log-format']) })
      const stopped = untilStopped() // handlers first: a signal during start-up still stops it
      const server = await startKmsServer({
        dataDir: values['data-dir'],
        logger,
        ...(listen !== undefined ? { listen } : {}),
        ...(db !== undefined ? { db } : {}),
        auditToLogger: values['audit-stdout'],
        ...(poll !== undefined ? { busyPollUs: poll } : {}),
        ...Object.fromEntries(
          Object.entries(serveLimits).flatMap(([flag, { key, scale }]) => {
            const n = values[flag as LimitFlag]
            return n === undefined ? [] : [[key, n * scale]]
          }),
        ),
      })
      await stopped
      await server.close()
      return 0
    },
  }),
  defineCommand({
    path: ['kms', 'status'],
    summary: 'Objects by state, owners, grants, backend and the listening address if a server runs',
    example: 'ward kms status --data-dir /var/lib/ward/kms',
    flags: { ...kmsDataDir, ...dbFlag },
    async run({ values, out }) {
      const s = await kmsStatus(values['data-dir'], values.db)
      out.data(s, () =>
        [
          `data dir:  ${s.dataDir}`,
          `backend:   ${s.backend}`,
          `listening: ${s.listening ? `${s.listening.host}:${s.listening.port} (pid ${s.listening.pid})` : 'not running'}`,
          `clients:   ${clientNames(s.clients) || '(none)'}`,
          `owners:    ${s.owners.join(', ') || '(none)'}`,
          `grants:    ${s.grants}`,
          '',
          table(
            ['state', 'objects'],
            Object.entries(s.objectsByState).map(([k, n]) => [k, String(n)]),
          ),
        ].join('\n'),
      )
      return 0
    },
  }),
  defineCommand({
    path: ['kms', 'objects', 'list'],
    summary:
      'List stored objects (id, type, algorithm, state, owner, names; never key material), read from the data dir',
    example:
      'ward kms objects list --data-dir /var/lib/ward/kms --state Active --type SymmetricKey',
    flags: {
      ...kmsDataDir,
      owner: text('only objects owned by this identity', { value: 'IDENTITY' }),
      state: text(
        'only objects in this KMIP state (PreActive, Active, Deactivated, Compromised, Destroyed, …)',
        { value: 'STATE' },
      ),
      type: text(
        'only objects of this KMIP object type (SymmetricKey, SecretData, PrivateKey, …)',
        { value: 'TYPE' },
      ),
      ...dbFlag,
    },
    async run({ values, out }) {
      const { owner, state, type } = values
      const rows = await listObjects(
        values['data-dir'],
        {
          ...(owner !== undefined ? { owner } : {}),
          ...(state !== undefined ? { state } : {}),
          ...(type !== undefined ? { type } : {}),
        },
        values.db,
      )
      out.data(rows, () =>
        table(
          ['id', 'type', 'algorithm', 'state', 'owner', 'names', 'created'],
          rows.map((o) => [
            o.id,
            o.type,
            `${o.algorithm ?? '-'}${o.length !== null ? `-${o.length}` : ''}`,
            o.state,
            o.owner,
            o.names.join(',') || '-',
            o.created,
          ]),
        ),
      )
      return 0
    },
  }),
  defineCommand({
    path: ['kms', 'objects', 'show'],
    summary:
      'Show one stored object: attributes, dates, x- attributes and grants (never key material)',
    args: 'ID',
    example: 'ward kms objects show 3f1c2a9e --data-dir /var/lib/ward/kms',
    flags: { ...kmsDataDir, ...dbFlag },
    async run({ values, positionals, out }) {
      const id = positionals[0]
      if (id === undefined || id === '')
        throw new CliError(
          'ERR_CLI_USAGE',
          'ID (an object id, see ward kms objects list) is required',
        )
      const o = await showObject(values['data-dir'], id, values.db)
      out.data(o, () =>
        [
          ...objectLines(o),
          `grants:    ${o.grants.map((g) => `${g.identity}: ${g.operations.join(',')}`).join('; ') || '-'}`,
        ].join('\n'),
      )
      return 0
    },
  }),
  defineCommand({
    path: ['kms', 'grant'],
    summary: 'Let another identity run operations on an object (get, encrypt, …, or all)',
    example:
      'ward kms grant --data-dir /var/lib/ward/kms --object 3f1c2a9e --identity host-7 --operations get,encrypt',
    flags: {
      ...kmsDataDir,
      object: text('the object id (see ward kms objects list)', { value: 'ID', required: true }),
      identity: text('the client identity (certificate name) to grant to', {
        value: 'NAME',
        required: true,
      }),
      operations: list(`comma-separated: ${privilegeNames.join(', ')}`, { required: true }),
      ...dbFlag,
    },
    async run({ values, out }) {
      const dir = values['data-dir']
      const g = await grantAccess(dir, values.object, values.identity, values.operations, values.db)
      const warnings = grantWarnings(dir, g.identity)
      for (const w of warnings) out.warn(w)
      out.data(
        { ...g, warnings },
        () => `${g.identity} may now ${g.operations.join(', ')} on ${g.objectId}`,
      )
      return 0
    },
  }),
  defineCommand({
    path: ['kms', 'grant', 'revoke'],
    summary: "Remove operations (or the whole grant) from an identity's access to an object",
    example:
      'ward kms grant revoke --data-dir /var/lib/ward/kms --object 3f1c2a9e --identity host-7 --operations encrypt',
    flags: {
      ...kmsDataDir,
      object: text('the object id', { value: 'ID', required: true }),
      identity: text('the client identity whose grant changes', {
        value: 'NAME',
        required: true,
      }),
      operations: list('comma-separated operations to remove (default: the whole grant)'),
      ...dbFlag,
    },
    async run({ values, out }) {
      const g = await revokeAccess(
        values['data-dir'],
        values.object,
        values.identity,
        values.operations ?? [],
        values.db,
      )
      out.data(g ?? { revoked: true }, () =>
        g === null ? 'grant removed' : `${g.identity} keeps ${g.operations.join(', ')}`,
      )
      return 0
    },
  }),
  defineCommand({
    path: ['kms', 'grant', 'list'],
    summary: 'List grants (all, or of one object)',
    example: 'ward kms grant list --data-dir /var/lib/ward/kms --object 3f1c2a9e',
    flags: {
      ...kmsDataDir,
      object: text('only the grants of this object', { value: 'ID' }),
      ...dbFlag,
    },
    async run({ values, out }) {
      const gs = await listGrants(values['data-dir'], values.object, values.db)
      out.data(gs, () =>
        table(
          ['object', 'identity', 'operations'],
          gs.map((g) => [g.objectId, g.identity, g.operations.join(',')]),
        ),
      )
      return 0
    },
  }),
]
