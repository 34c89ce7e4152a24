import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { Secret, createLogger, readSecretFile, writeSecretFile } from '@ward/core'
import { CenterError, initCenter, serveCenter } from '@ward/center'
import { CenterClient, type CallInput, type CallOutput, type OperationId } from '@ward/api'
import { defineCommand, type Command } from '../command.js'
import { bool, choice, custom, list, text } from '../flags.js'
import { table } from '../output.js'
import { logFormatFlag, logFormatOf, untilStopped } from '../service.js'
import { CliError } from '../errors.js'

/*
 * `ward center init|serve` (the service, shaped like `ward kms`) and the commands that talk to a
 * running center through its REST API with the session `ward login` stored: `ward logout`,
 * `ward role ...`, `ward permission ...`, `ward user ...`, `ward token ...`, `ward host add`.
 */

const centerDataDir = {
  'data-dir': custom('center data folder', (d) => resolve(d), { value: 'DIR', required: true }),
} as const
const dbFlag = {
  db: text('postgres://… (default: SQLite in the data dir)', { value: 'URL' }),
} as const

/** Where `ward login` keeps the session (0600): ~/.config/ward/center-session.json. */
const defaultSessionFile = (): string =>
  join(process.env['XDG_CONFIG_HOME'] ?? join(homedir(), '.config'), 'ward', 'center-session.json')
// exported for the provider commands (provider-native.ts)
export const sessionFlag = {
  'session-file': custom('where ward login keeps the session (0600)', (d) => resolve(d), {
    value: 'FILE',
    default: '',
    shown: '~/.config/ward/center-session.json',
  }),
} as const

interface SavedSession {
  readonly url: string
  readonly user: string
  readonly sessionId: string
  readonly ca?: string
}

const sessionPath = (flag: string): string => (flag === '' ? defaultSessionFile() : flag)

function loadSession(flag: string): SavedSession {
  const path = sessionPath(flag)
  let s: Secret
  try {
    s = readSecretFile(path)
  } catch (e) {
    throw new CenterError(
      'ERR_CENTER_LOGIN_FILE',
      `no usable session in ${path}: run ward login --center URL first`,
      {},
      { cause: e },
    )
  }
  const v = s.use((b) => JSON.parse(Buffer.from(b).toString('utf8')) as SavedSession)
  s.dispose()
  return v
}

export async function api<K extends OperationId>(
  flag: string,
  id: K,
  input: CallInput<K>,
): Promise<CallOutput<K>> {
  const s = loadSession(flag)
  return new CenterClient({
    url: s.url,
    sessionId: s.sessionId,
    ...(s.ca !== undefined ? { ca: s.ca } : {}),
  }).call(id, input)
}

/** A password: from a 0600 file, or typed at the terminal (not echoed); never from argv. */
export async function readPassword(file: string | undefined, prompt: string): Promise<Buffer> {
  if (file !== undefined) {
    const s = readSecretFile(file, { trimNewline: true, maxLength: 1024 })
    const b = s.use((x) => Buffer.from(x))
    s.dispose()
    return b
  }
  const stdin = process.stdin
  if (!stdin.isTTY)
    throw new CliError(
      'ERR_CLI_USAGE',
      'give --password-file FILE (mode 0600), or run at a terminal to be asked',
    )
  process.stderr.write(prompt)
  stdin.setRawMode(true)
  stdin.resume()
  const chars: number[] = []
  try {
    await new Promise<void>((done, fail) => {
      const onData = (d: Buffer): void => {
        for (const c of d) {
          if (c === 0x0d || c === 0x0a) return finish()
          if (c === 0x03) return finish(new CliError('ERR_CLI_USAGE', 'interrupted'))
          if (c === 0x7f) chars.pop()
          else chars.push(c)
        }
      }
      const finish = (e?: Error): void => {
        stdin.off('data', onData)
        if (e) fail(e)
        else done()
      }
      stdin.on('data', onData)
    })
  } finally {
    stdin.setRawMode(false)
    stdin.pause()
    process.stderr.write('\n')
  }
  const b = Buffer.from(chars)
  chars.fill(0)
  return b
}

export const passwordFlag = {
  'password-file': custom(
    'a file (mode 0600) holding the password; without it you are asked',
    (d) => resolve(d),
    { value: 'FILE' },
  ),
} as const

