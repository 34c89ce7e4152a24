import { open, type FileHandle } from 'node:fs/promises'
import { ioError, writeAll, writeAllv, writeAtomically } from './io.js'
import { openVmFile, type VmFileOpenOptions } from './reader.js'
import { VmFileSealer, type VmFileSealOptions } from './sealer.js'

export interface VmFileFileOptions {
  /** Replace an existing output file (atomically, only once the new one is complete). */
  readonly overwrite?: boolean
  /** Called with (bytes done, total bytes) as the work advances. */
  readonly onProgress?: (done: number, total: number) => void
}

/**
 * Encrypt the file `inPath` into a new VM file `outPath`, streaming with bounded memory.
 * The output appears only when complete (temp file + fsync + rename); `inPath === outPath` with
 * `overwrite` encrypts in place safely.
 */
export async function encryptVmFile(
  inPath: string,
  outPath: string,
  kek: Uint8Array,
  options: VmFileSealOptions & VmFileFileOptions,
): Promise<void> {
  const sealer = new VmFileSealer(options, kek)
  let input: FileHandle
  try {
    input = await open(inPath, 'r')
  } catch (e) {
    sealer.dispose()
    throw ioError('open', inPath, e)
  }
  try {
    const total = (await input.stat()).size
    await writeAtomically(outPath, options.overwrite === true, async (out) => {
      await writeAll(out, sealer.header, outPath)
      // Two buffers: the next read runs while the current block is sealed and written.
      const size = Math.max(sealer.chunkSize, 4 << 20)
      const bufs = [new Uint8Array(size), new Uint8Array(size)] as const
      const read = (buf: Uint8Array): Promise<number> =>
        input.read(buf, 0, buf.length, null).then(
          (r) => r.bytesRead,
          (e: unknown) => {
            throw ioError('read', inPath, e)
          },
        )
      let done = 0
      let turn = 0
      let pending = read(bufs[0])
      for (;;) {
        const n = await pending
        if (n === 0) break
        const cur = bufs[turn]!
        turn ^= 1
        pending = read(bufs[turn]!)
        pending.catch(() => undefined) // awaited next turn; avoid an unhandled rejection meanwhile
        await writeAllv(out, sealer.update(cur.subarray(0, n)), outPath)
        done += n
        options.onProgress?.(done, total)
      }
      for (const b of bufs) b.fill(0)
      await writeAll(out, sealer.final(), outPath)
    })
  } finally {
    sealer.dispose()
    await input.close()
  }
}

/**
 * Decrypt the VM file `inPath` into `outPath` (mode 0600). Every chunk is authenticated before the
 * output is renamed into place, so a damaged or foreign file never yields partial plaintext there.
 */
export async function decryptVmFile(
  inPath: string,
  outPath: string,
  kek: Uint8Array,
  options: VmFileOpenOptions & VmFileFileOptions,
): Promise<void> {
  const reader = await openVmFile(inPath, kek, options)
  try {
    const { chunkCount } = reader.geometry
    await writeAtomically(outPath, options.overwrite === true, async (out) => {
      let done = 0
      // Batches of chunks (about 4 MiB) per read and per write keep syscalls off the hot path;
      // the next batch is read and authenticated while the current one is written.
      const batch = Math.max(1, Math.floor((4 << 20) / reader.header.chunkSize))
      const fetch = (i: number): Promise<Uint8Array[]> | undefined => {
        if (i >= chunkCount) return undefined
        const p = reader.readChunks(i, Math.min(batch, chunkCount - i))
        p.catch(() => undefined) // awaited in its turn; avoid an unhandled rejection meanwhile
        return p
      }
      let next = fetch(0)
      for (let i = 0; next; i += batch) {
        const chunks = await next
        next = fetch(i + batch)
        await writeAllv(out, chunks, outPath)
        for (const c of chunks) {
          done += c.length
          c.fill(0)
        }
        options.onProgress?.(done, reader.size)
      }
    })
  } finally {
    await reader.close()
  }
}
