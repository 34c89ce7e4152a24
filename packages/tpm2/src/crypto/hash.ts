/** Mapping between TPM_ALG hash ids and node:crypto names. */
import { TPM_ALG } from '../constants.js'
import { TpmError } from '../errors.js'
import type { HashName } from './kdf.js'

const byAlg: Readonly<Record<number, { name: HashName; size: number }>> = {
  [TPM_ALG.SHA1]: { name: 'sha1', size: 20 },
  [TPM_ALG.SHA256]: { name: 'sha256', size: 32 },
  [TPM_ALG.SHA384]: { name: 'sha384', size: 48 },
  [TPM_ALG.SHA512]: { name: 'sha512', size: 64 },
}

/** node:crypto name and digest size of a TPM_ALG hash; ERR_TPM_ALG for anything else. */
export function hashInfo(alg: number): { name: HashName; size: number } {
  const h = byAlg[alg]
  if (h === undefined)
    throw new TpmError('ERR_TPM_ALG', `unsupported hash algorithm 0x${alg.toString(16)}`)
  return h
}
