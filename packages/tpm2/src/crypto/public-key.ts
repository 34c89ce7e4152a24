/** TPMT_PUBLIC (RSA or ECC) → node:crypto KeyObject, for salts, credentials and quote checks. */
import { createPublicKey, type KeyObject } from 'node:crypto'
import { TPM_ALG, TPM_ECC } from '../constants.js'
import { TpmError } from '../errors.js'
import type { Infer } from '../marshal/dsl.js'
import type { TPMT_PUBLIC } from '../structures/public.js'

export type PublicArea = Infer<typeof TPMT_PUBLIC>

const curves: Readonly<Record<number, { jwk: string; node: string; size: number }>> = {
  [TPM_ECC.NIST_P256]: { jwk: 'P-256', node: 'prime256v1', size: 32 },
  [TPM_ECC.NIST_P384]: { jwk: 'P-384', node: 'secp384r1', size: 48 },
  [TPM_ECC.NIST_P521]: { jwk: 'P-521', node: 'secp521r1', size: 66 },
}

/** Curve of an ECC public area; ERR_TPM_ALG for curves node:crypto does not know. */
export function eccCurve(pub: PublicArea): { jwk: string; node: string; size: number } {
  const id = (pub.parameters as { curveID?: number }).curveID ?? -1
  const c = curves[id]
  if (c === undefined)
    throw new TpmError('ERR_TPM_ALG', `unsupported ECC curve 0x${id.toString(16)}`)
  return c
}

function pad(b: Uint8Array, n: number): Buffer {
  if (b.length > n) throw new TpmError('ERR_TPM_DECODE', 'ECC coordinate longer than the curve')
  return Buffer.concat([Buffer.alloc(n - b.length), b])
}

/** The public key of an RSA or ECC object as a KeyObject. */
export function toPublicKey(pub: PublicArea): KeyObject {
  if (pub.type === TPM_ALG.RSA) {
    const n = pub.unique as Uint8Array
    const exp = (pub.parameters as { exponent: number }).exponent || 65537
    const e = Buffer.alloc(4)
    e.writeUInt32BE(exp)
    let i = 0
    while (i < 3 && e[i] === 0) i++
    return createPublicKey({
      key: {
        kty: 'RSA',
        n: Buffer.from(n).toString('base64url'),
        e: e.subarray(i).toString('base64url'),
      },
      format: 'jwk',
    })
  }
  if (pub.type === TPM_ALG.ECC) {
    const c = eccCurve(pub)
    const u = pub.unique as { x: Uint8Array; y: Uint8Array }
    return createPublicKey({
      key: {
        kty: 'EC',
        crv: c.jwk,
        x: pad(u.x, c.size).toString('base64url'),
        y: pad(u.y, c.size).toString('base64url'),
      },
      format: 'jwk',
    })
  }
  throw new TpmError('ERR_TPM_ALG', `object type 0x${pub.type.toString(16)} has no public key`)
}

/** Uncompressed SEC1 point 04||x||y of an ECC public area. */
export function eccPoint(pub: PublicArea): Buffer {
  const c = eccCurve(pub)
  const u = pub.unique as { x: Uint8Array; y: Uint8Array }
  return Buffer.concat([Buffer.of(4), pad(u.x, c.size), pad(u.y, c.size)])
}
