/** Replays canned responses, for unit tests of the command layer and of bad TPM responses. */
import { TpmError } from '../errors.js'
import type { Transport } from './transport.js'

export type ScriptStep = Uint8Array | Error | ((command: Uint8Array) => Uint8Array)

export class ScriptedTransport implements Transport {
  readonly sent: Uint8Array[] = []
  readonly #steps: ScriptStep[]
  closed = false
  constructor(steps: readonly ScriptStep[]) {
    this.#steps = [...steps]
  }
  async send(command: Uint8Array): Promise<Uint8Array> {
    this.sent.push(Uint8Array.from(command))
    const step = this.#steps.shift()
    if (step === undefined)
      throw new TpmError('ERR_TPM_TRANSPORT', 'scripted transport: no response left')
    if (step instanceof Error) throw step
    return typeof step === 'function' ? step(command) : step
  }
  /** Responses not consumed yet. */
  get pending(): number {
    return this.#steps.length
  }
  async close(): Promise<void> {
    this.closed = true
  }
}