export const centerCommands: readonly Command[] = [
  defineCommand({
    path: ['center', 'init'],
    summary:
      'Create a center data dir: master key, CA and HTTPS certificate (pki/), database, the first administrator',
    example:
      'ward center init --data-dir /var/lib/ward/center --admin admin --password-file ./admin.pw',
    flags: {
      ...centerDataDir,
      admin: text('name of the first administrator (Admin role on root)', {
        value: 'USER',
        default: 'admin',
      }),
      ...passwordFlag,
      'server-name': list(
        'more names or addresses for the HTTPS certificate (besides localhost, 127.0.0.1, ::1)',
      ),
      ...dbFlag,
    },
    async run({ values, out }) {
      const pw = await readPassword(values['password-file'], `password for ${values.admin}: `)
      try {
        const r = await initCenter({
          dataDir: values['data-dir'],
          admin: values.admin,
          password: pw,
          ...(values.db !== undefined ? { db: values.db } : {}),
          ...(values['server-name'] !== undefined ? { serverNames: values['server-name'] } : {}),
        })
        out.data(r, () =>
          [
            `initialized ${r.dataDir} (master.key, pki/, schema ${r.schema.join(', ')}); administrator: ${r.admin}`,
            `CA fingerprint: ${r.caFingerprint}`,
            `next: ward center serve --data-dir ${r.dataDir}`,
          ].join('\n'),
        )
      } finally {
        pw.fill(0)
      }
      return 0
    },
  }),
  defineCommand({
    path: ['center', 'serve'],
    summary:
      'Run the center: REST API over HTTPS (default 127.0.0.1:8443), OpenAPI at /api/openapi.json',
    example:
      'ward center serve --data-dir /var/lib/ward/center --listen 0.0.0.0:8443 --log-format json',
    flags: {
      ...centerDataDir,
      listen: text('address to listen on (port 0 picks a free one; default 127.0.0.1:8443)', {
        value: 'HOST:PORT',
      }),
      'log-format': logFormatFlag,
      ...dbFlag,
    },
    async run({ values }) {
      const logger = createLogger('center', { format: logFormatOf(values['log-format']) })
      const stopped = untilStopped()
      const s = await serveCenter({
        dataDir: values['data-dir'],
        logger,
        ...(values.listen !== undefined ? { listen: values.listen } : {}),
        ...(values.db !== undefined ? { db: values.db } : {}),
      })
      logger.info({ url: s.url, caFingerprint: s.caFingerprint }, 'ward center listening')
      await stopped
      await s.close()
      return 0
    },
  }),
  defineCommand({
    path: ['login'],
    summary:
      'Log in to a center (POST /api/session); the session is kept in a 0600 file for the other commands',
    example:
      'ward login --center https://127.0.0.1:8443 --user admin --password-file ./admin.pw --ca /var/lib/ward/center/pki/ca.crt',
    flags: {
      center: text('the center URL', { value: 'URL', required: true }),
      user: text('user name', { value: 'USER', default: 'admin' }),
      ...passwordFlag,
      ca: custom("the center's CA certificate (its data dir's pki/ca.crt)", (d) => resolve(d), {
        value: 'FILE',
      }),
      ...sessionFlag,
    },
    async run({ values, out }) {
      const ca = values.ca !== undefined ? readFileSync(values.ca, 'utf8') : undefined
      const pw = await readPassword(values['password-file'], `password for ${values.user}: `)
      let sessionId: string
      try {
        sessionId = await new CenterClient({
          url: values.center,
          basic: { user: values.user, password: pw.toString('utf8') },
          ...(ca !== undefined ? { ca } : {}),
        }).call('session.create', {})
      } finally {
        pw.fill(0)
      }
      const path = sessionPath(values['session-file'])
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
      const saved: SavedSession = {
        url: values.center,
        user: values.user,
        sessionId,
        ...(ca !== undefined ? { ca } : {}),
      }
      writeSecretFile(path, new Secret(Buffer.from(JSON.stringify(saved))), { overwrite: true })
      out.data(
        { center: values.center, user: values.user, sessionFile: path },
        () => `logged in to ${values.center} as ${values.user} (session in ${path})`,
      )
      return 0
    },
  }),
  defineCommand({
    path: ['logout'],
    summary: 'End the session ward login made (DELETE /api/session) and remove its file',
    example: 'ward logout',
    flags: sessionFlag,
    async run({ values, out }) {
      await api(values['session-file'], 'session.delete', {})
      rmSync(sessionPath(values['session-file']), { force: true })
      out.data({ loggedOut: true }, () => 'logged out')
      return 0
    },
  }),
  defineCommand({
    path: ['role', 'list'],
    summary: 'Roles (system and custom) and their privileges',
    example: 'ward role list --json',
    flags: sessionFlag,
    async run({ values, out }) {
      const rs = await api(values['session-file'], 'role.list', {})
      out.data(rs, () =>
        table(
          ['id', 'name', 'label', 'system', 'privileges'],
          rs.map((r) => [
            String(r.id),
            r.name,
            r.label,
            r.system ? 'yes' : '',
            String(r.privileges.length),
          ]),
        ),
      )
      return 0
    },
  }),
  defineCommand({
    path: ['role', 'privileges'],
    summary: 'Every privilege, with what it allows',
    example: 'ward role privileges',
    flags: sessionFlag,
    async run({ values, out }) {
      const ps = await api(values['session-file'], 'privilege.list', {})
      out.data(ps, () =>
        table(
          ['privilege', 'allows'],
          ps.map((p) => [p.id, p.description]),
        ),
      )
      return 0
    },
  }),
  defineCommand({
    path: ['role', 'create'],
    summary: 'Create a custom role from privileges',
    args: 'NAME',
    example: 'ward role create KeyReader --privileges System.Read,Cryptographer.ReadKeyServersInfo',
    flags: {
      privileges: list('privileges of the role', { required: true }),
      label: text('a label shown with the name', { value: 'TEXT' }),
      ...sessionFlag,
    },
    async run({ values, positionals, out }) {
      const name = need(positionals[0], 'NAME')
      const r = await api(values['session-file'], 'role.create', {
        body: {
          name,
          privileges: values.privileges,
          ...(values.label !== undefined ? { label: values.label } : {}),
        },
      })
      out.data(r, () => `role ${r.name} (${r.id}): ${r.privileges.join(', ')}`)
      return 0
    },
  }),
  defineCommand({
    path: ['role', 'clone'],
    summary:
      'Clone a role into a custom one, adding and removing privileges (e.g. encrypt but not decrypt)',
    args: 'FROM NAME',
    example:
      'ward role clone NoCryptoAdmin EncryptOnly --add Cryptographer.Encrypt,Cryptographer.EncryptNew',
    flags: {
      add: list('privileges to add'),
      remove: list('privileges to remove'),
      label: text('a label shown with the name', { value: 'TEXT' }),
      ...sessionFlag,
    },
    async run({ values, positionals, out }) {
      const from = need(positionals[0], 'FROM')
      const name = need(positionals[1], 'NAME')
      const r = await api(values['session-file'], 'role.clone', {
        params: { role: from },
        body: {
          name,
          ...(values.add !== undefined ? { add: values.add } : {}),
          ...(values.remove !== undefined ? { remove: values.remove } : {}),
          ...(values.label !== undefined ? { label: values.label } : {}),
        },
      })
      out.data(r, () => `role ${r.name} (${r.id}) from ${from}: ${r.privileges.length} privileges`)
      return 0
    },
  }),
  defineCommand({
    path: ['role', 'delete'],
    summary: 'Delete a custom role that no permission uses',
    args: 'NAME',
    example: 'ward role delete EncryptOnly',
    flags: sessionFlag,
    async run({ values, positionals, out }) {
      const role = need(positionals[0], 'NAME')
      await api(values['session-file'], 'role.delete', { params: { role } })
      out.data({ deleted: role }, () => `deleted role ${role}`)
      return 0
    },
  }),
  defineCommand({
    path: ['permission', 'list'],
    summary: 'Permissions (principal, role, object, propagate) on objects you may read',
    example: 'ward permission list --object datacenter-1 --json',
    flags: {
      object: text('only on this object (root, datacenter-1, …)', { value: 'ID' }),
      principal: text('only of this user', { value: 'USER' }),
      ...sessionFlag,
    },
    async run({ values, out }) {
      const ps = await api(values['session-file'], 'permission.list', {
        query: {
          ...(values.object !== undefined ? { object: values.object } : {}),
          ...(values.principal !== undefined ? { principal: values.principal } : {}),
        },
      })
      out.data(ps, () =>
        table(
          ['object', 'principal', 'role', 'propagate'],
          ps.map((p) => [p.object, p.principal, p.role, p.propagate ? 'yes' : 'no']),
        ),
      )
      return 0
    },
  }),
  defineCommand({
    path: ['permission', 'set'],
    summary: 'Give a user a role on an object (replaces their permission there)',
    example:
      'ward permission set --object datacenter-1 --principal alice --role EncryptOnly --propagate on',
    flags: {
      object: text('root or an inventory id', { value: 'ID', required: true }),
      principal: text('the user', { value: 'USER', required: true }),
      role: text('the role name', { value: 'ROLE', required: true }),
      propagate: choice(['on', 'off'], 'whether the permission applies to the objects below', {
        default: 'on',
      }),
      ...sessionFlag,
    },
    async run({ values, out }) {
      const p = await api(values['session-file'], 'permission.set', {
        body: {
          object: values.object,
          principal: values.principal,
          role: values.role,
          propagate: values.propagate === 'on',
        },
      })
      out.data(
        p,
        () => `${p.principal}: ${p.role} on ${p.object}${p.propagate ? ' and below' : ''}`,
      )
      return 0
    },
  }),
  defineCommand({
    path: ['permission', 'remove'],
    summary: "Remove a user's permission on an object",
    example: 'ward permission remove --object datacenter-1 --principal alice',
    flags: {
      object: text('root or an inventory id', { value: 'ID', required: true }),
      principal: text('the user', { value: 'USER', required: true }),
      ...sessionFlag,
    },
    async run({ values, out }) {
      await api(values['session-file'], 'permission.remove', {
        query: { object: values.object, principal: values.principal },
      })
      out.data(
        { removed: true },
        () => `removed ${values.principal}'s permission on ${values.object}`,
      )
      return 0
    },
  }),
  defineCommand({
    path: ['user', 'add'],
    summary: 'Create a local user (the password from a 0600 file or asked, never argv)',
    args: 'NAME',
    example: 'ward user add alice --password-file ./alice.pw',
    flags: { ...passwordFlag, ...sessionFlag },
    async run({ values, positionals, out }) {
      const name = need(positionals[0], 'NAME')
      const pw = await readPassword(values['password-file'], `password for ${name}: `)
      try {
        const u = await api(values['session-file'], 'user.create', {
          body: { name, password: pw.toString('utf8') },
        })
        out.data(
          u,
          () =>
            `created user ${u.name}; give them a role: ward permission set --object root --principal ${u.name} --role ReadOnly`,
        )
      } finally {
        pw.fill(0)
      }
      return 0
    },
  }),
  defineCommand({
    path: ['user', 'list'],
    summary: 'Local users',
    example: 'ward user list --json',
    flags: sessionFlag,
    async run({ values, out }) {
      const us = await api(values['session-file'], 'user.list', {})
      out.data(us, () =>
        table(
          ['name', 'created', 'locked until'],
          us.map((u) => [u.name, u.created, u.locked_until ?? '']),
        ),
      )
      return 0
    },
  }),
  defineCommand({
    path: ['datacenter', 'create'],
    summary: 'Create a datacenter (the top of an inventory tree under root)',
    args: 'NAME',
    example: 'ward datacenter create dc1 --json',
    flags: sessionFlag,
    async run({ values, positionals, out }) {
      const name = need(positionals[0], 'NAME')
      const id = await api(values['session-file'], 'datacenter.create', { body: { name } })
      out.data({ datacenter: id, name }, () => `created datacenter ${name} (${id})`)
      return 0
    },
  }),
  defineCommand({
    path: ['datacenter', 'list'],
    summary: 'Datacenters you may see',
    example: 'ward datacenter list --json',
    flags: sessionFlag,
    async run({ values, out }) {
      const ds = await api(values['session-file'], 'datacenter.list', {})
      out.data(ds, () =>
        table(
          ['datacenter', 'name'],
          ds.map((d) => [d.datacenter, d.name]),
        ),
      )
      return 0
    },
  }),
  defineCommand({
    path: ['cluster', 'create'],
    summary: 'Create a cluster in a datacenter',
    args: 'NAME',
    example: 'ward cluster create c1 --datacenter datacenter-1 --crypto-mode onDemand',
    flags: {
      datacenter: text('the datacenter', { value: 'ID', required: true }),
      'crypto-mode': choice(['onDemand', 'forceEnable'], 'host encryption mode of the cluster', {
        default: 'onDemand',
      }),
      ...sessionFlag,
    },
    async run({ values, positionals, out }) {
      const name = need(positionals[0], 'NAME')
      const id = await api(values['session-file'], 'cluster.create', {
        body: { name, datacenter: values.datacenter, crypto_mode: values['crypto-mode'] },
      })
      out.data(
        { cluster: id, name, datacenter: values.datacenter },
        () => `created cluster ${name} (${id}) in ${values.datacenter}`,
      )
      return 0
    },
  }),
  defineCommand({
    path: ['cluster', 'list'],
    summary: 'Clusters you may see',
    example: 'ward cluster list --json',
    flags: sessionFlag,
    async run({ values, out }) {
      const cs = await api(values['session-file'], 'cluster.list', {})
      out.data(cs, () =>
        table(
          ['cluster', 'name', 'datacenter', 'crypto mode'],
          cs.map((c) => [c.cluster, c.name, c.datacenter, c.crypto_mode]),
        ),
      )
      return 0
    },
  }),
  defineCommand({
    path: ['host', 'list'],
    summary:
      'Hosts in the inventory: connection and crypto state, TPM, key persistence, recovery key backup',
    example: 'ward host list --json',
    flags: sessionFlag,
    async run({ values, out }) {
      const hs = await api(values['session-file'], 'host.list', {})
      out.data(hs, () =>
        table(
          [
            'host',
            'name',
            'cluster',
            'address',
            'connection',
            'crypto state',
            'TPM',
            'key persistence',
            'recovery key backed up',
          ],
          hs.map((h) => [
            h.host,
            h.name,
            h.cluster ?? '-',
            h.address,
            h.connection_state,
            h.crypto_state,
            h.tpm_present ? 'yes' : 'no',
            h.key_persistence ? 'on' : 'off',
            h.recovery_key_backed_up ? 'yes' : 'no',
          ]),
        ),
      )
      return 0
    },
  }),
  defineCommand({
    path: ['host', 'add'],
    summary:
      'Add a host: a one-time, expiring join token; on the host: ward host join --center URL --token-file F',
    example: 'ward host add --datacenter datacenter-1 --cluster domain-c2 --ttl 3600',
    flags: {
      datacenter: text('the datacenter the host joins', { value: 'ID', required: true }),
      cluster: text('the cluster the host joins (default: standalone in the datacenter)', {
        value: 'ID',
      }),
      ttl: custom('seconds the token is valid (60 to 604800; default 3600)', (s) => Number(s), {
        value: 'SECONDS',
      }),
      ...sessionFlag,
    },
    async run({ values, out }) {
      const r = await api(values['session-file'], 'host.joinToken', {
        body: {
          datacenter: values.datacenter,
          ...(values.cluster !== undefined ? { cluster: values.cluster } : {}),
          ...(values.ttl !== undefined ? { ttl_seconds: values.ttl } : {}),
        },
      })
      out.data(r, () => `${r.token}\n(valid once, until ${r.expires})`)
      return 0
    },
  }),
  defineCommand({
    path: ['token', 'create'],
    summary: 'Create an API token for yourself (shown once; send it as Authorization: Bearer)',
    args: 'NAME',
    example: 'ward token create ci --json',
    flags: { ...sessionFlag, 'no-expiry': bool('never expire (default: 30 days)') },
    async run({ values, positionals, out }) {
      const name = need(positionals[0], 'NAME')
      const r = await api(values['session-file'], 'token.create', {
        body: { name, ...(values['no-expiry'] ? {} : { ttl_seconds: 30 * 86400 }) },
      })
      out.data(r, () => `${r.token}\n(token ${r.id}; shown once)`)
      return 0
    },
  }),
]

export function need(v: string | undefined, what: string): string {
  if (v === undefined || v === '') throw new CliError('ERR_CLI_USAGE', `${what} is required`)
  return v
}
