import { createLogger, isCodedError } from '@ward/core'
import {
  DEFAULT_DATA_DIR,
  HostAgent,
  HostError,
  SOCKET_FILE,
  agentClient,
  initHost,
  listenAdminSocket,
  listenForCenter,
  parseTpmSpec,
  type OptionalParamsOp,
  type AdminParams,
  type AdminResult,
  type RecoveryKey,
} from '@ward/host'
import { createHash } from 'node:crypto'
import { join, resolve } from 'node:path'
import { defineCommand, type Command } from '../command.js'
import { bool, choice, custom, onOff, text, tf } from '../flags.js'
import { table } from '../output.js'
import { logFormatFlag, logFormatOf, untilStopped } from '../service.js'
import { CliError } from '../errors.js'

/** `--data-dir` of the host commands (`ward crypto-util keys` too): absolute. */
export const hostDataDir = {
  'data-dir': custom('host data folder', (d) => resolve(d), {
    value: 'DIR',
    default: resolve(DEFAULT_DATA_DIR),
    shown: DEFAULT_DATA_DIR,
  }),
} as const

const settingsText = (s: AdminResult<'settings.encryption.get'>): string =>
  [
    `   Mode: ${s.mode}`,
    `   Require Executables Only From Installed VIBs: ${s.requireExecInstalledOnly}`,
    `   Require Secure Boot: ${s.requireSecureBoot}`,
  ].join('\n')

const recoveryText = (r: RecoveryKey): string => table(['Recovery ID', 'Key'], [[r.id, r.key]])

/**
 * A command that asks the running agent one operation without parameters and prints its answer:
 * `data` for --json (default: the answer), `text` for people.
 */
function agentCommand<O extends OptionalParamsOp>(c: {
  path: readonly string[]
  summary: string
  op: O
  text: (r: AdminResult<O>) => string
  data?: (r: AdminResult<O>) => unknown
}): Command {
  return defineCommand({
    path: c.path,
    summary: c.summary,
    example: `ward ${c.path.join(' ')} --data-dir ${DEFAULT_DATA_DIR}`,
    flags: hostDataDir,
    async run({ values, out }) {
      const r = await agentClient(values['data-dir']).call(c.op)
      out.data(c.data ? c.data(r) : r, () => c.text(r))
      return 0
    },
  })
}

const recoveryCommand = (verb: 'list' | 'rotate', summary: string): Command =>
  agentCommand({
    path: ['host', 'settings', 'encryption', 'recovery', verb],
    summary,
    op: `settings.encryption.recovery.${verb}`,
    data: (r) => [{ recoveryId: r.id, key: r.key }],
    text: recoveryText,
  })

