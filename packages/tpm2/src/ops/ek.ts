/** EK certificates from NV (TCG EK Credential Profile 2.0 §2.2.1.5: low and high index ranges). */
import { TPM_RC } from '../constants.js'
import { TpmError, TpmResponseError } from '../errors.js'
import type { Tpm } from '../tpm.js'
import { nvRead } from './nv.js'

/** NV indices holding EK certificates, by key type (RSA 2048; ECC P-256, then P-384 (H-3)). */
export const EK_CERT_INDEX = {
  rsa: [0x01c00002, 0x01c00012],
  ecc: [0x01c0000a, 0x01c00016, 0x01c00014],
} as const

/**
 * Read the EK certificate (DER) of `kind`, owner-authorized, in chunks. Trailing NV padding after
 * the DER SEQUENCE is dropped. ERR_TPM_NO_EK_CERT if no index holds one.
 */
export async function readEkCertificate(
  tpm: Tpm,
  kind: 'rsa' | 'ecc' = 'rsa',
  o: { ownerAuth?: Uint8Array } = {},
): Promise<{ index: number; der: Uint8Array }> {
  for (const index of EK_CERT_INDEX[kind]) {
    let data: Uint8Array
    try {
      data = await nvRead(tpm, index, o.ownerAuth ? { auth: o.ownerAuth } : {})
    } catch (e) {
      if (e instanceof TpmResponseError && e.base === TPM_RC.HANDLE) continue
      throw e
    }
    return { index, der: trimDer(data) }
  }
  throw new TpmError(
    'ERR_TPM_NO_EK_CERT',
    `no ${kind.toUpperCase()} EK certificate in NV; the TPM was not provisioned with one`,
  )
}

/** Length of a DER SEQUENCE from its header; the NV index may be larger than the certificate. */
function trimDer(d: Uint8Array): Uint8Array {
  if (d.length < 2 || d[0] !== 0x30)
    throw new TpmError('ERR_TPM_DECODE', 'EK certificate is not DER')
  const l = d[1]!
  let len: number
  let hdr: number
  if (l < 0x80) {
    len = l
    hdr = 2
  } else {
    const n = l & 0x7f
    if (n < 1 || n > 3 || d.length < 2 + n)
      throw new TpmError('ERR_TPM_DECODE', 'EK certificate has a bad DER length')
    len = 0
    for (let i = 0; i < n; i++) len = len * 256 + d[2 + i]!
    hdr = 2 + n
  }
  if (hdr + len > d.length) throw new TpmError('ERR_TPM_DECODE', 'EK certificate is truncated')
  return d.subarray(0, hdr + len)
}
