import { randomBytes } from 'node:crypto'
import { link, open, rename, unlink, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { EnvelopeError } from '../errors.js'

export function ioError(op: string, path: string, e: unknown): EnvelopeError {
  if (e instanceof EnvelopeError) return e
  const code = (e as NodeJS.ErrnoException | undefined)?.code ?? 'error'
  return new EnvelopeError('ERR_VMFILE_IO', `cannot ${op} ${path} (${code})`, { cause: e })
}

/**
 * Crash-safe output: `fill` writes a temporary file (mode 0600) beside `out`; it is fsynced and
 * then renamed (or hard-linked, when not overwriting, so an existing file is never clobbered).
 * A failed or killed run leaves `out` as it was; the temporary file is removed on failure.
 */
export async function writeAtomically(
  out: string,
  overwrite: boolean,
  fill: (fh: FileHandle) => Promise<void>,
): Promise<void> {
  const tmp = join(dirname(out), `.${basename(out)}.ward-tmp-${randomBytes(6).toString('hex')}`)
  let fh: FileHandle
  try {
    if (!overwrite) {
      const probe = await open(out, 'r').catch(() => undefined)
      if (probe) {
        await probe.close()
        throw new EnvelopeError(
          'ERR_VMFILE_EXISTS',
          `${out} exists; pass overwrite (--force) to replace it`,
        )
      }
    }
    fh = await open(tmp, 'wx', 0o600)
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
