/**
 * Credential protection (Part 1 §24): MakeCredential offline with node:crypto, and
 * ActivateCredential on the TPM with the EK authorized by PolicySecret(TPM_RH_ENDORSEMENT).
 */
import { createCipheriv, createHmac } from 'node:crypto'
import { ActivateCredential } from '../commands/commands.js'
import { TPM_RH } from '../constants.js'
import { TpmError } from '../errors.js'
import { hashInfo } from '../crypto/hash.js'
import { kdfA } from '../crypto/kdf.js'
import type { PublicArea } from '../crypto/public-key.js'
import { encryptSeed } from '../crypto/secret.js'
import { PasswordSession } from '../session/session.js'
import type { Tpm } from '../tpm.js'
import { policySecret, withSession } from './session.js'

/**
 * TPM2_MakeCredential in software: protect `credential` (≤ 64 bytes) so that only the TPM holding
 * the EK `ekPublic`, with the object named `objectName` loaded, can recover it.
 * `random` is injectable for vectors.
 */
export function makeCredential(
  ekPublic: PublicArea,
  objectName: Uint8Array,
  credential: Uint8Array,
  random?: (n: number) => Uint8Array,
): { credentialBlob: Uint8Array; secret: Uint8Array } {
  if (credential.length === 0 || credential.length > 64)
    throw new TpmError('ERR_TPM_ARG', 'a credential is 1-64 bytes')
  const h = hashInfo(ekPublic.nameAlg)
  const sym = (ekPublic.parameters as { symmetric: { algorithm: number; keyBits: unknown } })
    .symmetric
  const keyBits = typeof sym.keyBits === 'number' ? sym.keyBits : 0
  if (keyBits !== 128 && keyBits !== 256)
    throw new TpmError('ERR_TPM_ALG', 'the EK has no AES symmetric definition')
  const { seed, encrypted } = encryptSeed(ekPublic, 'IDENTITY', random)
  const symKey = kdfA(h.name, seed, 'STORAGE', objectName, new Uint8Array(0), keyBits)
  const plain = Buffer.alloc(2 + credential.length)
  plain.writeUInt16BE(credential.length)
  plain.set(credential, 2)
  const c = createCipheriv(`aes-${keyBits}-cfb`, symKey, Buffer.alloc(16))
  const encIdentity = Buffer.concat([c.update(plain), c.final()])
  const hmacKey = kdfA(h.name, seed, 'INTEGRITY', new Uint8Array(0), new Uint8Array(0), h.size * 8)
  const integrity = createHmac(h.name, hmacKey).update(encIdentity).update(objectName).digest()
  const size = Buffer.alloc(2)
  size.writeUInt16BE(integrity.length)
  seed.fill(0)
  return { credentialBlob: Buffer.concat([size, integrity, encIdentity]), secret: encrypted }
}

/**
 * TPM2_ActivateCredential: `activateHandle` (empty auth) named in the credential, `ekHandle` the EK.
 * The EK is authorized by PolicySecret(TPM_RH_ENDORSEMENT) (TCG EK templates), or by its empty
 * password with `ekAuth: 'password'` for EKs created with userWithAuth (swtpm's P-384 EK).
 */
export async function activateCredential(
  tpm: Tpm,
  activateHandle: number,
  ekHandle: number,
  credentialBlob: Uint8Array,
  secret: Uint8Array,
  o: { ekAuth?: 'policy-secret' | 'password' } = {},
): Promise<Uint8Array> {
  const args = { activateHandle, keyHandle: ekHandle, credentialBlob, secret }
  if (o.ekAuth === 'password')
    return (
      await tpm.run(ActivateCredential, args, {
        sessions: [new PasswordSession(), new PasswordSession()],
      })
    ).certInfo
  return withSession(tpm, { type: 'policy' }, async (s) => {
    await policySecret(tpm, s, TPM_RH.ENDORSEMENT)
    const r = await tpm.run(ActivateCredential, args, { sessions: [new PasswordSession(), s] })
    return r.certInfo
  })
}
