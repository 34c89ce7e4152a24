import { defineCommand, type Command } from '../command.js'
import { CliError } from '../errors.js'
import { text } from '../flags.js'
import { api, sessionFlag } from './center.js'

/*
 * The center's host and cluster encryption mode and its HA state (issue 13): `ward host
 * encryption enable|status`, `ward cluster encryption set`, `ward center ha status`, each a call
 * of one route (host.encryptionMode, host.get, cluster.cryptoMode, ha.status).
 */

/** The crypto modes of a cluster (vSphere's ClusterCryptoConfigInfo.cryptoMode). */
const CRYPTO_MODES = ['onDemand', 'forceEnable'] as const

function one(positionals: readonly string[], what: string): string {
  if (positionals.length !== 1 || positionals[0] === '')
    throw new CliError('ERR_CLI_USAGE', `expected ${what} (got ${positionals.length} arguments)`)
  return positionals[0]!
}

/** A host key reference: both flags or neither. */
function keyRef(v: {
  'provider-id'?: string | undefined
  'key-id'?: string | undefined
}): { provider_id: string; key_id: string } | undefined {
  const p = v['provider-id']
  const k = v['key-id']
  if (p === undefined && k === undefined) return undefined
  if (p === undefined || k === undefined)
    throw new CliError('ERR_CLI_USAGE', 'give --provider-id and --key-id together')
  return { provider_id: p, key_id: k }
}

const keyFlags = {
  'provider-id': text('the key provider of the host key', { value: 'ID' }),
  'key-id': text('the host key (a KEK id of that provider)', { value: 'ID' }),
} as const

export const centerEncryptionCommands: readonly Command[] = [
  defineCommand({
    path: ['host', 'encryption', 'enable'],
    summary:
      'Enable host encryption mode: the host key delivered, then prepare and enable (crypto state safe; Cryptographer.RegisterHost)',
    args: 'HOST',
    example: 'ward host encryption enable host-3 --provider-id kp1 --key-id kek-host-3',
    flags: {
      'provider-id': text('the key provider of the host key', { value: 'ID', required: true }),
      'key-id': text('the host key (a KEK id of that provider)', { value: 'ID', required: true }),
      ...sessionFlag,
    },
    async run({ values: v, positionals, out }) {
      const r = await api(v['session-file'], 'host.encryptionMode', {
        params: { host: one(positionals, 'HOST') },
        body: { provider_id: v['provider-id'], key_id: v['key-id'] },
      })
      out.data(r, () =>
        r.pending
          ? `host ${r.host}: encryption mode wanted (the host is not reachable now; the leader applies it when it answers); crypto state ${r.crypto_state}`
          : `host ${r.host}: crypto state ${r.crypto_state}, host key ${r.host_key.key_id} of ${r.host_key.provider_id}`,
      )
      return 0
    },
  }),
  defineCommand({
    path: ['host', 'encryption', 'status'],
    summary:
      'A host crypto state (incapable | prepared | safe | pendingIncapable), TPM, secure configuration mode, key persistence, recovery key backup',
    args: 'HOST',
    example: 'ward host encryption status host-3 --json',
    flags: sessionFlag,
    async run({ values: v, positionals, out }) {
      const h = await api(v['session-file'], 'host.get', {
        params: { host: one(positionals, 'HOST') },
      })
      const r = {
        host: h.host,
        name: h.name,
        crypto_state: h.crypto_state,
        connection_state: h.connection_state,
        tpm_present: h.tpm_present,
        secure_config_mode: h.secure_config_mode,
        key_persistence: h.key_persistence,
        recovery_key_backed_up: h.recovery_key_backed_up,
        last_seen: h.last_seen,
      }
      out.data(r, () =>
        [
          `Host:                   ${r.host} (${r.name})`,
          `Crypto State:           ${r.crypto_state}`,
          `Connection:             ${r.connection_state}`,
          `TPM:                    ${r.tpm_present ? 'yes' : 'no'}`,
          `Secure Config Mode:     ${r.secure_config_mode}`,
          `Key Persistence:        ${r.key_persistence ? 'on' : 'off'}`,
          `Recovery Key Backed Up: ${r.recovery_key_backed_up ? 'yes' : 'no'}`,
          `Last Seen:              ${r.last_seen ?? '-'}`,
        ].join('\n'),
      )
      return 0
    },
  }),
  defineCommand({
    path: ['cluster', 'encryption', 'set'],
    summary: `Set a cluster encryption mode (${CRYPTO_MODES.join(' | ')}) and its host key policy (Host.Inventory.EditCluster, Cryptographer.RegisterHost)`,
    args: 'CLUSTER MODE',
    example: 'ward cluster encryption set domain-c2 forceEnable --provider-id kp1 --key-id kek-c2',
    flags: { ...keyFlags, ...sessionFlag },
    async run({ values: v, positionals, out }) {
      if (positionals.length !== 2)
        throw new CliError(
          'ERR_CLI_USAGE',
          `expected CLUSTER MODE (got ${positionals.length} arguments)`,
        )
      const [cluster, mode] = positionals as [string, string]
      if (!(CRYPTO_MODES as readonly string[]).includes(mode))
        throw new CliError(
          'ERR_CLI_USAGE',
          `MODE is one of ${CRYPTO_MODES.join(', ')} (got ${mode.slice(0, 32)})`,
        )
      const policy = keyRef(v)
      const c = await api(v['session-file'], 'cluster.cryptoMode', {
        params: { cluster },
        body: {
          crypto_mode: mode as (typeof CRYPTO_MODES)[number],
          ...(policy !== undefined ? { policy } : {}),
        },
      })
      out.data(c, () => `cluster ${c.name} (${c.cluster}): crypto mode ${c.crypto_mode}`)
      return 0
    },
  }),
  defineCommand({
    path: ['center', 'ha', 'status'],
    summary:
      'Which center process leads (runs tasks, host polling, alarm checks) and which one answered',
    example: 'ward center ha status --json',
    flags: sessionFlag,
    async run({ values: v, out }) {
      const s = await api(v['session-file'], 'ha.status', {})
      out.data(s, () =>
        [
          `Mode:       ${s.mode}`,
          `This Node:  ${s.node}${s.is_leader ? ' (leader)' : ''}`,
          `Leader:     ${s.leader ?? '-'}${s.leader_url ? ` at ${s.leader_url}` : ''}`,
          `Epoch:      ${s.epoch}`,
          `Expires:    ${s.expires ?? '-'}`,
        ].join('\n'),
      )
      return 0
    },
  }),
]
