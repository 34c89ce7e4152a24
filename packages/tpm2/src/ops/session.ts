/** Starting sessions and running policy commands (Part 3 §11.1, §23). */
import { createHash, randomBytes } from 'node:crypto'
import {
  PolicyGetDigest,
  PolicyNV,
  PolicyPCR,
  PolicySecret,
  ReadPublic,
  StartAuthSession,
} from '../commands/commands.js'
import { TPMA_SESSION, TPM_ALG, TPM_CC, TPM_EO, TPM_RH } from '../constants.js'
import { kdfA } from '../crypto/kdf.js'
import { TpmError } from '../errors.js'
import { encryptSeed } from '../crypto/secret.js'
import type { PublicArea } from '../crypto/public-key.js'
import { encode } from '../marshal/codec.js'
import { PasswordSession, Session, SESSION_TYPE } from '../session/session.js'
import { TPML_PCR_SELECTION } from '../structures/basic.js'
import type { Tpm } from '../tpm.js'
import { flush } from './basic.js'
import { pcrSelection, type Bank } from './pcr.js'

export interface StartSessionOptions {
  readonly type: 'hmac' | 'policy' | 'trial'
  /** salt the session to this loaded RSA/ECC decrypt key (its public area is read from the TPM) */
  readonly saltKey?: number
  /** the salt key's public area when already known (saves a TPM2_ReadPublic) */
  readonly saltPublic?: PublicArea
  /** AES-128-CFB parameter encryption: 'response' (TPM→host, e.g. Unseal), 'command', or 'both' */
  readonly encrypt?: 'response' | 'command' | 'both'
}

/**
 * TPM2_StartAuthSession (unbound, SHA-256). With `saltKey`, the salt is encrypted to that key and
 * the session key is KDFa(SHA256, salt, "ATH", nonceTPM, nonceCaller, 256) (Part 1 §19.6.8).
 * The caller must flush the session (`flush(tpm, s.handle)`), or use `withSession`.
 */
export async function startSession(tpm: Tpm, o: StartSessionOptions): Promise<Session> {
  const nonceCaller = randomBytes(32)
  let salt: Buffer | undefined
  let encryptedSalt: Uint8Array = new Uint8Array(0)
  if (o.saltKey !== undefined) {
    const pub =
      o.saltPublic ?? (await tpm.run(ReadPublic, { objectHandle: o.saltKey })).outPublic.value
    const s = encryptSeed(pub, 'SECRET')
    salt = s.seed
    encryptedSalt = s.encrypted
  }
  const aes = o.encrypt !== undefined
  const r = await tpm.run(StartAuthSession, {
    tpmKey: o.saltKey ?? TPM_RH.NULL,
    bind: TPM_RH.NULL,
    nonceCaller,
    encryptedSalt,
    sessionType: SESSION_TYPE[o.type],
    symmetric: aes
      ? { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB }
      : { algorithm: TPM_ALG.NULL, keyBits: {}, mode: {} },
    authHash: TPM_ALG.SHA256,
  })
  const sessionKey = salt
    ? kdfA('sha256', salt, 'ATH', r.nonceTPM, nonceCaller, 256)
    : Buffer.alloc(0)
  salt?.fill(0)
  let attributes = 0
  if (o.encrypt === 'response' || o.encrypt === 'both') attributes |= TPMA_SESSION.encrypt
  if (o.encrypt === 'command' || o.encrypt === 'both') attributes |= TPMA_SESSION.decrypt
  return new Session({
    handle: r.sessionHandle,
    type: o.type,
    hash: 'sha256',
    digestSize: 32,
    sessionKey,
    nonceTPM: r.nonceTPM,
    aes128cfb: aes,
    attributes,
  })
}

/** Start a session, run `fn`, and always flush it. */
export async function withSession<T>(
  tpm: Tpm,
  o: StartSessionOptions,
  fn: (s: Session) => Promise<T>,
): Promise<T> {
  return tpm.lock(async () => {
    const s = await startSession(tpm, o)
    try {
      return await fn(s)
    } finally {
      await flush(tpm, s.handle).catch(() => undefined)
      s.dispose()
    }
  })
}

/** TPM2_PolicyPCR with the current PCR values (empty pcrDigest) or an expected digest. */
export async function policyPcr(
  tpm: Tpm,
  session: Session,
  pcrs: readonly number[],
  bank: Bank = 'sha256',
  pcrDigest: Uint8Array = new Uint8Array(0),
): Promise<void> {
  await tpm.run(PolicyPCR, {
    policySession: session.handle,
    pcrDigest,
    pcrs: [pcrSelection(pcrs, bank)],
  })
}

