import { Secret } from '@ward/core'
import {
  NV_COUNTER_ATTRIBUTES,
  SRK_ECC_TEMPLATE,
  TPMA_NV,
  TPM_RC,
  createPrimary,
  extendPcr,
  flush,
  nvDefineCounter,
  nvIncrement,
  nvReadCounter,
  nvReadPublic,
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

/**
 * The NV indices Ward defines, in the owner range of the TCG handle registry (0x01800000 to
 * 0x01BFFFFF), both monotonic counters (TPM_NT_COUNTER, owner read/write, no DA lockout):
 * `config` numbers the generations of the secure configuration (the sealed archive key unseals
 * only while it equals the generation it was sealed for); `journal` anchors the key-store
 * journal's removals, and its presence marks a TPM whose host switched to mode TPM. One Ward host
 * per TPM.
 */
export const WARD_NV = { config: 0x01805741, journal: 0x01805742 } as const

/** What one of Ward's counters holds. */
export type CounterState =
  | { readonly kind: 'absent' }
  /** defined, never incremented (a crash right after the definition) */
  | { readonly kind: 'unwritten' }
  | { readonly kind: 'value'; readonly value: bigint; readonly name: Uint8Array }

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
  /** PolicyNV: the key unseals only while this counter holds `value` */
  readonly counter: { readonly index: number; readonly value: bigint }
}

function u64(v: bigint): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(v)
  return b
}

/** True for a TPM error response (policy check failed, object from another TPM, ...). */
export function isTpmRefusal(e: unknown): e is TpmResponseError {
  return e instanceof TpmResponseError
}

/**
 * The host's TPM as the agent uses it, over @ward/tpm2: reboot, PCRs, seal/unseal under PolicyPCR
 * and PolicyNV (salted sessions with parameter encryption: the archive key never crosses the bus
 * in clear), and Ward's two NV counters (`WARD_NV`). Every transient object is flushed by
 * @ward/tpm2; the counters are the only thing Ward keeps in the TPM.
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

  /**
   * Seal `secret` under PolicyPCR(`pcrs` at the values behind `pcrDigest`) then PolicyNV(counter
   * `index` == `value`). Returns the blob and the Name of the storage key it was created under.
   */
  async seal(
    secret: Secret,
    pcrs: readonly number[],
    pcrDigest: Uint8Array,
    counter: { index: number; name: Uint8Array; value: bigint },
  ): Promise<{ sealed: SealedKey; srkName: Buffer }> {
    const blob = await secret.use((s) =>
      seal(this.#tpm, s, {
        pcrs,
        pcrDigest,
        nv: { index: counter.index, name: counter.name, operandB: u64(counter.value) },
      }),
    )
    return {
      sealed: {
        publicBytes: blob.publicBytes,
        privateBytes: blob.privateBytes,
        pcrs: blob.pcrs,
        policyDigest: blob.policyDigest,
        counter: { index: counter.index, value: counter.value },
      },
      srkName: Buffer.from(blob.parentName!),
    }
  }

  /** Unseal; a TPM refusal throws a TpmResponseError (see `isTpmRefusal`). */
  async unseal(key: SealedKey): Promise<Secret> {
    const blob: SealedBlob = {
      publicBytes: key.publicBytes,
      privateBytes: key.privateBytes,
      pcrs: key.pcrs,
      policyDigest: key.policyDigest,
      bank: 'sha256',
      // the Name is not needed to run PolicyNV (the TPM computes it), only to predict digests
      nv: { index: key.counter.index, name: new Uint8Array(0), operandB: u64(key.counter.value) },
    }
    return Secret.take(await unseal(this.#tpm, blob))
  }

  /** Name of the storage key (SRK) of this TPM's owner hierarchy: it identifies the TPM and its owner seed. */
  async srkName(): Promise<Buffer> {
    const srk = await createPrimary(this.#tpm, SRK_ECC_TEMPLATE)
    await flush(this.#tpm, srk.handle)
    return Buffer.from(srk.name)
  }

  /**
   * Read one of Ward's counters. An index at that handle with other attributes is not Ward's
   * (ERR_HOST_TPM_COUNTER): it is never used, whatever it holds.
   */
  async counter(index: number): Promise<CounterState> {
    let pub: Awaited<ReturnType<typeof nvReadPublic>>
    try {
      pub = await nvReadPublic(this.#tpm, index)
    } catch (e) {
      if (e instanceof TpmResponseError && e.base === TPM_RC.HANDLE) return { kind: 'absent' }
      throw e
    }
    const attrs = pub.public.attributes >>> 0
    if (
      (attrs & ~TPMA_NV.WRITTEN) >>> 0 !== NV_COUNTER_ATTRIBUTES >>> 0 ||
      pub.public.dataSize !== 8 ||
      pub.public.authPolicy.length !== 0
    )
      throw new HostError(
        'ERR_HOST_TPM_COUNTER',
        `NV index 0x${index.toString(16).padStart(8, '0')} exists in the TPM but is not a Ward counter (attributes 0x${attrs.toString(16)}): another application uses it; Ward needs this index for its anti-rollback counter (see docs/host.md)`,
        { index },
      )
    if ((attrs & TPMA_NV.WRITTEN) === 0) return { kind: 'unwritten' }
    return { kind: 'value', value: await nvReadCounter(this.#tpm, index), name: pub.name }
  }

  /** The counter's value, defining and first incrementing it when needed. */
  async ensureCounter(index: number): Promise<{ value: bigint; name: Uint8Array }> {
    let c = await this.counter(index)
    if (c.kind === 'absent') {
      await nvDefineCounter(this.#tpm, index)
      c = { kind: 'unwritten' }
    }
    if (c.kind === 'unwritten') {
      // The first increment sets TPMA_NV_WRITTEN and starts the counter above every value any
      // counter of this TPM ever had (so a deleted and re-created counter never goes back).
      await nvIncrement(this.#tpm, index)
      c = await this.counter(index)
    }
    if (c.kind !== 'value') throw new HostError('ERR_HOST_TPM_COUNTER', 'the counter did not start')
    return { value: c.value, name: c.name }
  }

  /** TPM2_NV_Increment, then read the new value back. */
  async increment(index: number): Promise<bigint> {
    await nvIncrement(this.#tpm, index)
    return nvReadCounter(this.#tpm, index)
  }

  /** Release the connection (swtpm serves one client at a time). */
  close(): Promise<void> {
    return this.#tpm.transport.close()
  }
}
