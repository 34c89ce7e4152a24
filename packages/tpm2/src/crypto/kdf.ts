/** Key derivation functions of TPM 2.0 Library Part 1 §11.4.10 (rev 01.59). */
import { createHash, createHmac } from 'node:crypto'
import { TpmError } from '../errors.js'

export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512'

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

function labelBytes(label: string): Buffer {
  // Part 1 §11.4.10.2: the label is NUL-terminated; a terminator already present is not doubled.
  const b = Buffer.from(label, 'latin1')
  return b.length > 0 && b[b.length - 1] === 0 ? b : Buffer.concat([b, Buffer.alloc(1)])
}

function checkBits(bits: number): void {
  if (!Number.isInteger(bits) || bits <= 0 || bits > 65536)
    throw new TpmError('ERR_TPM_ARG', `KDF output of ${bits} bits is out of range`)
}

/**
 * KDFa, Part 1 §11.4.10.2: SP 800-108 counter-mode HMAC:
 * K(i) = HMAC(key, [i]32 || label || 0x00 || contextU || contextV || [bits]32).
 */
export function kdfA(
  hash: HashName,
  key: Uint8Array,
  label: string,
  contextU: Uint8Array,
  contextV: Uint8Array,
  bits: number,
): Buffer {
  checkBits(bits)
  const bytes = Math.ceil(bits / 8)
  const parts: Buffer[] = []
  let have = 0
  for (let i = 1; have < bytes; i++) {
    const h = createHmac(hash, key)
      .update(u32(i))
      .update(labelBytes(label))
      .update(contextU)
      .update(contextV)
      .update(u32(bits))
      .digest()
    parts.push(h)
    have += h.length
  }
  return maskTop(Buffer.concat(parts).subarray(0, bytes), bits)
}

/**
 * KDFe, Part 1 §11.4.10.3: SP 800-56A concatenation KDF:
 * K(i) = H([i]32 || Z || use || 0x00 || partyUInfo || partyVInfo).
 */
export function kdfE(
  hash: HashName,
  z: Uint8Array,
  use: string,
  partyUInfo: Uint8Array,
  partyVInfo: Uint8Array,
  bits: number,
): Buffer {
  checkBits(bits)
  const bytes = Math.ceil(bits / 8)
  const parts: Buffer[] = []
  let have = 0
  for (let i = 1; have < bytes; i++) {
    const h = createHash(hash)
      .update(u32(i))
      .update(z)
      .update(labelBytes(use))
      .update(partyUInfo)
      .update(partyVInfo)
      .digest()
    parts.push(h)
    have += h.length
  }
  return maskTop(Buffer.concat(parts).subarray(0, bytes), bits)
}

/** When bits is not a multiple of 8 the excess high bits of the first octet are cleared. */
function maskTop(out: Buffer, bits: number): Buffer {
  const extra = out.length * 8 - bits
  if (extra > 0 && out.length > 0) out[0] = out[0]! & (0xff >> extra)
  return out
}
