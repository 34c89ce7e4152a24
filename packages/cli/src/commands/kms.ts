import { resolve } from 'node:path'
import {
  addClient,
  grantAccess,
  initKms,
  kmsStatus,
  listGrants,
  privilegeNames,
  revokeAccess,
  startKmsServer,
} from '@ward/kms'
import { WardError } from '@ward/core'
import { defineCommand } from '../command.js'
import type { Command, Values } from '../command.js'
import { table } from '../output.js'
import { untilStopped } from '../service.js'

const dataDir = (v: Values): string => {
  const d = v['data-dir']
  if (typeof d !== 'string' || d === '')
    throw new WardError('ERR_KMS_USAGE', '--data-dir DIR is required')
  return resolve(d)
}
const str = (v: Values, k: string): string | undefined =>
  typeof v[k] === 'string' ? v[k] : undefined
const need = (v: Values, k: string): string => {
  const s = str(v, k)
  if (s === undefined || s === '') throw new WardError('ERR_KMS_USAGE', `--${k} is required`)
  return s
}
const dbOpt = { db: { type: 'string' } } as const

/** `ward kms …`: the KMIP server and its administration (issue 3). */
export const kmsCommands: readonly Command[] = [
  defineCommand({
    path: ['kms', 'init'],
    summary:
      'Create a KMS data directory: master key (0600), CA, server certificate for localhost/127.0.0.1',
    options: { 'data-dir': { type: 'string' }, 'server-name': { type: 'string' } },
    async run({ values, out }) {
      const dir = dataDir(values)
      const name = str(values, 'server-name')
      await initKms(dir, name !== undefined ? { serverName: name } : {})
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
        throw new WardError('ERR_KMS_USAGE', 'NAME (the client identity) is required')
      const files = await addClient(dataDir(values), name, resolve(need(values, 'out')))
      out.data(
        { identity: name, ...files },
        () => `client ${name}: ${files.cert}, ${files.key}, ${files.ca}`,
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
      ...dbOpt,
    },
    help: {
      listen: 'HOST:PORT (port 0 picks a free one)',
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
        throw new WardError(
          'ERR_KMS_USAGE',
          `--busy-poll-us must be a whole number of µs (got ${poll})`,
        )
      const stopped = untilStopped() // handlers first: a signal during start-up still stops it
      const server = await startKmsServer({
        dataDir: dataDir(values),
        ...(listen !== undefined ? { listen } : {}),
        ...(db !== undefined ? { db } : {}),
        auditToLogger: values['audit-stdout'] === true,
        ...(poll !== undefined ? { busyPollUs: Number(poll) } : {}),
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
          `clients:   ${s.clients.map((c) => c.name).join(', ') || '(none)'}`,
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
      out.data(g, () => `${g.identity} may now ${g.operations.join(', ')} on ${g.objectId}`)
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
