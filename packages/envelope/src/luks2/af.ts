import { createHash, randomFillSync } from 'node:crypto'

/*
 * The anti-forensic splitter of LUKS (LUKS1 spec §2.4, cryptsetup lib/luks1/af.c), bit for bit:
 * `stripes - 1` random blocks are XORed into a buffer that is diffused by hashing after each one,
 * and the last stripe is the key XOR the buffer. Losing any stripe loses the key.
 */

/** cryptsetup hash_buf: H(be32(iv) || src), truncated to `len` bytes. */
function hashBuf(src: Uint8Array, iv: number, len: number, hash: string): Buffer {
  const ivBytes = Buffer.alloc(4)
  ivBytes.writeUInt32BE(iv)
  return createHash(hash).update(ivBytes).update(src).digest().subarray(0, len)
}

/** cryptsetup diffuse(): hash every digest-sized block (and the tail) with its index as IV. */
function diffuse(buf: Uint8Array, hash: string, digestSize: number): void {
  const blocks = Math.floor(buf.length / digestSize)
  const padding = buf.length % digestSize
  let i = 0
  for (; i < blocks; i++) {
    const part = buf.subarray(digestSize * i, digestSize * (i + 1))
    part.set(hashBuf(part, i, digestSize, hash))
  }
  if (padding > 0) {
    const part = buf.subarray(digestSize * i, digestSize * i + padding)
    part.set(hashBuf(part, i, padding, hash))
  }
}

const digestSizeOf = (hash: string): number => createHash(hash).digest().length

/** AF_split: `key` → `key.length * stripes` bytes. */
export function afSplit(
  key: Uint8Array,
  stripes: number,
  hash: string,
  random: (buf: Uint8Array) => void = (b) => void randomFillSync(b),
): Uint8Array {
  const bs = key.length
  const ds = digestSizeOf(hash)
  const out = new Uint8Array(bs * stripes)
  const buf = new Uint8Array(bs)
  let i = 0
  for (; i < stripes - 1; i++) {
    const stripe = out.subarray(bs * i, bs * (i + 1))
    random(stripe)
    for (let j = 0; j < bs; j++) buf[j] = (buf[j] ?? 0) ^ (stripe[j] ?? 0)
    diffuse(buf, hash, ds)
  }
  for (let j = 0; j < bs; j++) out[bs * i + j] = (key[j] ?? 0) ^ (buf[j] ?? 0)
  buf.fill(0)
  return out
}

/** AF_merge: `blockSize * stripes` bytes → the `blockSize`-byte key. */
export function afMerge(
  material: Uint8Array,
  blockSize: number,
  stripes: number,
  hash: string,
): Uint8Array {
  const ds = digestSizeOf(hash)
  const buf = new Uint8Array(blockSize)
  let i = 0
  for (; i < stripes - 1; i++) {
    const off = blockSize * i
    for (let j = 0; j < blockSize; j++) buf[j] = (buf[j] ?? 0) ^ (material[off + j] ?? 0)
    diffuse(buf, hash, ds)
  }
  const key = new Uint8Array(blockSize)
  for (let j = 0; j < blockSize; j++) key[j] = (material[blockSize * i + j] ?? 0) ^ (buf[j] ?? 0)
  buf.fill(0)
  return key
}

/** Bytes of AF material rounded up to 512-byte sectors (cryptsetup AF_split_sectors * 512). */
export const afSplitSize = (keySize: number, stripes: number): number =>
  Math.ceil((keySize * stripes) / 512) * 512
