import { fstatSync, statfsSync } from 'node:fs'
import { xtsSectorsMappedAsync, type MappedInput } from '../xts/mapped.js'
import { MAPPED_TRANSFORMS_IN_FLIGHT, type DiskRunOptions } from './common.js'

/*
 * encrypt --out on huge-page tmpfs: XTS from the mapped input straight into a mapping of the
 * output file, no buffer and no write(). On a tmpfs whose files are backed by 2 MiB pages, the
 * writer's copy into the file (16 % of the CPU, serial: writes to one file take its lock) is
 * replaced by page allocation spread over the pool threads (each job faults its output range in
 * with MADV_POPULATE_WRITE, which also turns a full file system into ERR_XTS_OUTPUT_SPACE instead
 * of SIGBUS). It is faster there than the pipeline; on 4 KiB pages (/dev/shm) it is slower
 * (allocating 262,144 small pages through faults costs more than write() does), and on disks it
 * is unmeasured, so it is used only where it was measured to win (figures: bench/README.md,
 * "Mapped output" and "Figures from source comments").
 */

const TMPFS_MAGIC = 0x01021994
const HUGE_PAGE = 2 * 1048576

/**
 * Whether to read the input through a mapping: `o.mapInput` when given (tests), else only for a
 * file on tmpfs. Memory there cannot fail a read; on a disk or a network file system a bad sector
 * or a lost server would reach a mapped read as SIGBUS and kill the process, where read() returns
 * an error this tool reports (a recovery tool must not crash on a damaged source).
 */
export function mapInputWanted(o: DiskRunOptions, path: string): boolean {
  if (o.mapInput !== undefined) return o.mapInput
  try {
    return statfsSync(path).type === TMPFS_MAGIC
  } catch {
    return false
  }
}

/**
 * Whether to map the output: `o.mapOutput` when given (tests), else only for a file on tmpfs
 * whose block size says it is backed by huge pages (`huge=always`: st_blksize is 2 MiB).
 */
export function mapOutputWanted(o: DiskRunOptions, fd: number, path: string): boolean {
  if (o.mapOutput !== undefined) return o.mapOutput
  try {
    return fstatSync(fd).blksize >= HUGE_PAGE && statfsSync(path).type === TMPFS_MAGIC
  } catch {
    return false
  }
}

export interface MappedRun {
  readonly key: Uint8Array
  /** Bytes of data, from offset 0 of `src` to `outOffset` of `dst`. */
  readonly size: number
  readonly seg: number
  readonly outOffset: number
  readonly onProgress?: (done: number) => void
}

/**
 * Encrypts `size` bytes of `src` into `dst` at `outOffset`, `seg` bytes per step, with
 * {@link MAPPED_TRANSFORMS_IN_FLIGHT} steps at once; the first failure stops further steps and
 * is thrown once every started step has finished. Progress counts finished steps.
 */
export async function encryptMapped(
  src: MappedInput,
  dst: MappedInput,
  r: MappedRun,
): Promise<void> {
  let next = 0
  let done = 0
  let failed = false
  const worker = async (): Promise<void> => {
    while (!failed && next < r.size) {
      const pos = next
      next += r.seg
      const len = Math.min(r.seg, r.size - pos)
      try {
        await xtsSectorsMappedAsync(
          true,
          r.key,
          src,
          pos,
          dst,
          r.outOffset + pos,
          len,
          pos / 4096,
          4096,
        )
      } catch (e) {
        failed = true
        throw e
      }
      done += len
      r.onProgress?.(done)
    }
  }
  const results = await Promise.allSettled(
    Array.from({ length: MAPPED_TRANSFORMS_IN_FLIGHT }, worker),
  )
  const bad = results.find((x) => x.status === 'rejected')
  if (bad) throw (bad as PromiseRejectedResult).reason
}
