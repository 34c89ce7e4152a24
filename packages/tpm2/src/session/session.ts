/**
 * Authorization sessions: password (TPM_RS_PW), HMAC and policy sessions, optionally salted and
 * with AES-128-CFB parameter encryption (TPM 2.0 Library Part 1 §19.6 HMAC, §21 parameter
 * encryption, §19.6.8 session key). SECURITY: with a salted session the first TPM2B parameter
 * (e.g. Unseal's outData) crosses the bus encrypted under a key only the TPM and we know.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto'
import { TPMA_SESSION, TPM_RH, TPM_SE } from '../constants.js'
import { TpmError } from '../errors.js'
import { kdfA, type HashName } from '../crypto/kdf.js'

/** One entry of a command's authorization area (Part 1 §18.6.2 TPMS_AUTH_COMMAND). */
export interface AuthEntry {
  readonly nonceCaller: Uint8Array
  readonly attributes: number
  readonly hmac: Uint8Array
}

/** What `Tpm.run` needs from a session. */
export interface AuthSession {
  readonly handle: number
  /** true when the command HMAC covers cpHash (so handle names must be resolved) */
  readonly needsCpHash: boolean
  /** entity authValue used in the HMAC key (the object's or hierarchy's auth) */
  authValue: Uint8Array
  /** Roll the caller nonce; called once per command before encryption and HMAC. */
  newNonce(): void
  /** `mask` clears attributes the command cannot honour (decrypt/encrypt without a TPM2B first parameter) */
  commandAuth(cpHash: Uint8Array | undefined, mask: number): AuthEntry
  /** TPMA_SESSION.decrypt: encrypt the first command parameter's buffer. */
  encryptCommand?(data: Uint8Array): Uint8Array
  /** Check the response entry (HMAC) and take the new nonceTPM. */
  responseAuth(rpHash: Uint8Array | undefined, entry: AuthEntry): void
  /** TPMA_SESSION.encrypt: decrypt the first response parameter's buffer. */
  decryptResponse?(data: Uint8Array): Uint8Array
}

/** Password authorization (Part 1 §19.8.4): the authValue travels in the clear as the "HMAC". */
export class PasswordSession implements AuthSession {
  readonly handle = TPM_RH.PW
  readonly needsCpHash = false
  authValue: Uint8Array
  constructor(password: Uint8Array = new Uint8Array(0)) {
    this.authValue = password
  }
  newNonce(): void {}
  commandAuth(): AuthEntry {
    return { nonceCaller: new Uint8Array(0), attributes: 0, hmac: this.authValue }
  }
  responseAuth(): void {}
}

export interface SessionState {
  handle: number
  type: 'hmac' | 'policy' | 'trial'
  hash: HashName
  digestSize: number
  /** Part 1 §19.6.8: KDFa(authHash, bindAuth || salt, "ATH", nonceTPM, nonceCaller); empty if unsalted and unbound */
  sessionKey: Buffer
  nonceTPM: Uint8Array
  /** encrypt parameters with AES-128-CFB (TPMT_SYM_DEF in StartAuthSession) */
  aes128cfb: boolean
  /** TPMA_SESSION flags to request on each use (continueSession is always set) */
  attributes: number
}

