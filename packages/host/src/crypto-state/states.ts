import { HostError } from '../errors.js'

/**
 * Host encryption mode, vSphere's HostCryptoState (vsphere-features.md §7): `incapable` (not
 * safe to receive sensitive material), `prepared` (ready, no host key yet), `safe` (a host key is
 * set: core dumps are encrypted with it), `pendingIncapable` (disabled, reboot pending).
 */
export const HOST_CRYPTO_STATES = ['incapable', 'prepared', 'safe', 'pendingIncapable'] as const
export type HostCryptoState = (typeof HOST_CRYPTO_STATES)[number]

/**
 * The state machine, declared once: each operation, the states it runs from and the state it
 * leaves (`boot`: a host reboot finishes a disable). Checks, refusals and docs/host.md's table
 * follow this.
 */
export const CRYPTO_TRANSITIONS = {
  /** CryptoManagerHostPrepare */
  prepare: { from: ['incapable', 'prepared'], to: 'prepared' },
  /** CryptoManagerHostEnable / ConfigureCryptoKey */
  enable: { from: ['prepared'], to: 'safe' },
  /** ChangeKey_Task */
  changeKey: { from: ['safe'], to: 'safe' },
  /** CryptoManagerHostDisable */
  disable: { from: ['prepared', 'safe'], to: 'pendingIncapable' },
  /** The next boot after a disable. */
  boot: { from: ['pendingIncapable'], to: 'incapable' },
} as const satisfies Record<
  string,
  { readonly from: readonly HostCryptoState[]; readonly to: HostCryptoState }
>
export type CryptoTransition = keyof typeof CRYPTO_TRANSITIONS

/** What the admin types for each transition (in refusals). */
const COMMAND: Record<CryptoTransition, string> = {
  prepare: 'ward host crypto prepare',
  enable: 'ward host crypto enable --provider-id P --key-id K',
  changeKey: 'ward host crypto change-key --provider-id P --key-id K',
  disable: 'ward host crypto disable',
  boot: 'a restart of ward host serve',
}

/** What to do next from each state, when an operation is not allowed there. */
const NEXT: Record<HostCryptoState, string> = {
  incapable: `run ${COMMAND.prepare}, then ${COMMAND.enable}`,
  prepared: `enable host encryption mode: ${COMMAND.enable}`,
  safe: `the host key is set: change it with ${COMMAND.changeKey}, or disable with ${COMMAND.disable}`,
  pendingIncapable:
    'host encryption mode was disabled: the host becomes incapable at its next reboot (restart ward host serve); prepare it again after that',
}

/** The state an operation leaves, or ERR_HOST_CRYPTO_STATE saying what to do instead. */
export function transition(op: CryptoTransition, state: HostCryptoState): HostCryptoState {
  const t = CRYPTO_TRANSITIONS[op]
  if (!(t.from as readonly HostCryptoState[]).includes(state))
    throw new HostError(
      'ERR_HOST_CRYPTO_STATE',
      `crypto ${op} is not allowed in crypto state ${state} (only from ${t.from.join(', ')}); ${NEXT[state]}`,
      { state, op },
    )
  return t.to
}

/** Refuse work that needs a `safe` host (dump-memory), saying how to enable host encryption mode. */
export function requireSafe(state: HostCryptoState, what: string): void {
  if (state !== 'safe')
    throw new HostError(
      'ERR_HOST_CRYPTO_STATE',
      `${what} needs host encryption mode (crypto state safe; this host is ${state}): core dumps of an encryption-safe host are encrypted with its host key. Enable host encryption mode: ${state === 'pendingIncapable' ? NEXT.pendingIncapable : `${state === 'incapable' ? `${COMMAND.prepare}, then ` : ''}${COMMAND.enable}`}`,
      { state },
    )
}
