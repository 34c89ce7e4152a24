import { constants } from 'node:fs'
import { link, lstat, open, rename, unlink, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { EnvelopeError } from '../errors.js'
import { CREATE_NEW, OWNER_ONLY, tempPathBeside } from '../fs/exclusive.js'

export function ioError(op: string, path: string, e: unknown): EnvelopeError {
  if (e instanceof EnvelopeError) return e
  const code = (e as NodeJS.ErrnoException | undefined)?.code ?? 'error'
  return new EnvelopeError('ERR_VMFILE_IO', `cannot ${op} ${path} (${code})`, { cause: e })
}

/**
 * Crash-safe output: `fill` writes a new temporary file with a random name beside `out`
 * (`.OUT.ward-tmp-<hex>`, created exclusively, mode 0600, never through a symlink); it is fsynced
 * and then renamed (or hard-linked, when not overwriting, so an existing file is never clobbered).
 * Renaming replaces the name `out`: a symlink or hard link there is replaced, never written
 * through. A failed or killed run leaves `out` as it was; the temporary file is removed on failure.
 */
export async function writeAtomically(
  out: string,
  overwrite: boolean,
  fill: (fh: FileHandle) => Promise<void>,
): Promise<void> {
  const tmp = tempPathBeside(out)
  let fh: FileHandle
  try {
    if (!overwrite) {
      // lstat: a dangling symlink is an existing name too (link() below would refuse it at the end)
      const exists = await lstat(out).then(
        () => true,
        () => false,
      )
      if (exists)
        throw new EnvelopeError(
          'ERR_VMFILE_EXISTS',
          `${out} exists; pass overwrite (--force) to replace it`,
        )
    }
    fh = await open(tmp, constants.O_WRONLY | CREATE_NEW, OWNER_ONLY)
  } catch (e) {
    throw ioError('create', out, e)
  }
  try {
    try {
      await fill(fh)
      await fh.sync()
    } finally {
      await fh.close()
    }
    try {
      if (overwrite) await rename(tmp, out)
      else {
        await link(tmp, out)
        await unlink(tmp)
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST')
        throw new EnvelopeError(
          'ERR_VMFILE_EXISTS',
          `${out} exists; pass overwrite (--force) to replace it`,
        )
      throw ioError('rename into', out, e)
    }
  } catch (e) {
    await unlink(tmp).catch(() => undefined)
    throw ioError('write', out, e)
  }
  // Persist the directory entry too (rename durability).
  const dir = await open(dirname(out), 'r').catch(() => undefined)
  if (dir)
    await dir
      .sync()
      .catch(() => undefined)
      .finally(() => dir.close())
}

/** Write all of `data` at the handle's current end. */
export async function writeAll(fh: FileHandle, data: Uint8Array, path: string): Promise<void> {
  try {
    let off = 0
    while (off < data.length) {
      const { bytesWritten } = await fh.write(data, off, data.length - off)
      off += bytesWritten
    }
  } catch (e) {
    throw ioError('write', path, e)
  }
}

/** Write several buffers in one `writev` call where possible (fewer syscalls per chunk). */
export async function writeAllv(
  fh: FileHandle,
  parts: readonly Uint8Array[],
  path: string,
): Promise<void> {
  if (parts.length === 0) return
  let total = 0
  for (const p of parts) total += p.length
  try {
    const { bytesWritten } = await fh.writev(parts as Uint8Array[])
    if (bytesWritten === total) return
    // Short write: finish the rest piece by piece from where it stopped.
    let skip = bytesWritten
    for (const p of parts) {
      if (skip >= p.length) {
        skip -= p.length
        continue
      }
      await writeAll(fh, p.subarray(skip), path)
      skip = 0
    }
  } catch (e) {
    throw ioError('write', path, e)
  }
}
