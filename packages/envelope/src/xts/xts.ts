import { createCipheriv, createDecipheriv } from 'node:crypto'

/**
 * XTS-AES-256 over whole sectors (IEEE 1619, dm-crypt's aes-xts-plain64): the tweak of each
 * sector is its little-endian 64-bit sector number, zero-padded to 16 bytes.
 *
 * `key` is 64 bytes (two AES-256 keys). `data.length` must be a multiple of `sectorSize`.
 * `firstSector` is the number (in units of `sectorSize`, as plain64 counts with
 * `--sector-size 4096` and iv_large_sectors) of the first sector in `data`.
 * Transforms in place.
 *
 * Baseline implementation: one node:crypto cipher per sector. The native path (when built)
 * replaces it behind the same signature.
 */
export function xtsEncryptSectors(
  key: Uint8Array,
  data: Uint8Array,
  firstSector: number,
  sectorSize: number,
): void {
  transform(true, key, data, firstSector, sectorSize)
}

export function xtsDecryptSectors(
  key: Uint8Array,
  data: Uint8Array,
  firstSector: number,
  sectorSize: number,
): void {
  transform(false, key, data, firstSector, sectorSize)
}

function transform(
  enc: boolean,
  key: Uint8Array,
  data: Uint8Array,
  firstSector: number,
  sectorSize: number,
): void {
  if (key.length !== 64) throw new RangeError('XTS-AES-256 needs a 64-byte key')
  if (data.length % sectorSize !== 0) throw new RangeError('data is not a whole number of sectors')
  const iv = Buffer.alloc(16)
  for (let off = 0, s = firstSector; off < data.length; off += sectorSize, s++) {
    iv.writeBigUInt64LE(BigInt(s), 0)
    const c = enc
      ? createCipheriv('aes-256-xts', key, iv)
      : createDecipheriv('aes-256-xts', key, iv)
    const out = c.update(data.subarray(off, off + sectorSize))
    c.final()
    data.set(out, off)
  }
}
