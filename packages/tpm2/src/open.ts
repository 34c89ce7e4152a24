/** Open a TPM from the address forms Ward's CLI takes. */
import { TpmError } from './errors.js'
import { Tpm } from './tpm.js'
import { DeviceTransport } from './transports/device.js'
import { SwtpmControl, SwtpmTransport, parseSwtpmSpec } from './transports/swtpm.js'

/**
 * `swtpm:HOST:PORT` → swtpm data port (control = PORT + 1, returned as `control`);
 * a path such as `/dev/tpmrm0` → the Linux device.
 */
export function openTpm(
  spec: string,
  o: { timeoutMs?: number } = {},
): { tpm: Tpm; control: SwtpmControl | undefined } {
  if (spec.startsWith('swtpm:')) {
    const a = parseSwtpmSpec(spec)
    return {
      tpm: new Tpm(new SwtpmTransport(a, o)),
      control: new SwtpmControl(a.host, a.ctrlPort, o),
    }
  }
  if (spec.startsWith('/dev/'))
    return { tpm: new Tpm(new DeviceTransport(spec, o)), control: undefined }
  throw new TpmError(
    'ERR_TPM_ARG',
    `unknown TPM address "${spec}"; use swtpm:HOST:PORT or /dev/tpmrm0`,
  )
}
