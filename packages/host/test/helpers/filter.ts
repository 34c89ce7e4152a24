import { randomBytes } from 'node:crypto'
import { closeSync, openSync, ftruncateSync } from 'node:fs'
import { join } from 'node:path'
import { encryptDisk, unlockDiskKey } from '@ward/envelope'

/** A fresh LUKS2 disk made by @ward/envelope (from a sparse raw file of `size` zero bytes). */
export async function makeEncryptedDisk(
  dir: string,
  size: number,
  name = 'disk.luks',
): Promise<{ path: string; kek: Buffer; dek: Uint8Array }> {
  const raw = join(dir, `${name}.raw`)
  const fd = openSync(raw, 'wx', 0o600)
  ftruncateSync(fd, size)
  closeSync(fd)
  const path = join(dir, name)
  const kek = randomBytes(32)
  await encryptDisk(raw, path, { kek, providerId: 'test-provider', kekId: 'test-kek' })
  const dek = await unlockDiskKey(path, { kek })
  return { path, kek, dek }
}

/** `length` bytes of a recognisable pattern: `marker` and a running counter, repeated. */
export function pattern(length: number, marker: string): Buffer {
  const out = Buffer.alloc(length)
  let at = 0
  for (let i = 0; at < length; i++)
    at += out.write(`${marker} ${String(i).padStart(10, '0')}\n`, at)
  return out
}
