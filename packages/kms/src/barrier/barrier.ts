/**
 * The barrier (after Vault's): key material is sealed with AES-256-GCM under the master key
 * before it reaches storage, with the object id as AAD, so storage alone reveals no key and a
 * blob moved to another object id fails to open. Sealed form: version(1) ‖ nonce(12) ‖ ct ‖ tag(16).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import type { RandomSource } from '../crypto/random.js'
import type { Secret } from '@ward/core'
import { KmsError } from '../errors.js'

const VERSION = 1

export class Barrier {
  readonly #key: Secret
  readonly #random: RandomSource

  /** `random` gives the nonces (the server's RandomPool; default node:crypto randomBytes). */
  constructor(masterKey: Secret, random: RandomSource = randomBytes) {
    this.#key = masterKey
    this.#random = random
  }

  seal(objectId: string, plaintext: Uint8Array): Buffer {
    return this.#key.use((key) => {
      const nonce = this.#random(12)
      const c = createCipheriv('aes-256-gcm', key, nonce)
      c.setAAD(Buffer.from(`ward-kms/v1/${objectId}`))
      const ct = Buffer.concat([c.update(plaintext), c.final()])
      return Buffer.concat([Buffer.from([VERSION]), nonce, ct, c.getAuthTag()])
    })
  }

  open(objectId: string, sealed: Uint8Array): Buffer {
    if (sealed.length < 29 || sealed[0] !== VERSION)
      throw new KmsError('ERR_KMS_BARRIER', `sealed material of ${objectId} is malformed`)
    return this.#key.use((key) => {
      const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(1, 13))
      d.setAAD(Buffer.from(`ward-kms/v1/${objectId}`))
      d.setAuthTag(sealed.subarray(sealed.length - 16))
      try {
        return Buffer.concat([d.update(sealed.subarray(13, sealed.length - 16)), d.final()])
      } catch (e) {
        throw new KmsError(
          'ERR_KMS_BARRIER',
          `sealed material of ${objectId} failed authentication (wrong master.key, or the database was tampered with)`,
          { cause: e },
        )
      }
    })
  }

  dispose(): void {
    this.#key.dispose()
  }
}
