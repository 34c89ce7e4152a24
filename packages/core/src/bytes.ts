/** Hex and byte helpers shared by services (protocol cores keep their own). */
export const toHex = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')

export function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new TypeError('invalid hex string')
  return new Uint8Array(Buffer.from(s, 'hex'))
}

/** Overwrite a buffer with zeros (best effort; JS cannot guarantee no copies elsewhere). */
export const zero = (b: Uint8Array): void => void b.fill(0)
