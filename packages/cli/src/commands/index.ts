import type { Command } from '../command.js'

/**
 * Every command of the `ward` binary, by group; each area keeps its own file. Groups load lazily so
 * that `ward crypto-util disk ...` does not pay for loading the KMS or the host agent.
 */
export const commandGroups: readonly {
  readonly prefix: readonly string[]
  readonly load: () => Promise<readonly Command[]>
}[] = [
  {
    prefix: ['crypto-util', 'disk'],
    load: async () => (await import('./crypto-util-disk.js')).cryptoUtilDiskCommands,
  },
  {
    prefix: ['crypto-util', 'file'],
    load: async () => (await import('./crypto-util-file.js')).cryptoUtilFileCommands,
  },
  {
    prefix: ['crypto-util', 'keys'],
    load: async () => (await import('./crypto-util-keys.js')).cryptoUtilKeysCommands,
  },
  {
    prefix: ['crypto-util', 'coredump'],
    load: async () => (await import('./crypto-util-coredump.js')).cryptoUtilCoredumpCommands,
  },
  {
    prefix: ['crypto-util'],
    load: async () => (await import('./crypto-util.js')).cryptoUtilCommands,
  },
  { prefix: ['host'], load: async () => (await import('./host.js')).hostCommands },
  { prefix: ['host', 'join'], load: async () => (await import('./host-join.js')).hostJoinCommands },
  { prefix: ['host', 'vm'], load: async () => (await import('./host-vm.js')).hostVmCommands },
  // host status, host crypto ..., host vm dump-memory
  {
    prefix: ['host', 'crypto'],
    load: async () => (await import('./host-crypto.js')).hostCryptoCommands,
  },
  {
    prefix: ['host', 'status'],
    load: async () => (await import('./host-crypto.js')).hostCryptoCommands,
  },
  {
    prefix: ['host', 'vm', 'dump-memory'],
    load: async () => (await import('./host-crypto.js')).hostCryptoCommands,
  },
  {
    prefix: ['host', 'datastore'],
    load: async () => (await import('./host-vm.js')).hostVmCommands,
  },
  { prefix: ['kms'], load: async () => (await import('./kms.js')).kmsCommands },
  ...(
    [
      'center',
      'login',
      'logout',
      'role',
      'permission',
      'user',
      'token',
      'datacenter',
      'cluster',
    ] as const
  ).map((w) => ({
    prefix: [w],
    load: async () => (await import('./center.js')).centerCommands.filter((c) => c.path[0] === w),
  })),
  // native key providers (issue 13)
  {
    prefix: ['provider', 'native'],
    load: async () => (await import('./provider-native.js')).providerNativeCommands,
  },
  // providers: ward provider ..., ward key status|gc
  { prefix: ['provider'], load: async () => (await import('./provider.js')).providerCommands },
  { prefix: ['key'], load: async () => (await import('./key.js')).keyCommands },
  // VM encryption tasks (ward vm, ward task)
  { prefix: ['vm'], load: async () => (await import('./vm.js')).vmCommands },
  { prefix: ['task'], load: async () => (await import('./task.js')).taskCommands },
  // events and alarms of the center (ha)
  { prefix: ['event'], load: async () => (await import('./event.js')).eventCommands },
  { prefix: ['alarm'], load: async () => (await import('./alarm.js')).alarmCommands },
  {
    prefix: ['host', 'add'],
    load: async () =>
      (await import('./center.js')).centerCommands.filter((c) => c.path[0] === 'host'),
  },
  {
    prefix: ['host', 'list'],
    load: async () =>
      (await import('./center.js')).centerCommands.filter((c) => c.path[0] === 'host'),
  },
  // host and cluster encryption mode, HA status of the center (issue 13)
  ...(
    [
      ['host', 'encryption'],
      ['cluster', 'encryption'],
      ['center', 'ha'],
    ] as const
  ).map((prefix) => ({
    prefix,
    load: async () => (await import('./center-encryption.js')).centerEncryptionCommands,
  })),
]

/** The commands that may match `words`: only the groups whose prefix agrees with them (all for help). */
export async function loadCommands(words: readonly string[]): Promise<readonly Command[]> {
  const agrees = (prefix: readonly string[]): boolean =>
    prefix.every((w, i) => i >= words.length || words[i] === w)
  const groups = commandGroups.filter((g) => agrees(g.prefix))
  const chosen = groups.length > 0 ? groups : commandGroups
  // two groups may load the same file (host vm, host datastore): each command once
  return [...new Set((await Promise.all(chosen.map((g) => g.load()))).flat())]
}
