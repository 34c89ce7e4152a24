import { createCipheriv, createDecipheriv } from 'node:crypto'

/**
 * The node:crypto baseline: one cipher per sector, because a node:crypto cipher cannot be
 * re-keyed with a new IV. Used when the native addon is not built, and by the tests as the
 * reference the addon must match. Arguments are already validated (check.ts).
 */
export function nodeSectors(
  enc: boolean,
  key: Uint8Array,
  data: Uint8Array,
  firstSector: number,
  sectorSize: number,
): void {
  const iv = Buffer.alloc(16)
  for (let off = 0, s = firstSector; off < data.length; off += sectorSize, s++) {
    // plain64: the sector number, little-endian, in the first 8 bytes of the tweak.
    iv.writeUInt32LE(s % 2 ** 32, 0)
    iv.writeUInt32LE(Math.floor(s / 2 ** 32), 4)
    nodeUnit(enc, key, iv, data.subarray(off, off + sectorSize))
  }
}

/** One data unit in place (ciphertext stealing when its length is not a multiple of 16). */
export function nodeUnit(enc: boolean, key: Uint8Array, tweak: Uint8Array, unit: Uint8Array): void {
  const alg = key.length === 64 ? 'aes-256-xts' : 'aes-128-xts'
  const c = enc ? createCipheriv(alg, key, tweak) : createDecipheriv(alg, key, tweak)
  const out = c.update(unit)
  c.final()
  unit.set(out)
  out.fill(0)
}
