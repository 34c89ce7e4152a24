import { createLogger, isCodedError } from '@ward/core'
import {
  DEFAULT_DATA_DIR,
  HostAgent,
  HostError,
  SOCKET_FILE,
  agentClient,
  initHost,
  listenAdminSocket,
  parseTpmSpec,
  type AdminParams,
  type AdminResult,
  type RecoveryKey,
} from '@ward/host'
import { createHash } from 'node:crypto'
import { join, resolve } from 'node:path'
import { defineCommand, type Command, type Values } from '../command.js'
import { table } from '../output.js'
import { logFormatHelp, logFormatOf, logFormatOption, untilStopped } from '../service.js'
import { CliError } from '../errors.js'

const dataDirOption = { 'data-dir': { type: 'string' } } as const
const dataDirHelp = { 'data-dir': `host data folder (default ${DEFAULT_DATA_DIR})` }

/** The data folder from --data-dir (absolute). */
export function dataDirOf(values: Values): string {
  const d = values['data-dir']
  return resolve(typeof d === 'string' ? d : DEFAULT_DATA_DIR)
}

/** Parse esxcli-style booleans: T, true, F, false (any case). */
export function parseBool(flag: string, v: unknown): boolean | undefined {
  if (v === undefined) return undefined
  const s = String(v).toLowerCase()
  if (s === 't' || s === 'true') return true
  if (s === 'f' || s === 'false') return false
  throw new CliError('ERR_CLI_USAGE', `--${flag} takes T, true, F or false (got ${String(v)})`, {
    option: flag,
  })
}

function onOff(flag: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt
  const s = String(v).toLowerCase()
  if (s === 'on' || s === 'true' || s === 't') return true
  if (s === 'off' || s === 'false' || s === 'f') return false
  throw new CliError('ERR_CLI_USAGE', `--${flag} takes on or off (got ${String(v)})`, {
    option: flag,
  })
}

const settingsText = (s: AdminResult<'settings.encryption.get'>): string =>
  [
    `   Mode: ${s.mode}`,
    `   Require Executables Only From Installed VIBs: ${s.requireExecInstalledOnly}`,
    `   Require Secure Boot: ${s.requireSecureBoot}`,
  ].join('\n')

const recoveryText = (r: RecoveryKey): string => table(['Recovery ID', 'Key'], [[r.id, r.key]])

