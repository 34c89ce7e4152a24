import { Secret } from '@ward/core'
import { HostError } from '../errors.js'
import { DeviceTransport, SwtpmTransport } from './transport.js'
import {
  TpmClient,
  TpmRcError,
  RC_INITIALIZE,
  policyPcrDigest,
  type SealedObject,
} from './tpm-client.js'

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

/** swtpm control-channel CMD_INIT (tpm_ioctl.h): _TPM_Init, i.e. power on after a reset. */
const CMD_INIT = 0x02

/** The host's TPM, as the agent uses it: reboot, PCRs, seal/unseal under PolicyPCR. */
export class HostTpm {
  readonly spec: TpmSpec
  readonly client: TpmClient
  readonly #swtpm: SwtpmTransport | undefined

  constructor(spec: Exclude<TpmSpec, { kind: 'none' }>) {
    this.spec = spec
    if (spec.kind === 'swtpm') {
      this.#swtpm = new SwtpmTransport(spec.host, spec.port)
      this.client = new TpmClient(this.#swtpm)
    } else {
      this.#swtpm = undefined
      this.client = new TpmClient(new DeviceTransport(spec.path))
    }
  }

  /** TPM commands sent so far. */
  get commands(): number {
    return this.client.commands
  }

  /**
   * A host reboot as the TPM sees it. swtpm: TPM2_Shutdown, CMD_INIT, TPM2_Startup(CLEAR), so PCRs
   * reset. A real TPM was reset by the platform: only make sure it is started.
   */
  async reboot(): Promise<void> {
    if (this.#swtpm) {
      await this.client.shutdown().catch(() => undefined)
      const rc = await this.#swtpm.control(CMD_INIT, Buffer.alloc(4))
      if (rc !== 0)
        throw new HostError('ERR_HOST_TPM_RC', `swtpm CMD_INIT failed (0x${rc.toString(16)})`)
      await this.client.startup()
      return
    }
    await this.client.startup().catch((e: unknown) => {
      // TPM_RC_INITIALIZE: already started by the firmware, as expected on a real host.
      if (!(e instanceof TpmRcError && e.base === RC_INITIALIZE)) throw e
    })
  }

  pcrRead(pcrs: readonly number[]): Promise<Map<number, Buffer>> {
    return this.client.pcrRead(pcrs)
  }

  pcrExtend(pcr: number, digest: Uint8Array): Promise<void> {
    return this.client.pcrExtend(pcr, digest)
  }

  /** Seal `secret` under PolicyPCR(`pcrs` at `values`); returns the blob and the policy digest. */
  async seal(
    secret: Secret,
    pcrs: readonly number[],
    values: ReadonlyMap<number, Uint8Array>,
  ): Promise<{ sealed: SealedObject; policyDigest: Buffer }> {
    const policyDigest = policyPcrDigest(pcrs, values)
    const parent = await this.client.createPrimary()
    try {
      const sealed = await secret.use((s) => this.client.createSealed(parent, s, policyDigest))
      return { sealed, policyDigest }
    } finally {
      await this.client.flush(parent)
    }
  }

  /**
   * Unseal under a fresh policy session. Throws ERR_HOST_TPM_RC when the TPM refuses (PCRs differ,
   * another TPM, a modified blob); transient objects are always flushed.
   */
  async unseal(sealed: SealedObject, pcrs: readonly number[]): Promise<Secret> {
    const parent = await this.client.createPrimary()
    let item: number
    try {
      item = await this.client.load(parent, sealed)
    } finally {
      await this.client.flush(parent)
    }
    let session: number | undefined
    try {
      session = await this.client.startPolicySession()
      await this.client.policyPcr(session, pcrs)
      const bytes = await this.client.unseal(item, session)
      session = undefined // continueSession was clear: the TPM flushed it
      return Secret.take(bytes)
    } finally {
      if (session !== undefined) await this.client.flush(session).catch(() => undefined)
      await this.client.flush(item)
    }
  }

  /** Release the connection (swtpm serves one client at a time). */
  close(): Promise<void> {
    return this.client.transport.close()
  }
}