/** An HMAC or policy session started with `startAuthSession`. Flush it when done. */
export class Session implements AuthSession {
  readonly handle: number
  readonly type: 'hmac' | 'policy' | 'trial'
  readonly #hash: HashName
  readonly #digestSize: number
  readonly #sessionKey: Buffer
  #nonceTPM: Uint8Array
  #nonceCaller: Uint8Array = new Uint8Array(0)
  readonly #aes: boolean
  attributes: number
  authValue: Uint8Array = new Uint8Array(0)
  constructor(s: SessionState) {
    this.handle = s.handle
    this.type = s.type
    this.#hash = s.hash
    this.#digestSize = s.digestSize
    this.#sessionKey = s.sessionKey
    this.#nonceTPM = s.nonceTPM
    this.#aes = s.aes128cfb
    this.attributes = s.attributes | TPMA_SESSION.continueSession
    if ((this.attributes & (TPMA_SESSION.decrypt | TPMA_SESSION.encrypt)) !== 0 && !this.#aes)
      throw new TpmError(
        'ERR_TPM_ARG',
        'parameter encryption needs a session started with AES-128-CFB',
      )
  }
  /** HMAC sessions, and policy sessions with a session key (salted), carry a command/response HMAC. */
  /** Zero the session key (after the session is flushed). */
  dispose(): void {
    this.#sessionKey.fill(0)
  }
  get needsCpHash(): boolean {
    return this.type === 'hmac' || this.#sessionKey.length > 0
  }
  get nonceTPM(): Uint8Array {
    return this.#nonceTPM
  }
  /** Part 1 §19.6.5: a policy session's HMAC key omits the authValue unless PolicyAuthValue was used (unsupported here). */
  #hmacKey(): Buffer {
    return Buffer.concat([
      this.#sessionKey,
      this.type === 'hmac' ? this.authValue : new Uint8Array(0),
    ])
  }
  newNonce(): void {
    this.#nonceCaller = randomBytes(this.#digestSize)
  }
  commandAuth(cpHash: Uint8Array | undefined, mask = 0xff): AuthEntry {
    const attributes = this.attributes & mask
    let hmac: Uint8Array = new Uint8Array(0)
    if (this.needsCpHash) {
      if (cpHash === undefined) throw new TpmError('ERR_TPM_ARG', 'HMAC session without cpHash')
      hmac = createHmac(this.#hash, this.#hmacKey())
        .update(cpHash)
        .update(this.#nonceCaller)
        .update(this.#nonceTPM)
        .update(Uint8Array.of(attributes))
        .digest()
    }
    return { nonceCaller: this.#nonceCaller, attributes, hmac }
  }
  responseAuth(rpHash: Uint8Array | undefined, entry: AuthEntry): void {
    this.#nonceTPM = entry.nonceCaller
    if (!this.needsCpHash) return
    if (rpHash === undefined) throw new TpmError('ERR_TPM_ARG', 'HMAC session without rpHash')
    const expected = createHmac(this.#hash, this.#hmacKey())
      .update(rpHash)
      .update(this.#nonceTPM)
      .update(this.#nonceCaller)
      .update(Uint8Array.of(entry.attributes))
      .digest()
    if (entry.hmac.length !== expected.length || !timingSafeEqual(entry.hmac, expected))
      throw new TpmError(
        'ERR_TPM_RESPONSE_HMAC',
        'response HMAC does not verify: the response was altered or the session key is wrong',
      )
  }
  /** Part 1 §21.3: KDFa(hash, sessionValue, "CFB", nonceNewer, nonceOlder, 256) → AES-128 key || IV. */
  #cfb(newer: Uint8Array, older: Uint8Array): { key: Buffer; iv: Buffer } {
    const sessionValue = this.#hmacKey()
    const k = kdfA(this.#hash, sessionValue, 'CFB', newer, older, 256)
    return { key: k.subarray(0, 16), iv: k.subarray(16, 32) }
  }
  encryptCommand(data: Uint8Array): Uint8Array {
    const { key, iv } = this.#cfb(this.#nonceCaller, this.#nonceTPM)
    const c = createCipheriv('aes-128-cfb', key, iv)
    return Buffer.concat([c.update(data), c.final()])
  }
  decryptResponse(data: Uint8Array): Uint8Array {
    const { key, iv } = this.#cfb(this.#nonceTPM, this.#nonceCaller)
    const d = createDecipheriv('aes-128-cfb', key, iv)
    return Buffer.concat([d.update(data), d.final()])
  }
}

export const SESSION_TYPE = {
  hmac: TPM_SE.HMAC,
  policy: TPM_SE.POLICY,
  trial: TPM_SE.TRIAL,
} as const