/** `ward host ...`: the host agent and its esxcli-shaped admin commands (issue 4). */
export const hostCommands: readonly Command[] = [
  defineCommand({
    path: ['host', 'init'],
    summary: 'create a host data folder: identity key in an encrypted configuration, mode NONE',
    options: { ...dataDirOption, tpm: { type: 'string' } },
    help: { ...dataDirHelp, tpm: 'swtpm:HOST:PORT | /dev/tpmrm0 | none (required)' },
    async run({ values, out }) {
      if (typeof values.tpm !== 'string')
        throw new CliError(
          'ERR_CLI_USAGE',
          '--tpm is required: swtpm:HOST:PORT, /dev/tpmrm0 or none',
        )
      const dataDir = dataDirOf(values)
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
    options: {
      ...dataDirOption,
      'encryption-recovery-key-file': { type: 'string' },
      'simulate-firmware': { type: 'boolean' },
      'secure-boot': { type: 'string' },
      'exec-installed-only': { type: 'string' },
      ...logFormatOption,
    },
    help: {
      ...dataDirHelp,
      ...logFormatHelp,
      'encryption-recovery-key-file': 'file (0600) with the recovery key, when the TPM refuses',
      'simulate-firmware': 'measure the boot like firmware would (swtpm has none)',
      'secure-boot': 'on|off: the simulated secure-boot state (default on)',
      'exec-installed-only':
        'on|off: exec-installed-only enforcement measured at boot (default on)',
    },
    async run({ values }) {
      const dataDir = dataDirOf(values)
      const logger = createLogger('host', { format: logFormatOf(values) })
      if (values['secure-boot'] !== undefined && values['simulate-firmware'] !== true)
        throw new CliError(
          'ERR_CLI_USAGE',
          '--secure-boot needs --simulate-firmware (a real host reads it from the firmware)',
        )
      // flags are checked before booting: a bad value is a usage error (exit 2), never the
      // boot refusal (exit 3) that a real security violation gives
      const secureBoot = onOff('secure-boot', values['secure-boot'], true)
      const execInstalledOnly = onOff('exec-installed-only', values['exec-installed-only'], true)
      let agent: HostAgent
      const stopped = untilStopped() // handlers first: a signal during boot still stops it
      try {
        agent = await HostAgent.boot({
          dataDir,
          recoveryKeyFile:
            typeof values['encryption-recovery-key-file'] === 'string'
              ? values['encryption-recovery-key-file']
              : undefined,
          simulateFirmware: values['simulate-firmware'] === true ? { secureBoot } : undefined,
          execInstalledOnly,
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
      logger.info({ socket: join(dataDir, SOCKET_FILE) }, 'agent ready')
      await stopped
      server.close()
      await agent.close()
      logger.info('agent stopped')
      logger.flush()
      return 0
    },
  }),
  defineCommand({
    path: ['host', 'settings', 'encryption', 'get'],
    summary: 'show the configuration encryption mode and sealing policy',
    options: dataDirOption,
    help: dataDirHelp,
    async run({ values, out }) {
      const s = await agentClient(dataDirOf(values)).call('settings.encryption.get')
      out.data(s, () => settingsText(s))
      return 0
    },
  }),
  defineCommand({
    path: ['host', 'settings', 'encryption', 'set'],
    summary: 'set --mode=TPM (irreversible) and the TPM sealing policy',
    options: {
      ...dataDirOption,
      mode: { type: 'string' },
      'require-secure-boot': { type: 'string' },
      'require-exec-installed-only': { type: 'string' },
    },
    help: {
      ...dataDirHelp,
      mode: 'TPM or NONE (TPM cannot be undone)',
      'require-secure-boot': 'T|true|F|false: seal to the secure-boot state',
      'require-exec-installed-only': 'T|true|F|false: seal to exec-installed-only enforcement',
    },
    async run({ values, out }) {
      const params: AdminParams<'settings.encryption.set'> = {}
      if (values.mode !== undefined) {
        const m = String(values.mode).toUpperCase()
        if (m !== 'TPM' && m !== 'NONE')
          throw new CliError('ERR_CLI_USAGE', '--mode takes TPM or NONE', { option: 'mode' })
        params.mode = m
      }
      const sb = parseBool('require-secure-boot', values['require-secure-boot'])
      const ex = parseBool('require-exec-installed-only', values['require-exec-installed-only'])
      if (sb !== undefined) params.requireSecureBoot = sb
      if (ex !== undefined) params.requireExecInstalledOnly = ex
      const s = await agentClient(dataDirOf(values)).call('settings.encryption.set', params)
      out.data(s, () => settingsText(s))
      return 0
    },
  }),
  defineCommand({
    path: ['host', 'settings', 'encryption', 'recovery', 'list'],
    summary: 'show the recovery key (store it off-host)',
    options: dataDirOption,
    help: dataDirHelp,
    async run({ values, out }) {
      const r = await agentClient(dataDirOf(values)).call('settings.encryption.recovery.list')
      out.data([{ recoveryId: r.id, key: r.key }], () => recoveryText(r))
      return 0
    },
  }),
  defineCommand({
    path: ['host', 'settings', 'encryption', 'recovery', 'rotate'],
    summary: 'replace the recovery key (the old one stops working)',
    options: dataDirOption,
    help: dataDirHelp,
    async run({ values, out }) {
      const r = await agentClient(dataDirOf(values)).call('settings.encryption.recovery.rotate')
      out.data([{ recoveryId: r.id, key: r.key }], () => recoveryText(r))
      return 0
    },
  }),
  defineCommand({
    path: ['host', 'security', 'keypersistence', 'get'],
    summary: 'show whether cached keys persist across reboots (under the TPM)',
    options: dataDirOption,
    help: dataDirHelp,
    async run({ values, out }) {
      const r = await agentClient(dataDirOf(values)).call('security.keypersistence.get')
      out.data(r, () =>
        r.storeError === undefined
          ? `   Enabled: ${r.enabled}`
          : `   Enabled: ${r.enabled}\n   Store Error: ${r.storeError} (the stored keys were not restored; see docs/errors/host.md)`,
      )
      return 0
    },
  }),
  defineCommand({
    path: ['host', 'security', 'keypersistence', 'enable'],
    summary: 'persist cached keys under the TPM (needs encryption mode TPM)',
    options: dataDirOption,
    help: dataDirHelp,
    async run({ values, out }) {
      const r = await agentClient(dataDirOf(values)).call('security.keypersistence.enable')
      out.data(r, () => 'Key persistence enabled.')
      return 0
    },
  }),
  defineCommand({
    path: ['host', 'security', 'keypersistence', 'disable'],
    summary: 'stop persisting keys; --remove-all-stored-keys also destroys every stored key',
    options: { ...dataDirOption, 'remove-all-stored-keys': { type: 'boolean' } },
    help: { ...dataDirHelp, 'remove-all-stored-keys': 'securely delete the key store and its key' },
    async run({ values, out }) {
      const removeAllStoredKeys = values['remove-all-stored-keys'] === true
      const r = await agentClient(dataDirOf(values)).call('security.keypersistence.disable', {
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
