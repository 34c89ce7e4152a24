/** Power sequencing: TPM2_Startup/Shutdown (Part 3 §9.3-9.4) and the swtpm power-on (CMD_INIT). */
import { Shutdown, Startup } from '../commands/commands.js'
import { TPM_RC, TPM_SU } from '../constants.js'
import { TpmResponseError } from '../errors.js'
import type { Tpm } from '../tpm.js'
import type { SwtpmControl } from '../transports/swtpm.js'

/** TPM2_Startup(CLEAR); an already-started TPM (TPM_RC_INITIALIZE) is not an error. */
export async function startup(tpm: Tpm, type: 'clear' | 'state' = 'clear'): Promise<void> {
  try {
    await tpm.run(Startup, { startupType: type === 'clear' ? TPM_SU.CLEAR : TPM_SU.STATE })
  } catch (e) {
    if (e instanceof TpmResponseError && e.base === TPM_RC.INITIALIZE) return
    throw e
  }
}

/** TPM2_Shutdown(CLEAR): orderly shutdown before a power cycle. */
export async function shutdownTpm(tpm: Tpm, signal?: AbortSignal): Promise<void> {
  await tpm.run(Shutdown, { shutdownType: TPM_SU.CLEAR }, signal ? { signal } : {})
}

/**
 * A host reboot on swtpm: TPM2_Shutdown(CLEAR), CMD_INIT, TPM2_Startup(CLEAR).
 * PCRs reset and resetCount increments; NV, seeds and persistent handles are kept.
 */
export async function powerCycle(tpm: Tpm, control: SwtpmControl): Promise<void> {
  await tpm.lock(async () => {
    await shutdownTpm(tpm).catch(() => undefined) // a TPM in failure mode cannot shut down orderly
    await tpm.transport.close()
    await control.init()
    await startup(tpm, 'clear')
  })
}
