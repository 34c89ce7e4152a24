import { createHash } from 'node:crypto'
import { HashRequest, HashResponse, Operation } from '@ward/kmip'
import { KmsError, notSupported } from '../errors.js'
import { defineOperation } from './types.js'
import { hashName } from './crypto-params.js'
import { checkDataSize } from './key-usage.js'

/**
 * KMIP 1.4 §4.36 / 2.1 §6.1.22 Hash: the digest of Data under the Hashing Algorithm of the
 * (required) Cryptographic Parameters. No managed object is involved, so no grant is needed.
 * Streaming hashes (Init/Final Indicator) are not offered: one request carries up to 1 MiB.
 */
export const hash = defineOperation({
  code: Operation.Hash,
  privilege: 'hash',
  since: [1, 4],
  request: HashRequest,
  response: HashResponse,
  async handle(_ctx, request) {
    if (request.initIndicator === true || request.correlationValue !== undefined)
      throw notSupported('Hash cannot be streamed; send the data in one request (up to 1 MiB)')
    const h = request.cryptographicParameters.hashingAlgorithm
    if (h === undefined)
      throw new KmsError(
        'ERR_KMS_MISSING_DATA',
        'Hash needs Cryptographic Parameters with a Hashing Algorithm',
      )
    const name = hashName[h]
    if (name === undefined)
      throw notSupported(`Hashing Algorithm ${h} is not supported (SHA-1, SHA-2, SHA-3)`)
    const d = createHash(name).update(checkDataSize(request.data)).digest()
    return { payload: { data: d } }
  },
})
