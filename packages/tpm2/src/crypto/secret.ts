/**
 * Secret sharing with a TPM key, Part 1 Annex B.10.3 (RSA: OAEP with a label) and C.6.4 (ECC: ECDH +
 * KDFe): used for session salts ("SECRET") and credential seeds ("IDENTITY").
 */
import { constants, createECDH, publicEncrypt, randomBytes } from 'node:crypto'
import { TPM_ALG } from '../constants.js'
import { TpmError } from '../errors.js'
import { encode } from '../marshal/codec.js'
import { TPMS_ECC_POINT } from '../structures/basic.js'
import { hashInfo } from './hash.js'
import { kdfE } from './kdf.js'
import { eccCurve, eccPoint, toPublicKey, type PublicArea } from './public-key.js'

/**
 * Make a fresh seed of the key's nameAlg size and encrypt it to `pub` under `label`.
 * `random` is injectable for vector tests.
 */
export function encryptSeed(
  pub: PublicArea,
  label: 'SECRET' | 'IDENTITY' | 'DUPLICATE',
  random: (n: number) => Uint8Array = randomBytes,
): { seed: Buffer; encrypted: Uint8Array } {
  const h = hashInfo(pub.nameAlg)
  if (pub.type === TPM_ALG.RSA) {
    const seed = Buffer.from(random(h.size))
    const encrypted = publicEncrypt(
      {
        key: toPublicKey(pub),
        padding: constants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: h.name,
        oaepLabel: Buffer.from(`${label}\0`, 'latin1'),
      },
      seed,
    )
    return { seed, encrypted }
  }
  if (pub.type === TPM_ALG.ECC) {
    const c = eccCurve(pub)
    const ecdh = createECDH(c.node)
    const priv = random(c.size)
    ecdh.setPrivateKey(Buffer.from(priv))
    const z = ecdh.computeSecret(eccPoint(pub)) // x coordinate of d·Q
    const ephemeral = ecdh.getPublicKey()
    const ex = ephemeral.subarray(1, 1 + c.size)
    const ey = ephemeral.subarray(1 + c.size)
    const tpmX = eccPoint(pub).subarray(1, 1 + c.size)
    const seed = kdfE(h.name, z, label, ex, tpmX, h.size * 8)
    return { seed, encrypted: encode(TPMS_ECC_POINT, { x: ex, y: ey }) }
  }
  throw new TpmError('ERR_TPM_ALG', 'salts and credentials need an RSA or ECC key')
}