/** TPM2_PolicySecret(authHandle) with a password for that entity (e.g. endorsement, empty). */
export async function policySecret(tpm: Tpm, session: Session, authHandle: number): Promise<void> {
  await tpm.run(PolicySecret, {
    authHandle,
    policySession: session.handle,
    nonceTPM: new Uint8Array(0),
    cpHashA: new Uint8Array(0),
    policyRef: new Uint8Array(0),
    expiration: 0,
  })
}

/** What a PolicyNV assertion compares: `operandB` against the index's data at `offset`. */
export interface NvCondition {
  readonly index: number
  /** the index's Name (`nvReadPublic(...).name`; it changes when TPMA_NV_WRITTEN is first set) */
  readonly name: Uint8Array
  readonly operandB: Uint8Array
  readonly offset?: number
  /** a TPM_EO value (default EQ) */
  readonly operation?: number
}

/**
 * TPM2_PolicyNV: the TPM compares the index's data with `operandB`. The read is authorized with
 * owner authorization (empty password unless `ownerAuth`), so the index needs TPMA_NV_OWNERREAD.
 */
export async function policyNv(
  tpm: Tpm,
  session: Session,
  c: NvCondition,
  o: { ownerAuth?: Uint8Array } = {},
): Promise<void> {
  await tpm.run(
    PolicyNV,
    {
      authHandle: TPM_RH.OWNER,
      nvIndex: c.index,
      policySession: session.handle,
      operandB: c.operandB,
      offset: c.offset ?? 0,
      operation: c.operation ?? TPM_EO.EQ,
    },
    { sessions: [new PasswordSession(o.ownerAuth)] },
  )
}

/** TPM2_PolicyGetDigest. */
export async function policyGetDigest(tpm: Tpm, session: Session): Promise<Uint8Array> {
  return (await tpm.run(PolicyGetDigest, { policySession: session.handle })).policyDigest
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n >>> 0)
  return b
}

/**
 * Offline PolicyPCR digest (Part 3 §23.7): H(old || TPM_CC_PolicyPCR || TPML_PCR_SELECTION ||
 * H(values of the selected PCRs, ascending)). Equals `tpm2_createpolicy --policy-pcr`.
 */
export function policyPcrDigest(
  pcrs: readonly number[],
  values: ReadonlyMap<number, Uint8Array> | readonly Uint8Array[],
  bank: Bank = 'sha256',
  previous: Uint8Array = new Uint8Array(32),
): Uint8Array {
  const sorted = [...new Set(pcrs)].sort((a, b) => a - b)
  const vals =
    values instanceof Map
      ? sorted.map((p) => values.get(p))
      : [...(values as readonly Uint8Array[])]
  if (vals.length !== sorted.length || vals.some((v) => v === undefined))
    throw new TpmError('ERR_TPM_ARG', 'policyPcrDigest needs one value per selected PCR')
  const h = createHash(bank)
  for (const v of vals) h.update(v!)
  const pcrDigest = h.digest()
  const sel = encode(TPML_PCR_SELECTION, [pcrSelection(sorted, bank)])
  return createHash('sha256')
    .update(previous)
    .update(u32(TPM_CC.PolicyPCR))
    .update(sel)
    .update(pcrDigest)
    .digest()
}

/** Offline PolicySecret digest (Part 3 §23.4): H(H(old || CC || authName) || policyRef). */
export function policySecretDigest(
  authName: Uint8Array,
  policyRef: Uint8Array = new Uint8Array(0),
  previous: Uint8Array = new Uint8Array(32),
): Uint8Array {
  const a = createHash('sha256')
    .update(previous)
    .update(u32(TPM_CC.PolicySecret))
    .update(authName)
    .digest()
  return createHash('sha256').update(a).update(policyRef).digest()
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}

/**
 * Offline PolicyNV digest (Part 3 §23.9): H(old || TPM_CC_PolicyNV || args || nvIndex Name) with
 * args = H(operandB || offset || operation).
 */
export function policyNvDigest(
  c: NvCondition,
  previous: Uint8Array = new Uint8Array(32),
): Uint8Array {
  const args = createHash('sha256')
    .update(c.operandB)
    .update(u16(c.offset ?? 0))
    .update(u16(c.operation ?? TPM_EO.EQ))
    .digest()
  return createHash('sha256')
    .update(previous)
    .update(u32(TPM_CC.PolicyNV))
    .update(args)
    .update(c.name)
    .digest()
}