/** `ward host ...`: the host agent and its esxcli-shaped admin commands (issue 4). */
export const hostCommands: readonly Command[] = [
  defineCommand({
    path: ['host', 'init'],
    summary: 'create a host data folder: identity key in an encrypted configuration, mode NONE',
    example: 'ward host init --data-dir /var/lib/ward/host --tpm swtpm:127.0.0.1:2321',
    flags: {
      ...hostDataDir,
      tpm: text('the TPM: swtpm:HOST:PORT | /dev/tpmrm0 | none', { value: 'SPEC', required: true }),
    },
    async run({ values, out }) {
      const dataDir = values['data-dir']
      const spec = parseTpmSpec(values.tpm)
      const r = initHost(dataDir, spec)
      const fp = createHash('sha256').update(Buffer.from(r.publicKeySpki, 'base64')).digest('hex')
      const data = {
        hostId: r.hostId,
        dataDir,
        tpm: values.tpm,
        mode: 'NONE',
        identityKeySha256: fp,
      }
      out.data(data, () =>
        [
          `Host ${r.hostId} initialised in ${dataDir} (encryption mode NONE).`,
          `Identity key (ECDSA P-256) SHA-256: ${fp}`,
          `Start it with: ward host serve --data-dir ${dataDir}`,
        ].join('\n'),
      )
      return 0
    },
  }),
  defineCommand({
    path: ['host', 'serve'],
    summary: 'boot the host agent (a restart is a host reboot) and serve the admin socket',
    example:
      'ward host serve --data-dir /var/lib/ward/host --simulate-firmware --secure-boot on --log-format json',
    flags: {
      ...hostDataDir,
      'encryption-recovery-key-file': text(
        'file (0600) with the recovery key, when the TPM refuses',
        { value: 'FILE' },
      ),
      'simulate-firmware': bool('measure the boot like firmware would (swtpm has none)'),
      'secure-boot': onOff(
        'the simulated secure-boot state (needs --simulate-firmware; default: on)',
      ),
      'exec-installed-only': onOff('exec-installed-only enforcement measured at boot', {
        default: true,
      }),
      'log-format': logFormatFlag,
    },
    async run({ values }) {
      const dataDir = values['data-dir']
      // flags are checked before booting: a bad value is a usage error (exit 2), never the
      // boot refusal (exit 3) that a real security violation gives
      if (values['secure-boot'] !== undefined && !values['simulate-firmware'])
        throw new CliError(
          'ERR_CLI_USAGE',
          '--secure-boot needs --simulate-firmware (a real host reads it from the firmware)',
        )
      const logger = createLogger('host', { format: logFormatOf(values['log-format']) })
      const secureBoot = values['secure-boot'] ?? true
      let agent: HostAgent
      const stopped = untilStopped() // handlers first: a signal during boot still stops it
      try {
        agent = await HostAgent.boot({
          dataDir,
          recoveryKeyFile: values['encryption-recovery-key-file'],
          simulateFirmware: values['simulate-firmware'] ? { secureBoot } : undefined,
          execInstalledOnly: values['exec-installed-only'],
          logger,
        })
      } catch (e) {
        if (isCodedError(e)) {
          logger.error({ code: e.code }, 'boot refused')
          logger.flush()
          process.stderr.write(
            e instanceof HostError ? `${e.message}\n` : `${e.message} [${e.code}]\n`,
          )
          return 3
        }
        throw e
      }
      const server = await listenAdminSocket(agent, join(dataDir, SOCKET_FILE), logger)
      // joined a center: its mutual-TLS listener too (the admin socket stays for local commands)
      const remote = await listenForCenter(agent, dataDir, logger)
      logger.info({ socket: join(dataDir, SOCKET_FILE) }, 'agent ready')
      await stopped
      remote?.close()
      server.close()
      await agent.close()
      logger.info('agent stopped')
      logger.flush()
      return 0
    },
  }),
  agentCommand({
    path: ['host', 'settings', 'encryption', 'get'],
    summary: 'show the configuration encryption mode and sealing policy',
    op: 'settings.encryption.get',
    text: settingsText,
  }),
  defineCommand({
    path: ['host', 'settings', 'encryption', 'set'],
    summary: 'set --mode=TPM (irreversible) and the TPM sealing policy',
    example: 'ward host settings encryption set --mode=TPM --require-secure-boot=T',
    flags: {
      ...hostDataDir,
      mode: choice(['TPM', 'NONE'], 'encryption mode (TPM cannot be undone)', {
        ignoreCase: true,
      }),
      'require-secure-boot': tf('seal to the secure-boot state'),
      'require-exec-installed-only': tf('seal to exec-installed-only enforcement'),
    },
    async run({ values, out }) {
      const params: AdminParams<'settings.encryption.set'> = {}
      if (values.mode !== undefined) params.mode = values.mode
      if (values['require-secure-boot'] !== undefined)
        params.requireSecureBoot = values['require-secure-boot']
      if (values['require-exec-installed-only'] !== undefined)
        params.requireExecInstalledOnly = values['require-exec-installed-only']
      const s = await agentClient(values['data-dir']).call('settings.encryption.set', params)
      out.data(s, () => settingsText(s))
      return 0
    },
  }),
  recoveryCommand('list', 'show the recovery key (store it off-host)'),
  recoveryCommand('rotate', 'replace the recovery key (the old one stops working)'),
  agentCommand({
    path: ['host', 'security', 'keypersistence', 'get'],
    summary: 'show whether cached keys persist across reboots (under the TPM)',
    op: 'security.keypersistence.get',
    text: (r) =>
      r.storeError === undefined
        ? `   Enabled: ${r.enabled}`
        : `   Enabled: ${r.enabled}\n   Store Error: ${r.storeError} (the stored keys were not restored; see docs/errors/host.md)`,
  }),
  agentCommand({
    path: ['host', 'security', 'keypersistence', 'enable'],
    summary: 'persist cached keys under the TPM (needs encryption mode TPM)',
    op: 'security.keypersistence.enable',
    text: () => 'Key persistence enabled.',
  }),
  defineCommand({
    path: ['host', 'security', 'keypersistence', 'disable'],
    summary: 'stop persisting keys; --remove-all-stored-keys also destroys every stored key',
    example: 'ward host security keypersistence disable --remove-all-stored-keys',
    flags: {
      ...hostDataDir,
      'remove-all-stored-keys': bool('securely delete the key store and its key'),
    },
    async run({ values, out }) {
      const removeAllStoredKeys = values['remove-all-stored-keys']
      const r = await agentClient(values['data-dir']).call('security.keypersistence.disable', {
        removeAllStoredKeys,
      })
      out.data(
        r,
        () =>
          `Key persistence disabled.${removeAllStoredKeys ? ' All stored keys were removed.' : ''}`,
      )
      return 0
    },
  }),
]
