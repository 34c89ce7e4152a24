/**
 * What the center derives from its master key (DATA_DIR/master.key, 32 bytes, 0600), after
 * `ward kms`'s barrier and Vault's audit HMAC:
 * - `seal`/`open`: key material kept in the database (NKP key-derivation keys, client private
 *   keys) as AES-256-GCM under a key derived from the master key, with the row's identity as AAD,
 *   so the database alone reveals no key and a blob moved to another row fails to open.
 *   Sealed form: version(1) ‖ nonce(12) ‖ ct ‖ tag(16).
 * - `hmac`: HMAC-SHA256 under a second derived key, per installation, for secrets that must be
 *   found again (session ids, API tokens, join tokens) or correlated in the audit log without
 *   being kept in clear.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto'
import { Secret } from '@ward/core'
import { CenterError } from '../errors.js'

const VERSION = 1

export class Sealer {
  readonly #sealKey: Secret
  readonly #hmacKey: Secret

  constructor(masterKey: Secret) {
    const derive = (info: string): Secret =>
      masterKey.use((mk) => new Secret(new Uint8Array(hkdfSync('sha256', mk, '', info, 32))))
    this.#sealKey = derive('ward-center/v1/seal')
    this.#hmacKey = derive('ward-center/v1/hmac')
  }

  /** Seal `plaintext` for the row named `aad` (e.g. `key_providers/<id>`). */
  seal(aad: string, plaintext: Uint8Array): Buffer {
    return this.#sealKey.use((key) => {
      const nonce = randomBytes(12)
      const c = createCipheriv('aes-256-gcm', key, nonce)
      c.setAAD(Buffer.from(`ward-center/v1/${aad}`))
      const ct = Buffer.concat([c.update(plaintext), c.final()])
      return Buffer.concat([Buffer.from([VERSION]), nonce, ct, c.getAuthTag()])
    })
  }

  /** Open what {@link seal} gave for the same `aad`, as a Secret. */
  open(aad: string, sealed: Uint8Array): Secret {
    if (sealed.length < 29 || sealed[0] !== VERSION)
      throw new CenterError('ERR_CENTER_SEALED', `sealed material of ${aad} is malformed`)
    return this.#sealKey.use((key) => {
      const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(1, 13))
      d.setAAD(Buffer.from(`ward-center/v1/${aad}`))
      d.setAuthTag(sealed.subarray(sealed.length - 16))
      try {
        return new Secret(
          new Uint8Array(
            Buffer.concat([d.update(sealed.subarray(13, sealed.length - 16)), d.final()]),
          ),
        )
      } catch (e) {
        throw new CenterError(
          'ERR_CENTER_SEALED',
          `sealed material of ${aad} failed authentication (wrong master.key, or the database was tampered with)`,
          {},
          { cause: e },
        )
      }
    })
  }

  /** hex HMAC-SHA256 of `value` in domain `kind` (session, token, join, audit). */
  hmac(kind: string, value: string): string {
    return this.#hmacKey.use((key) =>
      createHmac('sha256', key).update(`${kind}\0`).update(value).digest('hex'),
    )
  }

  dispose(): void {
    this.#sealKey.dispose()
    this.#hmacKey.dispose()
  }
}
