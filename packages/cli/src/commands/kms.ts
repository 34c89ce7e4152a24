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
import type { Command, Values } from '../command.js'
import { table } from '../output.js'
import { logFormatHelp, logFormatOf, logFormatOption, untilStopped } from '../service.js'
import { CliError } from '../errors.js'

const dataDir = (v: Values): string => {
  const d = v['data-dir']
  if (typeof d !== 'string' || d === '')
    throw new CliError('ERR_CLI_USAGE', '--data-dir DIR is required')
  return resolve(d)
}
const str = (v: Values, k: string): string | undefined =>
  typeof v[k] === 'string' ? v[k] : undefined
const need = (v: Values, k: string): string => {
  const s = str(v, k)
  if (s === undefined || s === '') throw new CliError('ERR_CLI_USAGE', `--${k} is required`)
  return s
}
const dbOpt = { db: { type: 'string' } } as const
/** A whole-number flag (range checks are the server's), or undefined when absent. */
const num = (v: Values, k: string): number | undefined => {
  const s = str(v, k)
  if (s === undefined) return undefined
  if (!/^\d{1,9}$/.test(s))
    throw new CliError('ERR_CLI_USAGE', `--${k} must be a whole number (got ${s})`)
  return Number(s)
}
/** `ward kms serve` limit flags → KmsServerOptions fields (value scale: MiB → bytes). */
const serveLimits = [
  ['max-connections', 'maxConnections', 1],
  ['max-connections-per-address', 'maxConnectionsPerAddress', 1],
  ['handshake-timeout-ms', 'handshakeTimeoutMs', 1],
  ['frame-timeout-ms', 'readTimeoutMs', 1],
  ['max-buffered-mib', 'maxBufferedBytes', 1 << 20],
  ['max-streams-per-client', 'maxStreamsPerClient', 1],
] as const

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
    options: {
      'data-dir': { type: 'string' },
      'server-name': { type: 'string', multiple: true },
    },
    help: {
      'server-name':
        'a name or IP address clients connect to (repeatable; IP addresses become IP SANs, names DNS SANs; default localhost)',
    },
    async run({ values, out }) {
      const dir = dataDir(values)
      const v = values['server-name']
      const names = Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
      await initKms(dir, { serverNames: names })
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
    options: { 'data-dir': { type: 'string' }, out: { type: 'string' } },
    async run({ values, positionals, out }) {
      const name = positionals[0]
      if (name === undefined)
        throw new CliError('ERR_CLI_USAGE', 'NAME (the client identity) is required')
      const files = await addClient(dataDir(values), name, resolve(need(values, 'out')))
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
    options: { 'data-dir': { type: 'string' } },
    async run({ values, positionals, out }) {
      const arg = positionals[0]
      if (arg === undefined || arg === '')
        throw new CliError('ERR_CLI_USAGE', 'NAME (a client identity) or SERIAL is required')
      const dir = dataDir(values)
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
    options: { 'data-dir': { type: 'string' } },
    async run({ values, out }) {
      const rows = listClients(dataDir(values))
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
    options: {
      'data-dir': { type: 'string' },
      listen: { type: 'string' },
      'audit-stdout': { type: 'boolean' },
      'busy-poll-us': { type: 'string' },
      ...logFormatOption,
      ...Object.fromEntries(serveLimits.map(([flag]) => [flag, { type: 'string' }] as const)),
      ...dbOpt,
    },
    help: {
      'max-connections':
        'most TCP connections open at once, handshaking ones included (default 1024); more are refused and logged',
      'max-connections-per-address':
        'most TCP connections open at once from one source address (default 64)',
      'handshake-timeout-ms':
        'a connection that has not finished its TLS handshake by then is closed (default 10000)',
      'frame-timeout-ms':
        'a started request (its 8-byte header included) must arrive within this plus 1 s per MiB, else the connection is closed (default 10000; idle connections: 120 s)',
      'max-buffered-mib':
        'request bytes the server holds over all connections (default 64); over it new requests wait; at least 4/3 of the 16 MiB largest message',
      'max-streams-per-client':
        'open streaming Encrypt/Decrypt contexts per client identity (default 64; 1,024 in all)',
      listen: 'HOST:PORT (port 0 picks a free one)',
      ...logFormatHelp,
      'busy-poll-us':
        'after each reply keep polling the sockets this many µs instead of sleeping (default 200; 0 = off: less CPU, more latency)',
      db: 'postgres://… (default: SQLite in the data dir)',
      'audit-stdout':
        'also log audit lines on stdout (audit.log in the data dir is always written)',
    },
    async run({ values }) {
      const listen = str(values, 'listen')
      const db = str(values, 'db')
      const poll = str(values, 'busy-poll-us')
      if (poll !== undefined && !/^\d{1,7}$/.test(poll))
        throw new CliError(
          'ERR_CLI_USAGE',
          `--busy-poll-us must be a whole number of µs (got ${poll})`,
        )
      const logger = createLogger('kms', { format: logFormatOf(values) })
      const stopped = untilStopped() // handlers first: a signal during start-up still stops it
      const server = await startKmsServer({
        dataDir: dataDir(values),
        logger,
        ...(listen !== undefined ? { listen } : {}),
        ...(db !== undefined ? { db } : {}),
        auditToLogger: values['audit-stdout'] === true,
        ...(poll !== undefined ? { busyPollUs: Number(poll) } : {}),
        ...Object.fromEntries(
          serveLimits.flatMap(([flag, key, scale]) => {
            const n = num(values, flag)
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
    options: { 'data-dir': { type: 'string' }, ...dbOpt },
    async run({ values, out }) {
      const s = await kmsStatus(dataDir(values), str(values, 'db'))
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
    options: {
      'data-dir': { type: 'string' },
      owner: { type: 'string' },
      state: { type: 'string' },
      type: { type: 'string' },
      ...dbOpt,
    },
    help: {
      owner: 'only objects owned by this identity',
      state:
        'only objects in this KMIP state (PreActive, Active, Deactivated, Compromised, Destroyed, …)',
      type: 'only objects of this KMIP object type (SymmetricKey, SecretData, PrivateKey, …)',
      db: 'postgres://… (default: SQLite in the data dir)',
    },
    async run({ values, out }) {
      const owner = str(values, 'owner')
      const state = str(values, 'state')
      const type = str(values, 'type')
      const rows = await listObjects(
        dataDir(values),
        {
          ...(owner !== undefined ? { owner } : {}),
          ...(state !== undefined ? { state } : {}),
          ...(type !== undefined ? { type } : {}),
        },
        str(values, 'db'),
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
    options: { 'data-dir': { type: 'string' }, ...dbOpt },
    async run({ values, positionals, out }) {
      const id = positionals[0]
      if (id === undefined || id === '')
        throw new CliError(
          'ERR_CLI_USAGE',
          'ID (an object id, see ward kms objects list) is required',
        )
      const o = await showObject(dataDir(values), id, str(values, 'db'))
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
    options: {
      'data-dir': { type: 'string' },
      object: { type: 'string' },
      identity: { type: 'string' },
      operations: { type: 'string' },
      ...dbOpt,
    },
    help: { operations: `comma-separated: ${privilegeNames.join(', ')}` },
    async run({ values, out }) {
      const ops = need(values, 'operations')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
      const g = await grantAccess(
        dataDir(values),
        need(values, 'object'),
        need(values, 'identity'),
        ops,
        str(values, 'db'),
      )
      const warnings = grantWarnings(dataDir(values), g.identity)
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
    options: {
      'data-dir': { type: 'string' },
      object: { type: 'string' },
      identity: { type: 'string' },
      operations: { type: 'string' },
      ...dbOpt,
    },
    async run({ values, out }) {
      const ops = (str(values, 'operations') ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
      const g = await revokeAccess(
        dataDir(values),
        need(values, 'object'),
        need(values, 'identity'),
        ops,
        str(values, 'db'),
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
    options: { 'data-dir': { type: 'string' }, object: { type: 'string' }, ...dbOpt },
    async run({ values, out }) {
      const gs = await listGrants(dataDir(values), str(values, 'object'), str(values, 'db'))
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
