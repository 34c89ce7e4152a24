import { Secret } from '@ward/core'
import {
  extendPcr,
  openTpm,
  powerCycle,
  readPcrs,
  seal,
  startup,
  unseal,
  TpmResponseError,
  type SealedBlob,
  type SwtpmControl,
  type Tpm,
} from '@ward/tpm2'
import { HostError } from '../errors.js'

/** Where the host's TPM is: `swtpm:HOST:PORT`, a device path, or none. */
export type TpmSpec =
  | { readonly kind: 'swtpm'; readonly host: string; readonly port: number }
  | { readonly kind: 'device'; readonly path: string }
  | { readonly kind: 'none' }

/** Parse `--tpm` (swtpm:HOST:PORT | /dev/tpmrm0 | none). */
export function parseTpmSpec(text: string): TpmSpec {
  if (text === 'none') return { kind: 'none' }
  const m = /^swtpm:([^:]+):(\d{1,5})$/.exec(text)
  if (m) {
    const port = Number(m[2])
    if (port > 0 && port < 65535) return { kind: 'swtpm', host: m[1]!, port }
  }
  if (/^\/dev\/tpm(rm)?\d+$/.test(text)) return { kind: 'device', path: text }
  throw new HostError(
    'ERR_HOST_TPM_SPEC',
    `bad --tpm value '${text}': use swtpm:HOST:PORT, /dev/tpmrm0 or none`,
  )
}

export function formatTpmSpec(spec: TpmSpec): string {
  return spec.kind === 'none'
    ? 'none'
    : spec.kind === 'device'
      ? spec.path
      : `swtpm:${spec.host}:${spec.port}`
}

/** The sealed archive key as kept in encryption.info (public/private areas, PCR list, policy). */
export interface SealedKey {
  readonly publicBytes: Uint8Array
  readonly privateBytes: Uint8Array
  readonly pcrs: readonly number[]
  readonly policyDigest: Uint8Array
}

/** True for a TPM error response (policy check failed, object from another TPM, ...). */
export function isTpmRefusal(e: unknown): e is TpmResponseError {
  return e instanceof TpmResponseError
}

/**
 * The host's TPM as the agent uses it, over @ward/tpm2: reboot, PCRs, and seal/unseal under
 * PolicyPCR (salted sessions with parameter encryption: the archive key never crosses the bus in
 * clear). Every transient object is flushed by @ward/tpm2; nothing persistent is created.
 */
export class HostTpm {
  readonly spec: Exclude<TpmSpec, { kind: 'none' }>
  readonly #tpm: Tpm
  readonly #control: SwtpmControl | undefined

  constructor(spec: Exclude<TpmSpec, { kind: 'none' }>) {
    this.spec = spec
    const { tpm, control } = openTpm(formatTpmSpec(spec))
    this.#tpm = tpm
    this.#control = control
  }

  /** TPM commands sent so far. */
  get commands(): number {
    return this.#tpm.commandCount
  }

  /**
   * A host reboot as the TPM sees it. swtpm: TPM2_Shutdown, CMD_INIT, TPM2_Startup(CLEAR), so PCRs
   * reset. A real TPM was reset by the platform: only make sure it is started.
   */
  async reboot(): Promise<void> {
    if (this.#control) await powerCycle(this.#tpm, this.#control)
    else await startup(this.#tpm)
  }

  /** sha256 PCR values. */
  async pcrRead(pcrs: readonly number[]): Promise<Map<number, Buffer>> {
    const m = await readPcrs(this.#tpm, pcrs)
    return new Map([...m].map(([k, v]) => [k, Buffer.from(v)]))
  }

  async pcrExtend(pcr: number, digest: Uint8Array): Promise<void> {
    await extendPcr(this.#tpm, pcr, { sha256: digest })
  }

  /** Seal `secret` under PolicyPCR(`pcrs` at `values`). */
  async seal(
    secret: Secret,
    pcrs: readonly number[],
    values: ReadonlyMap<number, Uint8Array>,
  ): Promise<SealedKey> {
    const blob = await secret.use((s) => seal(this.#tpm, s, { pcrs, values }))
    return blob
  }

  /** Unseal; a TPM refusal throws a TpmResponseError (see `isTpmRefusal`). */
  async unseal(key: SealedKey): Promise<Secret> {
    const blob: SealedBlob = { ...key, bank: 'sha256' }
    return Secret.take(await unseal(this.#tpm, blob))
  }

  /** Release the connection (swtpm serves one client at a time). */
  close(): Promise<void> {
    return this.#tpm.transport.close()
  }
}
