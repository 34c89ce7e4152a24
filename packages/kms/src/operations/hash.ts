import { createHash } from 'node:crypto'
import { Operation, bytes, find, opt, s, Tag } from '@ward/kmip'
import { KmsError, notSupported } from '../errors.js'
import { defineOperation } from './types.js'
import { data, hashName } from './crypto-common.js'

/**
 * KMIP 1.4 §4.36 / 2.1 §6.1.22 Hash: the digest of Data under the Hashing Algorithm of the
 * (required) Cryptographic Parameters. No managed object is involved, so no grant is needed.
 * Streaming hashes (Init/Final Indicator) are not offered: one request carries up to 1 MiB.
 */
export const hash = defineOperation({
  code: Operation.Hash,
  privilege: 'hash',
  since: [1, 4],
  async run(_ctx, payload) {
    if (
      opt(payload, Tag.InitIndicator, 'Boolean') === true ||
      find(payload, Tag.CorrelationValue) !== undefined
    )
      throw notSupported('Hash cannot be streamed; send the data in one request (up to 1 MiB)')
    const h = opt(find(payload, Tag.CryptographicParameters), Tag.HashingAlgorithm, 'Enumeration')
    if (h === undefined)
      throw new KmsError(
        'ERR_KMS_MISSING_DATA',
        'Hash needs Cryptographic Parameters with a Hashing Algorithm',
      )
    const name = hashName[h]
    if (name === undefined)
      throw notSupported(`Hashing Algorithm ${h} is not supported (SHA-1, SHA-2, SHA-3)`)
    const d = createHash(name).update(data(payload)).digest()
    return { payload: s(Tag.ResponsePayload, [bytes(Tag.Data, d)]) }
  },
})
